/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A QMP client: commands with replies, events kept until asked for. */
#ifndef VOFIRM_QMP_H
#define VOFIRM_QMP_H

#include "vofirm/json.h"

struct qmp;

/* Connects, reads the greeting, negotiates capabilities.  0 or -errno (logged). */
int qmp_open(const char *path, unsigned timeout_ms, struct qmp **out);
void qmp_close(struct qmp *q);

/*
 * Runs a command; args is a JSON object text or NULL.  0 with *ret (the
 * "return" value; json_free it) or -EIO with *err set to QEMU's
 * description (g_free it), or -errno for a broken connection.
 */
int qmp_cmd(struct qmp *q, const char *cmd, const char *args, struct jv **ret, char **err);

/* Waits for an event `name` whose data.device (if dev) is dev.
 * 0, or -ETIMEDOUT. */
int qmp_wait_event(struct qmp *q, const char *name, const char *dev, unsigned timeout_ms);

#endif
