// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirmctl migrate: live migration that leaves the remote memory where
 * it is (docs/qemu.md, "Live migration").
 *
 *   1  every memory device of the source VM whose backend is a file on the
 *      source mount is exported (src/fs/handoff.c) and imported on the
 *      destination mount: the destination's file is backed by the same
 *      slabs, and both mounts reach them until the commit;
 *   2  the destination QEMU (started with -incoming defer) gets the same
 *      backends (same ids, share=on) and devices (same addresses);
 *   3  x-ignore-shared (the shared RAM blocks are not sent),
 *      pause-before-switchover and return-path on both sides, then the
 *      migration; while it runs the DIMM files are flushed now and then, so
 *      that little is left for the pause;
 *   4  at the pause (the source's vCPUs stopped) every DIMM file is flushed
 *      (fsync: every dirty page reaches the servers) and the destination's
 *      files get the source's final written-page bits; then the switchover;
 *   5  completed: the source QEMU quits, the handoffs are committed (the
 *      source files disappear without freeing anything), the destination
 *      runs.  Any failure before the switchover: the migration is
 *      cancelled, the imports and exports aborted, and the source VM runs on
 *      with all its memory.
 *
 * --no-flush skips step 4's flush: the negative control of the tests (the
 * destination then reads stale memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

#define XATTR_EXPORT "user.vofirm.export"
#define XATTR_IMPORT "user.vofirm.import"
#define HANDOFF_MAX 65536
#define MAX_DEVS 32
#define FLUSH_EVERY_MS 200

struct mdev {
	char id[128], memdev_id[128], rel[PATH_MAX];
	char src_file[PATH_MAX], dst_file[PATH_MAX];
	bool vmem;
	uint64_t size, addr, requested, block_size;
	int64_t node;
	bool exported, imported;
};

static struct mdev devs[MAX_DEVS];
static unsigned ndevs;

static uint64_t now_ms(void)
{
	return vf_now_ms();
}

/* The file of a memory backend, relative to mount, or NULL when elsewhere. */
static const char *under(const char *mount, const char *file, char *rel, size_t len)
{
	char m[PATH_MAX], f[PATH_MAX];
	size_t n;

	if (!realpath(mount, m) || !realpath(file, f))
		return NULL;
	n = strlen(m);
	if (strncmp(f, m, n) || f[n] != '/')
		return NULL;
	snprintf(rel, len, "%s", f + n + 1);
	return rel;
}

/* The source's memory devices on the source mount; 0 or -errno (logged). */
static int find_devices(struct qmp *q)
{
	JsonNode *all = NULL;
	JsonArray *arr = memory_devices(q, &all);
	int ret = 0;

	if (!arr)
		return -EIO;
	for (guint i = 0; i < json_array_get_length(arr) && !ret; i++) {
		JsonNode *dev = json_array_get_element(arr, i);
		const char *type = jv_str(jv_get(dev, "type"));
		JsonNode *d = jv_get(dev, "data");
		const char *memdev = jv_str(jv_get(d, "memdev"));
		const char *id = jv_str(jv_get(d, "id"));
		struct mdev *m = &devs[ndevs];
		char *file;

		if (!type || !memdev || !id)
			continue;
		if (strcmp(type, "dimm") && strcmp(type, "virtio-mem")) {
			vf_err("memory device %s is a %s: vofirmctl migrate moves pc-dimm and "
			       "virtio-mem devices only",
			       id, type);
			ret = -ENOTSUP;
			break;
		}
		file = qom_get_str(q, memdev, "mem-path");
		if (!file || !under(o.mount, file, m->rel, sizeof(m->rel))) {
			vf_err("memory device %s: its backend %s is not a file on %s: it cannot be "
			       "left where it is (migrate it with QEMU alone)",
			       id, memdev, o.mount);
			g_free(file);
			ret = -ENOTSUP;
			break;
		}
		if (ndevs == MAX_DEVS) {
			g_free(file);
			vf_err("more than %d memory devices", MAX_DEVS);
			ret = -E2BIG;
			break;
		}
		snprintf(m->src_file, sizeof(m->src_file), "%s", file);
		g_free(file);
		/* QEMU opens it from its own working directory: absolute */
		if (!realpath(o.to_mount, m->dst_file)) {
			vf_err("--to-mount %s: %s", o.to_mount, strerror(errno));
			ret = -errno;
			break;
		}
		g_strlcat(m->dst_file, "/", sizeof(m->dst_file));
		g_strlcat(m->dst_file, m->rel, sizeof(m->dst_file));
		snprintf(m->id, sizeof(m->id), "%s", id);
		snprintf(m->memdev_id, sizeof(m->memdev_id), "%s",
			 strrchr(memdev, '/') ? strrchr(memdev, '/') + 1 : memdev);
		m->vmem = !strcmp(type, "virtio-mem");
		ret = answer_size(d, id, "size", false, &m->size) ||
		      answer_size(d, id, m->vmem ? "memaddr" : "addr", false, &m->addr);
		if (!ret && m->vmem)
			ret = answer_size(d, id, "requested-size", false, &m->requested) ||
			      answer_size(d, id, "block-size", false, &m->block_size) ||
			      qom_get_size(q, memdev, "size", &m->size);
		m->node = jv_get(d, "node") ? json_node_get_int(jv_get(d, "node")) : 0;
		if (ret)
			ret = -EPROTO;
		else
			ndevs++;
	}
	json_node_unref(all);
	return ret;
}

static int fsync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int flush_all(void)
{
	for (unsigned i = 0; i < ndevs; i++) {
		int ret = fsync_file(devs[i].src_file);

		if (ret) {
			vf_err("cannot flush %s: %s", devs[i].src_file, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* The bytes the source mount wrote back for the DIMM files so far. */
static uint64_t written_back(void)
{
	JsonNode *st = read_stats(o.mount, NULL);
	JsonArray *files;
	uint64_t sum = 0;

	if (!st)
		return 0;
	files = jv_array(jv_get(st, "files"));
	for (guint i = 0; files && i < json_array_get_length(files); i++) {
		JsonNode *f = json_array_get_element(files, i);
		const char *path = jv_str(jv_get(f, "path"));
		uint64_t v = 0;

		for (unsigned k = 0; path && k < ndevs; k++)
			if (!strcmp(path + (path[0] == '/'), devs[k].rel) &&
			    !answer_size(f, "stats", "bytes_written", true, &v))
				sum += v;
	}
	json_node_unref(st);
	return sum;
}

static char *get_handoff(const char *file)
{
	char *buf = g_malloc(HANDOFF_MAX + 1);
	ssize_t n = getxattr(file, XATTR_EXPORT, buf, HANDOFF_MAX);

	if (n < 0) {
		vf_err("cannot read the handoff of %s: %s (see vofirm-fs's log)", file,
		       strerror(errno));
		g_free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static int set_attr(const char *file, const char *name, const char *v, size_t len, const char *what)
{
	if (setxattr(file, name, v, len, 0) < 0) {
		int err = errno;

		vf_err("%s %s: %s (see vofirm-fs's log)", what, file, strerror(err));
		return -err;
	}
	return 0;
}

static int export_import(void)
{
	char ctl[PATH_MAX];

	snprintf(ctl, sizeof(ctl), "%s/.vofirm", o.to_mount);
	for (unsigned i = 0; i < ndevs; i++) {
		struct mdev *m = &devs[i];
		char *h, *v, *slash;
		int ret;

		progress("exporting %s (%s, %s)", m->src_file, m->id, fmt_size(m->size));
		ret = set_attr(m->src_file, XATTR_EXPORT, "", 0, "cannot export");
		if (ret)
			return ret;
		m->exported = true;
		h = get_handoff(m->src_file);
		if (!h)
			return -EIO;
		/* the same directories on the destination */
		for (slash = strchr(m->rel, '/'); slash; slash = strchr(slash + 1, '/')) {
			char dir[PATH_MAX];

			snprintf(dir, sizeof(dir), "%s/%.*s", o.to_mount, (int)(slash - m->rel),
				 m->rel);
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				vf_err("cannot make %s: %s", dir, strerror(errno));
				g_free(h);
				return -errno;
			}
		}
		progress("importing it as %s", m->dst_file);
		v = g_strconcat(m->rel, "\n", h, NULL);
		g_free(h);
		ret = set_attr(ctl, XATTR_IMPORT, v, strlen(v), "cannot import into");
		g_free(v);
		if (ret)
			return ret;
		m->imported = true;
	}
	return 0;
}

/* The final written-page bits of every file, to the destination. */
static int update_all(void)
{
	for (unsigned i = 0; i < ndevs; i++) {
		char *h = get_handoff(devs[i].src_file), *v;
		int ret;

		if (!h)
			return -EIO;
		v = g_strconcat("update\n", h, NULL);
		g_free(h);
		ret = set_attr(devs[i].dst_file, XATTR_IMPORT, v, strlen(v),
			       "cannot update the import");
		g_free(v);
		if (ret)
			return ret;
	}
	return 0;
}

static void abort_all(void)
{
	for (unsigned i = 0; i < ndevs; i++) {
		struct mdev *m = &devs[i];

		if (m->imported && set_attr(m->dst_file, XATTR_IMPORT, "abort", 5,
					    "cannot abort the import of") == 0)
			progress("import of %s aborted", m->dst_file);
		if (m->exported && set_attr(m->src_file, XATTR_EXPORT, "abort", 5,
					    "cannot abort the export of") == 0)
			progress("export of %s aborted: it stays the source's", m->src_file);
	}
}

static int setup_dest(struct qmp *dq)
{
	for (unsigned i = 0; i < ndevs; i++) {
		struct mdev *m = &devs[i];
		JsonObject *a = json_object_new();
		int ret;

		json_object_set_string_member(a, "qom-type", "memory-backend-file");
		json_object_set_string_member(a, "id", m->memdev_id);
		json_object_set_string_member(a, "mem-path", m->dst_file);
		json_object_set_int_member(a, "size", (gint64)m->size);
		json_object_set_boolean_member(a, "share", TRUE);
		ret = cmd(dq, "object-add", a, NULL, "the destination's memory backend");
		if (ret)
			return ret;
		a = json_object_new();
		json_object_set_string_member(a, "driver", m->vmem ? "virtio-mem-pci" : "pc-dimm");
		json_object_set_string_member(a, "id", m->id);
		json_object_set_string_member(a, "memdev", m->memdev_id);
		json_object_set_int_member(a, "node", m->node);
		json_object_set_int_member(a, m->vmem ? "memaddr" : "addr", (gint64)m->addr);
		if (m->vmem) {
			json_object_set_int_member(a, "requested-size", (gint64)m->requested);
			json_object_set_int_member(a, "block-size", (gint64)m->block_size);
		}
		progress("destination: %s %s at %#" PRIx64, m->vmem ? "virtio-mem-pci" : "pc-dimm",
			 m->id, m->addr);
		ret = cmd(dq, "device_add", a, NULL, "the destination's memory device");
		if (ret)
			return ret;
	}
	return 0;
}

static int set_caps(struct qmp *q, bool source, const char *what)
{
	static const char *const caps[] = { "x-ignore-shared", "return-path",
					    "pause-before-switchover" };
	JsonObject *a = json_object_new();
	JsonArray *arr = json_array_new();
	int ret;

	for (unsigned i = 0; i < (source ? 3u : 2u); i++) {
		JsonObject *c = json_object_new();

		json_object_set_string_member(c, "capability", caps[i]);
		json_object_set_boolean_member(c, "state", TRUE);
		json_array_add_object_element(arr, c);
	}
	json_object_set_array_member(a, "capabilities", arr);
	ret = cmd(q, "migrate-set-capabilities", a, NULL, what);
	if (ret || !source)
		return ret;
	a = json_object_new();
	json_object_set_int_member(a, "max-bandwidth", (gint64)o.bandwidth);
	json_object_set_int_member(a, "downtime-limit", (gint64)o.downtime_ms);
	return cmd(q, "migrate-set-parameters", a, NULL, what);
}

/* query-migrate: its status (g_free) and answer (json_node_unref). */
static char *mig_status(struct qmp *q, JsonNode **ans)
{
	JsonNode *r = NULL;
	char *st;

	if (cmd(q, "query-migrate", NULL, &r, "query-migrate"))
		return NULL;
	st = g_strdup(jv_str(jv_get(r, "status")) ? jv_str(jv_get(r, "status")) : "none");
	if (ans)
		*ans = r;
	else
		json_node_unref(r);
	return st;
}

static uint64_t num(JsonNode *r, const char *a, const char *b)
{
	JsonNode *n = jv_get(r, a);

	if (n && b)
		n = jv_get(n, b);
	return n && JSON_NODE_HOLDS_VALUE(n) ? (uint64_t)json_node_get_int(n) : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&t, NULL);
}

/* The source runs again after a failure (QEMU resumes it itself, mostly). */
static void source_runs(struct qmp *sq)
{
	JsonNode *r = NULL;

	if (cmd(sq, "query-status", NULL, &r, "query-status"))
		return;
	if (!jv_get(r, "running") || !json_node_get_boolean(jv_get(r, "running"))) {
		if (!cmd(sq, "cont", NULL, NULL, "resuming the source"))
			progress("the source VM runs again");
	}
	json_node_unref(r);
}

int do_migrate(void)
{
	struct qmp *sq = NULL, *dq = NULL;
	char uri[PATH_MAX + 8], *st = NULL;
	uint64_t t0 = now_ms(), last_flush = 0, last_note = 0, wb0, wb_last, wb_pause, wb_end;
	uint64_t pause_ms = 0, flush_ms = 0;
	JsonNode *fin = NULL;
	bool started = false, switched = false;
	int ret;

	if (o.uri)
		snprintf(uri, sizeof(uri), "%s", o.uri);
	else {
		/* beside the destination's QMP socket (not on the mount: no sockets there) */
		char *dir = g_path_get_dirname(o.to_qmp);

		snprintf(uri, sizeof(uri), "unix:%s/vofirm-migrate-%d.sock", dir, (int)getpid());
		g_free(dir);
	}
	ret = qmp_open(o.qmp, (unsigned)o.timeout_ms, &sq);
	if (!ret)
		ret = qmp_open(o.to_qmp, (unsigned)o.timeout_ms, &dq);
	if (ret)
		goto out;
	ret = find_devices(sq);
	if (ret)
		goto out;
	progress("%u memory device%s on %s to leave where they are", ndevs, ndevs == 1 ? "" : "s",
		 o.mount);
	wb0 = wb_last = written_back();
	ret = export_import();
	if (!ret)
		ret = setup_dest(dq);
	if (!ret)
		ret = set_caps(dq, false, "the destination's migration capabilities");
	if (!ret)
		ret = set_caps(sq, true, "the source's migration capabilities");
	if (ret)
		goto fail;
	{
		JsonObject *a = json_object_new();

		json_object_set_string_member(a, "uri", uri);
		ret = cmd(dq, "migrate-incoming", a, NULL, "the destination");
		if (ret)
			goto fail;
		a = json_object_new();
		json_object_set_string_member(a, "uri", uri);
		progress("migrating to %s", uri);
		ret = cmd(sq, "migrate", a, NULL, "the migration");
		if (ret)
			goto fail;
		started = true;
	}
	/* active: wait for the pause, flushing now and then */
	for (;;) {
		JsonNode *r = NULL;
		uint64_t now;

		g_free(st);
		st = mig_status(sq, &r);
		if (!st) {
			ret = -EIO;
			goto fail;
		}
		now = now_ms();
		if (!strcmp(st, "pre-switchover")) {
			json_node_unref(r);
			break;
		}
		if (!strcmp(st, "failed") || !strcmp(st, "cancelled") || !strcmp(st, "completed")) {
			vf_err("the migration %s before the switchover: %s", st,
			       jv_str(jv_get(r, "error-desc")) ? jv_str(jv_get(r, "error-desc"))
							       : "QEMU said no more");
			json_node_unref(r);
			ret = -EIO;
			goto fail;
		}
		if (now - last_note >= 1000) {
			progress("%s: %s sent, %s left, dirty rate %" PRIu64 " pages/s", st,
				 fmt_mib(num(r, "ram", "transferred")),
				 fmt_mib(num(r, "ram", "remaining")),
				 num(r, "ram", "dirty-pages-rate"));
			last_note = now;
		}
		json_node_unref(r);
		if (!o.no_flush && now - last_flush >= FLUSH_EVERY_MS) {
			ret = flush_all();
			if (ret)
				goto fail;
			wb_last = written_back();
			last_flush = now_ms();
		}
		if (now - t0 > o.timeout_ms + 600000) {
			vf_err("the migration did not reach its switchover in time");
			ret = -ETIMEDOUT;
			goto fail;
		}
		sleep_ms(2);
	}
	/* the pause: the source's vCPUs are stopped */
	pause_ms = now_ms();
	if (!o.no_flush) {
		ret = flush_all();
		if (ret)
			goto fail;
	}
	flush_ms = now_ms() - pause_ms;
	ret = update_all();
	if (ret)
		goto fail;
	{
		JsonObject *a = json_object_new();

		json_object_set_string_member(a, "state", "pre-switchover");
		ret = cmd(sq, "migrate-continue", a, NULL, "the switchover");
		if (ret)
			goto fail;
	}
	pause_ms = now_ms() - pause_ms;
	switched = true;
	wb_pause = written_back();
	for (;;) {
		JsonNode *r = NULL;

		g_free(st);
		st = mig_status(sq, &r);
		if (!st) {
			ret = -EIO;
			goto fail;
		}
		if (!strcmp(st, "completed") && num(r, "total-time", NULL)) {
			fin = r;
			break;
		}
		if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
			vf_err("the migration %s at the switchover: %s", st,
			       jv_str(jv_get(r, "error-desc")) ? jv_str(jv_get(r, "error-desc"))
							       : "QEMU said no more");
			json_node_unref(r);
			ret = -EIO;
			goto fail;
		}
		json_node_unref(r);
		sleep_ms(2);
	}
	wb_end = written_back();
	/* the destination owns it all now */
	for (;;) {
		JsonNode *r = NULL;

		g_free(st);
		st = mig_status(dq, &r);
		json_node_unref(r);
		if (!st || !strcmp(st, "completed") || !strcmp(st, "failed"))
			break;
		sleep_ms(5);
	}
	if (!o.no_flush) /* the negative control keeps it, its dirty pages unwritten */
		cmd(sq, "quit", NULL, NULL, "quitting the source");
	for (unsigned i = 0; i < ndevs; i++) {
		if (set_attr(devs[i].src_file, XATTR_EXPORT, "commit", 6, "cannot commit") ||
		    set_attr(devs[i].dst_file, XATTR_IMPORT, "commit", 6, "cannot commit")) {
			vf_err("the VM runs on the destination, but %s is not committed: run "
			       "setfattr -n %s -v commit %s, then -n %s on %s",
			       devs[i].id, XATTR_EXPORT, devs[i].src_file, XATTR_IMPORT,
			       devs[i].dst_file);
			ret = -EIO;
		}
	}
	{
		JsonNode *r = NULL;

		if (!cmd(dq, "query-status", NULL, &r, "query-status") &&
		    (!jv_get(r, "running") || !json_node_get_boolean(jv_get(r, "running"))) &&
		    !o.keep_paused)
			cmd(dq, "cont", NULL, NULL, "resuming the destination");
		json_node_unref(r);
	}
	{
		uint64_t total = num(fin, "total-time", NULL), down = num(fin, "downtime", NULL);
		uint64_t sent = num(fin, "ram", "transferred"), flushed = wb_end - wb0;

		if (o.json)
			printf("{\"total_ms\": %" PRIu64 ", \"downtime_ms\": %" PRIu64
			       ", \"bytes_sent\": %" PRIu64 ", \"bytes_flushed\": %" PRIu64
			       ", \"pause_flushed\": %" PRIu64 ", \"pause_ms\": %" PRIu64
			       ", \"flush_ms\": %" PRIu64 ", \"devices\": %u, \"flushed\": %s}\n",
			       total, down, sent, flushed, wb_pause - wb_last, pause_ms, flush_ms,
			       ndevs, o.no_flush ? "false" : "true");
		else
			printf("migrated in %" PRIu64 " ms, downtime %" PRIu64 " ms (pause %" PRIu64
			       " ms, of it flush %" PRIu64 " ms); sent %s, "
			       "flushed %s (%s at the pause); %u device%s left where %s\n",
			       total, down, pause_ms, flush_ms, fmt_mib(sent), fmt_mib(flushed),
			       fmt_mib(wb_pause - wb_last), ndevs, ndevs == 1 ? "" : "s",
			       ndevs == 1 ? "it is" : "they are");
	}
	json_node_unref(fin);
	goto out;

fail:
	if (switched) {
		vf_err("the switchover failed: check both VMs (the handoffs are left pending)");
		goto out;
	}
	if (started) {
		cmd(sq, "migrate_cancel", NULL, NULL, "cancelling the migration");
		for (int i = 0; i < 500; i++) {
			g_free(st);
			st = mig_status(sq, NULL);
			if (!st || strcmp(st, "cancelling"))
				break;
			sleep_ms(10);
		}
	}
	abort_all();
	source_runs(sq);
	vf_err("migration failed: the source VM keeps all its memory");
	if (!ret)
		ret = -EIO;
out:
	g_free(st);
	qmp_close(sq);
	qmp_close(dq);
	return ret;
}
