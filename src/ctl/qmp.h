/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A QMP client: commands with replies, and the one event watched kept until asked for. */
#ifndef VOFIRM_QMP_H
#define VOFIRM_QMP_H

#include "jv.h"

struct qmp;

/* Connects, reads the greeting, negotiates capabilities.  0 or -errno (logged). */
int qmp_open(const char *path, unsigned timeout_ms, struct qmp **out);
void qmp_close(struct qmp *q);

/*
 * Runs a command with args (an object, or NULL; qmp_cmd unrefs it).  0 with
 * *ret, if ret, set to the "return" value (json_node_unref it); -EIO with
 * *err, if err, set to QEMU's description (g_free it); or -errno, logged,
 * for a message that cannot be sent or a reply that does not come.
 */
int qmp_cmd(struct qmp *q, const char *cmd, JsonObject *args, JsonNode **ret, char **err);

/*
 * Keeps events `name` whose data.device (if dev) is dev from now on, for
 * qmp_wait_event (up to 1000 of them: more fails the read); every other
 * event is dropped as it comes.  Call it before the command that causes the
 * event: QEMU may send the event before that command's reply.
 */
void qmp_watch(struct qmp *q, const char *name, const char *dev);

/* Waits for the watched event.  0, -ETIMEDOUT, or -errno (logged). */
int qmp_wait_event(struct qmp *q, unsigned timeout_ms);

/*
 * The line that runs cmd with args (NULL: none) as command `id`, newline
 * included (g_free it); NULL if a string in it is not UTF-8.
 */
char *qmp_message(const char *cmd, JsonObject *args, const char *id);

#endif
