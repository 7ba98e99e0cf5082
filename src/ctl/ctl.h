/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vofirmctl's shared ground: its command line, and the helpers every
 * command uses (src/ctl/main.c).  A command that grows large lives in a
 * file of its own in src/ctl/ (the Makefile links every .c file there into
 * vofirmctl) and includes this.
 */
#ifndef VOFIRM_CTL_H
#define VOFIRM_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "qmp.h"

/* vofirm-fs's extended attributes (src/fs/fs.h) */
#define XATTR_REPLICAS "user.vofirm.replicas"
#define XATTR_DRAIN "user.vofirm.drain"
#define MAX_REPLICAS 3

/* The command line (main.c fills it in). */
struct ctl_opts {
	const char *qmp, *mount, *id, *model, *vm, *server, *domain, *connect;
	uint64_t size, block_size, timeout_ms, limit;
	bool size_set, timeout_set, json, keep_file;
	unsigned replicas; /* 0: what the VM's directory asks for */
	long pid;
	/* migrate (migrate.c) */
	const char *to_qmp, *to_mount, *uri;
	const char *bundle, *update, *at_pause; /* the two-host split */
	uint64_t bandwidth, downtime_ms;
	bool no_flush, keep_paused, abort;
	bool json_done; /* --json: the command's object is out (json_print) */
};
extern struct ctl_opts o;

/*
 * --json: a command's one object on stdout.  ret is its outcome: when it
 * failed (not 0) and js has no "error", "error" is the first error logged
 * (what failed and why) and "errors" every one, in order.  js is unref'd.
 * A command that fails before printing one gets {"command", "error",
 * "errors"} from main().
 */
void json_print(JsonObject *js, int ret);

/* "vofirmctl: ..." on stderr: what is being done, step by step */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A long wait's state (progress.c): redrawn in place on a terminal, a plain
 * line every few seconds otherwise; progress_done() ends it. */
void progress_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress_done(void);
/* Sizes for messages ("512M"; "512 MiB", "0.1 MiB"), "N copies"; each from
 * a ring of 4 static buffers: at most 4 per message. */
char *fmt_size(uint64_t b);
char *fmt_mib(uint64_t b);
const char *copies(uint64_t n);

/* The mount's .vofirm/stats.json, parsed (json_node_unref it), its text in
 * *text if text (g_free it); NULL: failed (logged). */
JsonNode *read_stats(const char *mount, char **text);
/* A boolean member of a stats row; false when absent. 0 or -EPROTO (logged). */
int stat_bool(const char *file, JsonNode *row, const char *what, const char *key, bool *b);
/* The copy count of a file or directory of a mount (its xattr); 0 if none. */
unsigned xattr_replicas(const char *path);
/* 0 if id is an id as QEMU's; else 2, with "option 'id': why" logged. */
int check_id(const char *option, const char *id);

/* QMP command c (args consumed), answer in *ret if ret; a refusal logged
 * as "what: QEMU refused c: its error".  0 or -errno. */
int cmd(struct qmp *q, const char *c, JsonObject *args, JsonNode **ret, const char *what);
JsonObject *qom_args(const char *path, const char *prop);
JsonObject *id_args(const char *id);
/* Member key of QEMU's answer r as a size or count (optional: 0 if absent). */
int answer_size(JsonNode *r, const char *what, const char *key, bool optional, uint64_t *v);
int qom_get_size(struct qmp *q, const char *path, const char *prop, uint64_t *v);
/* A string property of a QOM object (g_free it); NULL if it has none. */
char *qom_get_str(struct qmp *q, const char *path, const char *prop);
int qom_set_size(struct qmp *q, const char *path, const char *prop, uint64_t v, const char *what);
/* QEMU's memory devices, in *all (json_node_unref it); NULL: failed (logged). */
JsonArray *memory_devices(struct qmp *q, JsonNode **all);
/* The memory device `id` among devs, or NULL. */
JsonNode *find_device(JsonArray *devs, const char *id);
/* virtio-mem `id`: wait (o.timeout_ms) until its size is want; *got: last seen. */
int wait_vmem_size(struct qmp *q, const char *id, uint64_t want, uint64_t *got);
/* The VM's name (query-name; g_free it), or NULL. */
char *vm_name(struct qmp *q);
/* object-del of a memory backend (its QOM path), and its file removed when
 * it is on vofirm (unless --keep-file); 0 or -errno (logged). */
int drop_backend(struct qmp *q, const char *memdev_path);

/* libvirt.c: grow, shrink and budget of a libvirt domain (o.domain) through
 * virsh (-c o.connect).  0 or -errno (logged). */
int lv_grow(void);
int lv_shrink(void);
int lv_budget(void);
/* migrate.c: vofirmctl migrate (both sides here), migrate-export and
 * migrate-import (the two-host split), migrate --handoff (its source
 * side); 0 or -errno (logged) */
int do_migrate(void);
int do_migrate_export(void);
int do_migrate_export_abort(void);
int do_migrate_import(void);
int do_migrate_source(void);

#endif
