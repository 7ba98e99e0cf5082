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
 *      migration; while it runs the DIMM files' write-back is started every
 *      FLUSH_EVERY_MS (not waited for), so
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
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

#define XATTR_EXPORT "user.vofirm.export"
#define XATTR_IMPORT "user.vofirm.import"
#define PIECE 65536 /* an extended attribute's value, at most: longer ones go in pieces */
#define MAX_DEVS 32
#define FLUSH_EVERY_MS 50 /* write-back started this often while pre-copy runs */
#define BUNDLE_VERSION 1

struct mdev {
	char id[128], memdev_id[128], rel[PATH_MAX];
	char src_file[PATH_MAX], dst_file[PATH_MAX];
	bool vmem;
	uint64_t size, addr, requested, block_size;
	int64_t node;
	bool exported, imported;
	char *handoff; /* the text: read from the source's file, or from a bundle */
};

static struct mdev devs[MAX_DEVS];
static unsigned ndevs;

/* json_node_unref, which complains about NULL */
static void unref(JsonNode *n)
{
	if (n)
		json_node_unref(n);
}

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

/* mount/rel, absolute (QEMU opens it from its own working directory). */
static int join(const char *mount, const char *opt, const char *rel, char *out, size_t len)
{
	if (!realpath(mount, out)) {
		int err = errno;

		vf_err("%s %s: %s", opt, mount, strerror(err));
		return -err;
	}
	g_strlcat(out, "/", len);
	if (g_strlcat(out, rel, len) >= len) {
		vf_err("%s %s: the path of %s in it is too long", opt, mount, rel);
		return -ENAMETOOLONG;
	}
	return 0;
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
		if (o.to_mount) {
			ret = join(o.to_mount, "--to-mount", m->rel, m->dst_file,
				   sizeof(m->dst_file));
			if (ret)
				break;
		}
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
	unref(all);
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

/*
 * Starts the write-back of the dirty pages of every DIMM file without
 * waiting for it (sync_file_range(SYNC_FILE_RANGE_WRITE)), so that little
 * is dirty at the pause: the loop that calls it keeps watching for the
 * pause meanwhile (an fsync here would hold the paused VM for as long as
 * it took).
 */
static int start_writeback(void)
{
	for (unsigned i = 0; i < ndevs; i++) {
		int fd = open(devs[i].src_file, O_RDONLY | O_CLOEXEC), ret = 0;

		if (fd < 0 || sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0)
			ret = -errno;
		if (fd >= 0)
			close(fd);
		if (ret) {
			vf_err("cannot start writing %s back: %s", devs[i].src_file,
			       strerror(-ret));
			return ret;
		}
	}
	return 0;
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
	unref(st);
	return sum;
}

/*
 * The handoff text of an exported file (g_free), NULL: failed (logged).
 * One that fits an extended attribute is read whole; a longer one in
 * pieces (user.vofirm.export.0 takes the snapshot, .1 ... follow; the
 * last is shorter than a piece).
 */
static char *get_handoff(const char *file)
{
	GString *t = g_string_new(NULL);
	char *buf = g_malloc(PIECE + 1);
	char name[64];
	ssize_t n;

	for (unsigned k = 0;; k++) {
		snprintf(name, sizeof(name), "%s.%u", XATTR_EXPORT, k);
		n = getxattr(file, name, buf, PIECE);
		if (n < 0) {
			vf_err("cannot read the handoff of %s (%s): %s (see vofirm-fs's log)", file,
			       name, errno == ENODATA ? "it is not exported" : strerror(errno));
			g_string_free(t, TRUE);
			g_free(buf);
			return NULL;
		}
		g_string_append_len(t, buf, n);
		if (n < PIECE)
			break;
	}
	g_free(buf);
	return g_string_free(t, FALSE);
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

/* user.vofirm.import = head + text on target, in pieces when it is long. */
static int put_import(const char *target, const char *head, const char *text, const char *what)
{
	char *v = g_strconcat(head, text, NULL), name[64];
	size_t len = strlen(v), at = 0;
	int ret = 0;

	if (len < PIECE) {
		ret = set_attr(target, XATTR_IMPORT, v, len, what);
		g_free(v);
		return ret;
	}
	for (unsigned k = 0; !ret; k++) {
		size_t n = MIN(len - at, (size_t)PIECE);

		snprintf(name, sizeof(name), "%s.%u", XATTR_IMPORT, k);
		ret = set_attr(target, name, v + at, n, what);
		at += n;
		if (n < PIECE)
			break;
	}
	g_free(v);
	return ret;
}

/* Step 1 on the source: every device's file exported, its text kept. */
static int export_all(void)
{
	for (unsigned i = 0; i < ndevs; i++) {
		struct mdev *m = &devs[i];
		int ret;

		progress("exporting %s (%s, %s)", m->src_file, m->id, fmt_size(m->size));
		ret = set_attr(m->src_file, XATTR_EXPORT, "", 0, "cannot export");
		if (ret)
			return ret;
		m->exported = true;
		m->handoff = get_handoff(m->src_file);
		if (!m->handoff)
			return -EIO;
	}
	return 0;
}

/* Step 1 on the destination: every device's file imported under mount. */
static int import_all(const char *mount)
{
	char ctl[PATH_MAX];

	snprintf(ctl, sizeof(ctl), "%s/.vofirm", mount);
	for (unsigned i = 0; i < ndevs; i++) {
		struct mdev *m = &devs[i];
		char *head;
		int ret;

		/* the same directories on the destination */
		for (char *slash = strchr(m->rel, '/'); slash; slash = strchr(slash + 1, '/')) {
			char dir[PATH_MAX];

			snprintf(dir, sizeof(dir), "%s/%.*s", mount, (int)(slash - m->rel), m->rel);
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				ret = -errno;
				vf_err("cannot make %s: %s", dir, strerror(-ret));
				return ret;
			}
		}
		progress("importing %s as %s", m->id, m->dst_file);
		head = g_strconcat(m->rel, "\n", NULL);
		ret = put_import(ctl, head, m->handoff, "cannot import into");
		g_free(head);
		if (ret)
			return ret;
		m->imported = true;
	}
	return 0;
}

/* The source's final written-page bits (m->handoff), to the destination's files. */
static int update_all(void)
{
	for (unsigned i = 0; i < ndevs; i++) {
		int ret = put_import(devs[i].dst_file, "update\n", devs[i].handoff,
				     "cannot update the import");

		if (ret)
			return ret;
	}
	return 0;
}

/* The source's handoffs read again (after the flush at the pause). */
static int reread_all(void)
{
	for (unsigned i = 0; i < ndevs; i++) {
		char *h = get_handoff(devs[i].src_file);

		if (!h)
			return -EIO;
		g_free(devs[i].handoff);
		devs[i].handoff = h;
	}
	return 0;
}

static void abort_imports(void)
{
	for (unsigned i = 0; i < ndevs; i++) {
		struct mdev *m = &devs[i];

		if (m->imported && set_attr(m->dst_file, XATTR_IMPORT, "abort", 5,
					    "cannot abort the import of") == 0) {
			progress("import of %s aborted", m->dst_file);
			m->imported = false;
		}
	}
}

static void abort_exports(void)
{
	for (unsigned i = 0; i < ndevs; i++) {
		struct mdev *m = &devs[i];

		if (m->exported && set_attr(m->src_file, XATTR_EXPORT, "abort", 5,
					    "cannot abort the export of") == 0) {
			progress("export of %s aborted: it stays the source's", m->src_file);
			m->exported = false;
		}
	}
}

static int commit_exports(void)
{
	int ret = 0;

	for (unsigned i = 0; i < ndevs; i++) {
		if (!devs[i].exported)
			continue;
		if (set_attr(devs[i].src_file, XATTR_EXPORT, "commit", 6, "cannot commit")) {
			vf_err("the VM runs on the destination, but the export of %s is not "
			       "committed: run setfattr -n %s -v commit %s",
			       devs[i].id, XATTR_EXPORT, devs[i].src_file);
			ret = -EIO;
		} else {
			devs[i].exported = false;
		}
	}
	return ret;
}

static int commit_imports(void)
{
	int ret = 0;

	for (unsigned i = 0; i < ndevs; i++) {
		if (!devs[i].imported)
			continue;
		if (set_attr(devs[i].dst_file, XATTR_IMPORT, "commit", 6, "cannot commit")) {
			vf_err("the VM runs on the destination, but the import of %s is not "
			       "committed: run setfattr -n %s -v commit %s",
			       devs[i].id, XATTR_IMPORT, devs[i].dst_file);
			ret = -EIO;
		} else {
			devs[i].imported = false;
		}
	}
	return ret;
}

static void free_devs(void)
{
	for (unsigned i = 0; i < ndevs; i++)
		g_free(devs[i].handoff);
	memset(devs, 0, sizeof(devs));
	ndevs = 0;
}

/* ---- the bundle: what one host hands the other ---- */

/*
 * kind "export": every device (QEMU's view of it, its file's path in the
 * mount) with its handoff; "update": the handoffs again, taken at the
 * pause.  Written with mode 0600: a handoff gives its bearer the file's
 * memory, as the cluster key would.  path "-": standard output.
 */
static int write_bundle(const char *path, const char *kind)
{
	JsonBuilder *b = json_builder_new();
	JsonNode *root;
	char *text;
	int fd, ret = 0;
	size_t len;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "vofirm-migrate");
	json_builder_add_int_value(b, BUNDLE_VERSION);
	json_builder_set_member_name(b, "kind");
	json_builder_add_string_value(b, kind);
	json_builder_set_member_name(b, "devices");
	json_builder_begin_array(b);
	for (unsigned i = 0; i < ndevs; i++) {
		struct mdev *m = &devs[i];

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "id");
		json_builder_add_string_value(b, m->id);
		json_builder_set_member_name(b, "memdev");
		json_builder_add_string_value(b, m->memdev_id);
		json_builder_set_member_name(b, "driver");
		json_builder_add_string_value(b, m->vmem ? "virtio-mem-pci" : "pc-dimm");
		json_builder_set_member_name(b, "node");
		json_builder_add_int_value(b, m->node);
		json_builder_set_member_name(b, m->vmem ? "memaddr" : "addr");
		json_builder_add_int_value(b, (gint64)m->addr);
		json_builder_set_member_name(b, "size");
		json_builder_add_int_value(b, (gint64)m->size);
		if (m->vmem) {
			json_builder_set_member_name(b, "requested-size");
			json_builder_add_int_value(b, (gint64)m->requested);
			json_builder_set_member_name(b, "block-size");
			json_builder_add_int_value(b, (gint64)m->block_size);
		}
		json_builder_set_member_name(b, "path");
		json_builder_add_string_value(b, m->rel);
		json_builder_set_member_name(b, "handoff");
		json_builder_add_string_value(b, m->handoff);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	g_object_unref(b);
	text = jv_text(root);
	unref(root);
	len = strlen(text);
	text[len++] = '\n'; /* jv_text's NUL: the file ends with a newline */
	if (!strcmp(path, "-")) {
		fd = STDOUT_FILENO;
	} else {
		/* never readable by others, not even for a moment */
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0 && fchmod(fd, 0600) < 0)
			ret = -errno;
	}
	if (fd < 0)
		ret = -errno;
	for (size_t at = 0; !ret && at < len;) {
		ssize_t n = write(fd, text + at, len - at);

		if (n < 0 && errno != EINTR)
			ret = -errno;
		else if (n > 0)
			at += (size_t)n;
	}
	if (fd >= 0 && fd != STDOUT_FILENO && close(fd) < 0 && !ret)
		ret = -errno;
	if (ret)
		vf_err("cannot write the bundle %s: %s", path, strerror(-ret));
	g_free(text);
	return ret;
}

static int bad_bundle(const char *path, const char *why)
{
	vf_err("bundle %s refused: %s; nothing was changed", path, why);
	return -EINVAL;
}

/* A bundle of kind into devs[] (dst_file under mount); 0 or -errno (logged). */
static int read_bundle(const char *path, const char *kind, const char *mount)
{
	GError *gerr = NULL;
	char *text = NULL, *err = NULL, why[256];
	size_t len = 0;
	JsonNode *root = NULL;
	JsonArray *arr;
	int ret = 0;

	if (!strcmp(path, "-")) {
		GIOChannel *ch = g_io_channel_unix_new(STDIN_FILENO);

		g_io_channel_set_encoding(ch, NULL, NULL);
		if (g_io_channel_read_to_end(ch, &text, &len, &gerr) != G_IO_STATUS_NORMAL)
			text = NULL;
		g_io_channel_unref(ch);
	} else {
		g_file_get_contents(path, &text, &len, &gerr);
	}
	if (!text) {
		vf_err("cannot read the bundle %s: %s", path, gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		return -EIO;
	}
	if (strlen(text) != len) {
		ret = bad_bundle(path, "it holds a NUL byte: not JSON");
		goto out;
	}
	root = jv_parse(text, &err);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		snprintf(why, sizeof(why), "not a JSON object%s%s", err ? ": " : "",
			 err ? err : "");
		ret = bad_bundle(path, why);
		goto out;
	}
	if (!jv_get(root, "vofirm-migrate") ||
	    !JSON_NODE_HOLDS_VALUE(jv_get(root, "vofirm-migrate")) ||
	    json_node_get_int(jv_get(root, "vofirm-migrate")) != BUNDLE_VERSION) {
		ret = bad_bundle(path, "not a vofirm migration bundle of version 1 "
				       "(vofirmctl migrate-export writes them)");
		goto out;
	}
	if (!jv_str(jv_get(root, "kind")) || strcmp(jv_str(jv_get(root, "kind")), kind)) {
		snprintf(why, sizeof(why), "it is of kind '%s', this wants '%s' (%s)",
			 jv_str(jv_get(root, "kind")) ? jv_str(jv_get(root, "kind")) : "?", kind,
			 !strcmp(kind, "export") ? "made by migrate-export"
						 : "made by migrate --at-pause");
		ret = bad_bundle(path, why);
		goto out;
	}
	arr = jv_array(jv_get(root, "devices"));
	if (!arr || !json_array_get_length(arr) || json_array_get_length(arr) > MAX_DEVS) {
		ret = bad_bundle(path, "its devices are missing, or more than 32");
		goto out;
	}
	for (guint i = 0; i < json_array_get_length(arr) && !ret; i++) {
		JsonNode *d = json_array_get_element(arr, i);
		struct mdev *m = &devs[ndevs];
		const char *id = jv_str(jv_get(d, "id")), *md = jv_str(jv_get(d, "memdev"));
		const char *drv = jv_str(jv_get(d, "driver")), *rel = jv_str(jv_get(d, "path"));
		const char *h = jv_str(jv_get(d, "handoff"));

		snprintf(why, sizeof(why), "device %u", i);
		if (!id || !md || !drv || !rel || !h || check_id("device id", id) ||
		    check_id("backend id", md) ||
		    (strcmp(drv, "pc-dimm") && strcmp(drv, "virtio-mem-pci")) || !*rel ||
		    rel[0] == '/' || strstr(rel, "..") || strlen(rel) >= sizeof(m->rel)) {
			snprintf(why, sizeof(why),
				 "device %u: its id, memdev, driver, path or handoff is missing or "
				 "not one",
				 i);
			ret = bad_bundle(path, why);
			break;
		}
		snprintf(m->id, sizeof(m->id), "%s", id);
		snprintf(m->memdev_id, sizeof(m->memdev_id), "%s", md);
		snprintf(m->rel, sizeof(m->rel), "%s", rel);
		m->vmem = !strcmp(drv, "virtio-mem-pci");
		if (answer_size(d, why, "size", false, &m->size) ||
		    answer_size(d, why, m->vmem ? "memaddr" : "addr", false, &m->addr) ||
		    (m->vmem && (answer_size(d, why, "requested-size", false, &m->requested) ||
				 answer_size(d, why, "block-size", false, &m->block_size)))) {
			ret = bad_bundle(path, "a device's sizes are missing or not sizes");
			break;
		}
		m->node = jv_get(d, "node") && JSON_NODE_HOLDS_VALUE(jv_get(d, "node"))
				  ? json_node_get_int(jv_get(d, "node"))
				  : 0;
		m->handoff = g_strdup(h);
		ndevs++;
		if (mount)
			ret = join(mount, "--mount", m->rel, m->dst_file, sizeof(m->dst_file));
	}
out:
	if (ret)
		free_devs();
	g_free(err);
	g_free(text);
	if (root)
		unref(root);
	return ret;
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
		unref(r);
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
	unref(r);
}

/* ---- the migration ---- */

struct run {
	uint64_t t0, wb0, wb_last, wb_pause, wb_end, pause_ms, flush_ms;
	JsonNode *fin; /* the source's query-migrate at the end */
	bool started, switched;
};

/* The destination: backends, devices, capabilities, then migrate-incoming. */
static int start_incoming(struct qmp *dq, const char *uri)
{
	JsonObject *a;
	int ret = setup_dest(dq);

	if (!ret)
		ret = set_caps(dq, false, "the destination's migration capabilities");
	if (ret)
		return ret;
	a = json_object_new();
	json_object_set_string_member(a, "uri", uri);
	return cmd(dq, "migrate-incoming", a, NULL, "the destination");
}

/*
 * The source side: the migration to uri, flushing while pre-copy runs; at
 * the pause the flush, the handoffs read again, then at_pause() (the
 * destination's update), then the switchover; done when the source says
 * completed.  0 or -errno (logged); r says how far it got.
 */
static int run_source(struct qmp *sq, const char *uri, int (*at_pause)(void), struct run *r)
{
	uint64_t last_flush = 0, last_note = 0, wb_at = now_ms(), wb_base = r->wb_last;
	uint64_t wb_rate = 0;
	char *st = NULL;
	JsonObject *a;
	int ret;

	ret = set_caps(sq, true, "the source's migration capabilities");
	if (ret)
		return ret;
	a = json_object_new();
	json_object_set_string_member(a, "uri", uri);
	progress("migrating to %s", uri);
	ret = cmd(sq, "migrate", a, NULL, "the migration");
	if (ret)
		return ret;
	r->started = true;
	/* active: wait for the pause, flushing now and then */
	for (;;) {
		JsonNode *q = NULL;
		uint64_t now;

		g_free(st);
		st = mig_status(sq, &q);
		if (!st)
			return -EIO;
		now = now_ms();
		if (!strcmp(st, "pre-switchover")) {
			unref(q);
			break;
		}
		if (!strcmp(st, "failed") || !strcmp(st, "cancelled") || !strcmp(st, "completed")) {
			vf_err("the migration %s before the switchover: %s", st,
			       jv_str(jv_get(q, "error-desc")) ? jv_str(jv_get(q, "error-desc"))
							       : "QEMU said no more");
			unref(q);
			g_free(st);
			return -EIO;
		}
		if (now - last_note >= 250) {
			/* QEMU's dirty rate counts base RAM only: x-ignore-shared
			 * leaves the DIMMs out of its dirty tracking; theirs is
			 * what the flushes write back */
			progress_line("%s: %s sent, %s left; base RAM dirtied %" PRIu64
				      " pages/s; DIMMs written back %s/s",
				      st, fmt_mib(num(q, "ram", "transferred")),
				      fmt_mib(num(q, "ram", "remaining")),
				      num(q, "ram", "dirty-pages-rate"), fmt_mib(wb_rate));
			last_note = now;
		}
		unref(q);
		if (!o.no_flush && now - last_flush >= FLUSH_EVERY_MS) {
			uint64_t wb;

			ret = start_writeback();
			if (ret) {
				g_free(st);
				return ret;
			}
			/* what was written back before the pause: the pause's
			 * share is counted from here */
			r->wb_last = wb = written_back();
			last_flush = now_ms();
			if (last_flush - wb_at >= 250) { /* the progress line's rate */
				wb_rate = (wb - wb_base) * 1000 / (last_flush - wb_at);
				wb_base = wb;
				wb_at = last_flush;
			}
		}
		if (now - r->t0 > o.timeout_ms + 600000) {
			vf_err("the migration did not reach its switchover in time");
			g_free(st);
			return -ETIMEDOUT;
		}
		sleep_ms(2);
	}
	progress_done();
	/* the pause: the source's vCPUs are stopped */
	r->pause_ms = now_ms();
	if (!o.no_flush) {
		ret = flush_all();
		if (ret)
			goto out;
	}
	r->flush_ms = now_ms() - r->pause_ms;
	ret = reread_all();
	if (!ret)
		ret = at_pause();
	if (ret)
		goto out;
	a = json_object_new();
	json_object_set_string_member(a, "state", "pre-switchover");
	ret = cmd(sq, "migrate-continue", a, NULL, "the switchover");
	if (ret)
		goto out;
	r->pause_ms = now_ms() - r->pause_ms;
	r->switched = true;
	r->wb_pause = written_back();
	for (;;) {
		JsonNode *q = NULL;

		g_free(st);
		st = mig_status(sq, &q);
		if (!st) {
			ret = -EIO;
			goto out;
		}
		if (!strcmp(st, "completed") && num(q, "total-time", NULL)) {
			r->fin = q;
			break;
		}
		if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
			vf_err("the migration %s at the switchover: %s", st,
			       jv_str(jv_get(q, "error-desc")) ? jv_str(jv_get(q, "error-desc"))
							       : "QEMU said no more");
			unref(q);
			ret = -EIO;
			goto out;
		}
		unref(q);
		sleep_ms(2);
	}
	r->wb_end = written_back();
out:
	g_free(st);
	return ret;
}

/* A failure before the switchover: the migration cancelled, the source runs. */
static void cancel_source(struct qmp *sq, struct run *r)
{
	char *st = NULL;

	progress_done();
	if (r->started) {
		cmd(sq, "migrate_cancel", NULL, NULL, "cancelling the migration");
		for (int i = 0; i < 500; i++) {
			g_free(st);
			st = mig_status(sq, NULL);
			if (!st || strcmp(st, "cancelling"))
				break;
			sleep_ms(10);
		}
		g_free(st);
	}
	source_runs(sq);
}

static void summary(struct run *r, int ret)
{
	uint64_t total = num(r->fin, "total-time", NULL), down = num(r->fin, "downtime", NULL);
	uint64_t sent = num(r->fin, "ram", "transferred"), flushed = r->wb_end - r->wb0;

	if (o.json) {
		JsonObject *js = json_object_new();

		json_object_set_int_member(js, "total_ms", (gint64)total);
		json_object_set_int_member(js, "downtime_ms", (gint64)down);
		json_object_set_int_member(js, "bytes_sent", (gint64)sent);
		json_object_set_int_member(js, "bytes_flushed", (gint64)flushed);
		json_object_set_int_member(js, "pause_flushed", (gint64)(r->wb_pause - r->wb_last));
		json_object_set_int_member(js, "pause_ms", (gint64)r->pause_ms);
		json_object_set_int_member(js, "flush_ms", (gint64)r->flush_ms);
		json_object_set_int_member(js, "devices", ndevs);
		json_object_set_boolean_member(js, "flushed", !o.no_flush);
		json_print(js, ret);
	} else
		printf("migrated in %" PRIu64 " ms, downtime %" PRIu64 " ms (pause %" PRIu64
		       " ms, of it flush %" PRIu64 " ms); sent %s, "
		       "flushed %s (%s at the pause); %u device%s left where %s\n",
		       total, down, r->pause_ms, r->flush_ms, fmt_mib(sent), fmt_mib(flushed),
		       fmt_mib(r->wb_pause - r->wb_last), ndevs, ndevs == 1 ? "" : "s",
		       ndevs == 1 ? "it is" : "they are");
}

/*
 * The destination's incoming migration: 0 completed, -EIO failed, -EPIPE
 * its QEMU gone, -EINTR stop set (a signal), -ETIMEDOUT past limit_ms (0:
 * none).  The guest has not run before "completed".
 */
static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	stop = sig;
}

static int wait_incoming(struct qmp *dq, uint64_t limit_ms)
{
	uint64_t t0 = now_ms();
	char *st = NULL;
	int ret;

	for (;;) {
		JsonNode *q = NULL;

		g_free(st);
		st = mig_status(dq, &q);
		if (!st) {
			ret = -EPIPE;
			break;
		}
		if (!strcmp(st, "completed")) {
			unref(q);
			ret = 0;
			break;
		}
		if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
			vf_err("the destination's incoming migration %s: %s", st,
			       jv_str(jv_get(q, "error-desc")) ? jv_str(jv_get(q, "error-desc"))
							       : "QEMU said no more");
			unref(q);
			ret = -EIO;
			break;
		}
		unref(q);
		if (stop) {
			ret = -EINTR;
			break;
		}
		if (limit_ms && now_ms() - t0 > limit_ms) {
			ret = -ETIMEDOUT;
			break;
		}
		sleep_ms(20);
	}
	g_free(st);
	return ret;
}

static void resume_dest(struct qmp *dq)
{
	JsonNode *q = NULL;

	if (!cmd(dq, "query-status", NULL, &q, "query-status") &&
	    (!jv_get(q, "running") || !json_node_get_boolean(jv_get(q, "running"))) &&
	    !o.keep_paused)
		cmd(dq, "cont", NULL, NULL, "resuming the destination");
	unref(q);
}

/* vofirmctl migrate --to-qmp --to-mount: both sides here. */
int do_migrate(void)
{
	struct qmp *sq = NULL, *dq = NULL;
	char uri[PATH_MAX + 8];
	struct run r = { .t0 = now_ms() };
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
	r.wb0 = r.wb_last = written_back();
	ret = export_all();
	if (!ret)
		ret = import_all(o.to_mount);
	if (!ret)
		ret = start_incoming(dq, uri);
	if (!ret)
		ret = run_source(sq, uri, update_all, &r);
	if (ret)
		goto fail;
	/* the destination owns it all now */
	wait_incoming(dq, o.timeout_ms);
	if (!o.no_flush) /* the negative control keeps it, its dirty pages unwritten */
		cmd(sq, "quit", NULL, NULL, "quitting the source");
	if (commit_exports())
		ret = -EIO;
	if (commit_imports())
		ret = -EIO;
	resume_dest(dq);
	summary(&r, ret);
	goto out;

fail:
	if (r.switched) {
		vf_err("the switchover failed: check both VMs (the handoffs are left pending)");
		goto out;
	}
	cancel_source(sq, &r);
	abort_imports();
	abort_exports();
	vf_err("migration failed: the source VM keeps all its memory");
out:
	unref(r.fin);
	free_devs();
	qmp_close(sq);
	qmp_close(dq);
	return ret;
}

/* ---- the two-host split ---- */

/* --json: what a split command did, js and its bundle, as one object on stdout (js unref'd) */
static void print_json(JsonObject *js, const char *bundle, int ret)
{
	json_object_set_string_member(js, "bundle", bundle);
	json_print(js, ret);
}

/* vofirmctl migrate-export: the source's files exported, the bundle written. */
int do_migrate_export(void)
{
	struct qmp *sq = NULL;
	int ret = qmp_open(o.qmp, (unsigned)o.timeout_ms, &sq);

	if (!ret)
		ret = find_devices(sq);
	if (!ret && !ndevs) {
		vf_err("the VM has no memory device on %s: nothing to export", o.mount);
		ret = -ENOENT;
	}
	if (!ret)
		ret = export_all();
	if (!ret)
		ret = write_bundle(o.bundle, "export");
	if (ret) {
		abort_exports();
		vf_err("export failed: every file stays the source's");
	} else {
		progress("%u device%s exported into %s (secret as the cluster key: mode 0600); "
			 "next: vofirmctl migrate-import on the destination host",
			 ndevs, ndevs == 1 ? "" : "s",
			 !strcmp(o.bundle, "-") ? "stdout" : o.bundle);
	}
	/* (main refuses --json with --out -: the bundle is stdout then) */
	if (o.json) {
		JsonObject *js = json_object_new();

		json_object_set_int_member(js, "devices", ndevs);
		json_object_set_boolean_member(js, "exported", !ret);
		print_json(js, o.bundle, ret);
	}
	free_devs();
	qmp_close(sq);
	return ret;
}

/*
 * vofirmctl migrate-export --abort: the exports of a bundle given up (a
 * migration that will not happen, or an import that failed after it had
 * redeemed the grants): the destination loses what it reached, every
 * file stays the source's.
 */
int do_migrate_export_abort(void)
{
	unsigned failed = 0;
	int ret = read_bundle(o.bundle, "export", NULL);

	if (ret)
		return ret;
	for (unsigned i = 0; i < ndevs; i++) {
		struct mdev *m = &devs[i];

		ret = join(o.mount, "--mount", m->rel, m->src_file, sizeof(m->src_file));
		if (!ret)
			ret = set_attr(m->src_file, XATTR_EXPORT, "abort", 5,
				       "cannot abort the export of");
		if (ret)
			failed++;
		else
			progress("export of %s aborted: it stays the source's", m->src_file);
	}
	if (failed)
		vf_err("%u of %u export%s not aborted (above)", failed, ndevs,
		       ndevs == 1 ? "" : "s");
	if (o.json) {
		JsonObject *js = json_object_new();

		json_object_set_int_member(js, "devices", ndevs);
		json_object_set_int_member(js, "aborted", ndevs - failed);
		json_object_set_int_member(js, "failed", failed);
		print_json(js, o.bundle, failed ? -EIO : 0);
	}
	free_devs();
	return failed ? -EIO : 0;
}

/* vofirmctl migrate-import --update: the source's final page bits, from a file. */
static int do_update(void)
{
	int ret = read_bundle(o.update, "update", o.mount);

	if (ret)
		return ret;
	ret = update_all();
	if (!ret)
		progress("%u import%s updated with the source's final page bits", ndevs,
			 ndevs == 1 ? "" : "s");
	if (o.json) {
		JsonObject *js = json_object_new();

		json_object_set_int_member(js, "devices", ndevs);
		json_object_set_boolean_member(js, "updated", !ret);
		print_json(js, o.update, ret);
	}
	free_devs();
	return ret;
}

/*
 * vofirmctl migrate-import: the files imported, the destination QEMU
 * ready and listening; then, once the source has migrated (its update
 * applied at the pause by migrate-import --update), the imports committed;
 * aborted if the incoming migration fails, the QEMU goes, or a signal.
 */
int do_migrate_import(void)
{
	struct qmp *dq = NULL;
	struct sigaction sa = { .sa_handler = on_stop };
	uint64_t t0 = now_ms(), t1 = 0;
	bool redeemed = false;
	int ret;

	if (o.update)
		return do_update();
	ret = read_bundle(o.bundle, "export", o.mount);
	if (ret)
		return ret;
	ret = qmp_open(o.qmp, (unsigned)o.timeout_ms, &dq);
	if (ret)
		goto out;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ret = import_all(o.mount);
	if (!ret)
		ret = start_incoming(dq, o.uri);
	if (ret)
		goto fail;
	progress("the destination listens on %s: start vofirmctl migrate on the source", o.uri);
	ret = wait_incoming(dq, o.timeout_set ? o.timeout_ms : 0);
	if (ret == -EPIPE)
		vf_err("the destination QEMU is gone");
	else if (ret == -EINTR)
		vf_err("stopped by signal %d", (int)stop);
	else if (ret == -ETIMEDOUT)
		vf_err("no migration came within --timeout");
	if (ret)
		goto fail;
	t1 = now_ms();
	if (commit_imports())
		ret = -EIO;
	resume_dest(dq);
	if (o.json) {
		JsonObject *js = json_object_new();

		json_object_set_int_member(js, "devices", ndevs);
		json_object_set_int_member(js, "wait_ms", (gint64)(t1 - t0));
		json_object_set_boolean_member(js, "committed", !ret);
		json_print(js, ret);
	} else
		printf("%u device%s imported and committed; the VM runs here (waited %" PRIu64
		       " ms for it)\n",
		       ndevs, ndevs == 1 ? "" : "s", t1 - t0);
	goto out;
fail:
	for (unsigned i = 0; i < ndevs; i++)
		redeemed |= devs[i].imported;
	abort_imports();
	vf_err("import failed: the destination holds nothing of it, the source keeps it all");
	if (redeemed)
		vf_err("the source's grants are used up: abort its exports (vofirmctl "
		       "migrate-export --abort --in BUNDLE --mount DIR on the source; a vofirmctl "
		       "migrate --handoff that fails does it) before exporting again");
	if (o.json) {
		JsonObject *js = json_object_new();

		json_object_set_int_member(js, "devices", ndevs);
		json_object_set_boolean_member(js, "committed", false);
		json_print(js, ret);
	}
out:
	free_devs();
	qmp_close(dq);
	return ret;
}

static char *update_path;

/* At the pause: the update bundle written, the operator's command run on it. */
static int at_pause_cmd(void)
{
	uint64_t t0 = now_ms();
	int ret = write_bundle(update_path, "update"), status = 0;
	pid_t pid, w;

	if (ret)
		return ret;
	progress("at the pause: running the --at-pause command (VOFIRM_UPDATE=%s)", update_path);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		vf_err("cannot run the --at-pause command: %s", strerror(-ret));
		return ret;
	}
	if (pid == 0) {
		setpgid(0, 0);
		setenv("VOFIRM_UPDATE", update_path, 1);
		dup2(STDERR_FILENO, STDOUT_FILENO); /* our standard output is the summary's */
		execl("/bin/sh", "sh", "-c", o.at_pause, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			ret = -errno;
			vf_err("waiting for the --at-pause command: %s", strerror(-ret));
			return ret;
		}
		if (now_ms() - t0 > o.timeout_ms) {
			vf_err("the --at-pause command ran longer than --timeout (%" PRIu64
			       " ms): killed",
			       o.timeout_ms);
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		sleep_ms(5);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (WIFEXITED(status))
			vf_err("the --at-pause command exited %d", WEXITSTATUS(status));
		else
			vf_err("the --at-pause command was killed by signal %d", WTERMSIG(status));
		return -ECANCELED;
	}
	progress("the --at-pause command succeeded in %" PRIu64 " ms", now_ms() - t0);
	return 0;
}

/*
 * vofirmctl migrate --handoff BUNDLE --at-pause CMD: the source side of
 * the split, on the exports migrate-export made.
 */
int do_migrate_source(void)
{
	static struct mdev want[MAX_DEVS];
	unsigned nwant;
	struct qmp *sq = NULL;
	struct run r = { .t0 = now_ms() };
	int ret = read_bundle(o.bundle, "export", NULL);

	if (ret)
		return ret;
	memcpy(want, devs, sizeof(want));
	nwant = ndevs;
	for (unsigned i = 0; i < nwant; i++)
		g_free(want[i].handoff);
	memset(devs, 0, sizeof(devs));
	ndevs = 0;
	update_path = g_strconcat(o.bundle, ".update", NULL);
	ret = qmp_open(o.qmp, (unsigned)o.timeout_ms, &sq);
	if (!ret)
		ret = find_devices(sq);
	if (ret)
		goto out;
	if (nwant != ndevs) {
		vf_err("bundle %s: it has %u device%s, the VM %u on %s: run migrate-export again",
		       o.bundle, nwant, nwant == 1 ? "" : "s", ndevs, o.mount);
		ret = -EINVAL;
	}
	for (unsigned i = 0; i < ndevs && !ret; i++) {
		unsigned k = 0;

		while (k < nwant &&
		       (strcmp(want[k].id, devs[i].id) || strcmp(want[k].rel, devs[i].rel)))
			k++;
		if (k == nwant) {
			vf_err("bundle %s: the VM's device %s (%s) is not in it: run migrate-export "
			       "again",
			       o.bundle, devs[i].id, devs[i].rel);
			ret = -EINVAL;
		}
	}
	if (ret)
		goto out;
	/* exported by migrate-export: still pending?  (their texts are read) */
	ret = reread_all();
	if (ret)
		goto out;
	for (unsigned i = 0; i < ndevs; i++)
		devs[i].exported = true;
	progress("%u memory device%s on %s, exported by migrate-export", ndevs,
		 ndevs == 1 ? "" : "s", o.mount);
	r.wb0 = r.wb_last = written_back();
	ret = run_source(sq, o.uri, at_pause_cmd, &r);
	if (ret) {
		if (r.switched) {
			vf_err("the switchover failed: check both VMs (the exports are left "
			       "pending)");
			goto out;
		}
		cancel_source(sq, &r);
		abort_exports();
		vf_err("migration failed: the source VM keeps all its memory");
		goto out;
	}
	cmd(sq, "quit", NULL, NULL, "quitting the source");
	if (commit_exports())
		ret = -EIO;
	summary(&r, ret);
out:
	if (update_path)
		unlink(update_path);
	g_free(update_path);
	update_path = NULL;
	unref(r.fin);
	free_devs();
	qmp_close(sq);
	return ret;
}
