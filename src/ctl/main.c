// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirmctl: grow and shrink a running VM's memory onto vofirm, over QMP.
 *
 *   grow    checks (size, slot, room under maxmem, the pool), sizes the
 *           file (reserving the remote memory), object-add, device_add;
 *           any failure undoes what was done, in reverse
 *   shrink  device_del and DEVICE_DELETED, object-del, the file removed;
 *           virtio-mem: requested-size down and wait for the guest
 *           (--replicas: the copies the file asks for, set before its size)
 *   list    the VM's memory devices and which are on vofirm
 *   status  the pool, its replication, servers and files (from the
 *           mount's stats)
 *   drain   move every copy off a memory server (user.vofirm.drain on
 *           the mount's .vofirm), and follow it in the stats to the end
 *   budget  put QEMU in a memory cgroup: the local memory budget
 *   restart-fs  a planned restart of a mount's vofirm-fs worker (an
 *           upgrade): SIGUSR2 to its supervisor, then the stats until a new
 *           worker serves, or the supervisor says why it refused
 *
 * Exit status: 0 done, 1 failed (nothing changed, or what is left is
 * said), 2 bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <glib.h>

#include "ctl.h"
#include "qmp.h"
#include "vofirm/log.h"
#include "vofirm/mount.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

struct ctl_opts o = {
	.model = "pc-dimm", .timeout_ms = 30000, .bandwidth = 1ull << 30, .downtime_ms = 20
};

void progress(const char *fmt, ...)
{
	va_list ap;

	progress_done();
	fputs("vofirmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

char *fmt_size(uint64_t b)
{
	static char buf[4][32];
	static int i;

	i = (i + 1) % 4;
	return vf_format_size(b, buf[i], sizeof(buf[i]));
}

/* Bytes in MiB, as progress and status lines give them: "512 MiB", "0.1 MiB". */
char *fmt_mib(uint64_t b)
{
	static char buf[4][32];
	static int i;

	i = (i + 1) % 4;
	if (b % (1u << 20) == 0)
		snprintf(buf[i], sizeof(buf[i]), "%" PRIu64 " MiB", b >> 20);
	else /* rounded up: what is left is never shown as 0 */
		snprintf(buf[i], sizeof(buf[i]), "%.1f MiB",
			 (double)((b * 10 + (1u << 20) - 1) >> 20) / 10);
	return buf[i];
}

/* "N copies" */
const char *copies(uint64_t n)
{
	static char buf[4][32];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%" PRIu64 " cop%s", n, n == 1 ? "y" : "ies");
	return buf[i];
}

/*
 * The mount's DIR/.vofirm/stats.json, parsed (json_node_unref it), its
 * text in *text if text (g_free it); NULL: failed (logged).
 */
JsonNode *read_stats(const char *mount, char **text)
{
	char *path = g_build_filename(mount, ".vofirm", "stats.json", NULL), *t = NULL, *err = NULL;
	GError *gerr = NULL;
	JsonNode *d = NULL;

	/* A read that spans a restart of vofirm-fs's worker fails with ESTALE
	 * (its snapshot went with the old worker): open it again. */
	for (int tries = 0;; tries++) {
		if (g_file_get_contents(path, &t, NULL, &gerr))
			break;
		if (tries < 5 && g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_FAILED) &&
		    strstr(gerr->message, strerror(ESTALE))) {
			g_clear_error(&gerr);
			continue;
		}
		vf_err("%s: %s (is %s a vofirm-fs mount?)", path, gerr->message, mount);
		g_error_free(gerr);
		goto out;
	}
	d = jv_parse(t, &err);
	if (!d)
		vf_err("%s: not JSON: %s", path, err);
out:
	if (d && text)
		*text = t;
	else
		g_free(t);
	g_free(err);
	g_free(path);
	return d;
}

/* A boolean member of a stats row; false when absent (an older vofirm-fs). */
int stat_bool(const char *file, JsonNode *row, const char *what, const char *key, bool *b)
{
	JsonNode *n = jv_get(row, key);

	*b = false;
	if (!n)
		return 0;
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
		vf_err("%s: %s.%s: not true or false", file, what, key);
		return -EPROTO;
	}
	*b = json_node_get_boolean(n);
	return 0;
}

/* The copy count of a file or directory of a mount (its xattr); 0 if it has none. */
unsigned xattr_replicas(const char *path)
{
	char v[8];
	ssize_t n = getxattr(path, XATTR_REPLICAS, v, sizeof(v) - 1);

	if (n < 1 || v[0] < '1' || v[0] > '0' + MAX_REPLICAS)
		return 0;
	return (unsigned)(v[0] - '0');
}

int cmd(struct qmp *q, const char *c, JsonObject *args, JsonNode **ret, const char *what)
{
	char *err = NULL;
	int r = qmp_cmd(q, c, args, ret, &err);

	if (r == -EIO && err)
		vf_err("%s: QEMU refused %s: %s", what, c, err);
	g_free(err);
	return r;
}

/* The arguments of qom-get and qom-set. */
JsonObject *qom_args(const char *path, const char *prop)
{
	JsonObject *a = json_object_new();

	json_object_set_string_member(a, "path", path);
	json_object_set_string_member(a, "property", prop);
	return a;
}

JsonObject *id_args(const char *id)
{
	JsonObject *a = json_object_new();

	json_object_set_string_member(a, "id", id);
	return a;
}

/*
 * The member key of QEMU's answer r about what, as a size or a count.
 * QEMU leaves out some (slots and max-size without maxmem): optional ones
 * are 0 when absent.  0 or -EPROTO (logged).
 */
int answer_size(JsonNode *r, const char *what, const char *key, bool optional, uint64_t *v)
{
	JsonNode *n = jv_get(r, key);
	const char *why;

	if (!n && optional) {
		*v = 0;
		return 0;
	}
	if (jv_uint(n, v, &why) == 0)
		return 0;
	vf_err("QMP %s: %s: %s: %s", o.qmp, what, key, why);
	return -EPROTO;
}

/* A size property of a QOM object.  0 or -errno (logged). */
int qom_get_size(struct qmp *q, const char *path, const char *prop, uint64_t *v)
{
	JsonNode *r = NULL;
	const char *why;
	char *err = NULL;
	int ret = qmp_cmd(q, "qom-get", qom_args(path, prop), &r, &err);

	if (ret == -EIO && err)
		vf_err("%s: QEMU refused to read its %s: %s", path, prop, err);
	g_free(err);
	if (ret)
		return ret;
	ret = jv_uint(r, v, &why);
	if (ret)
		vf_err("%s: its %s from QEMU: %s", path, prop, why);
	json_node_unref(r);
	return ret;
}

/* A string property of a QOM object; NULL if it has none (not an error here). */
char *qom_get_str(struct qmp *q, const char *path, const char *prop)
{
	JsonNode *r = NULL;
	char *s = NULL;

	if (qmp_cmd(q, "qom-get", qom_args(path, prop), &r, NULL) == 0 && jv_str(r))
		s = g_strdup(jv_str(r));
	g_clear_pointer(&r, json_node_unref);
	return s;
}

int qom_set_size(struct qmp *q, const char *path, const char *prop, uint64_t v, const char *what)
{
	JsonObject *a = qom_args(path, prop);

	/* sizes come from --size (checked) or from QEMU (jv_uint): they fit */
	json_object_set_int_member(a, "value", (gint64)v);
	return cmd(q, "qom-set", a, NULL, what);
}

/* QEMU's memory devices, in *all (json_node_unref it); NULL: failed (logged). */
JsonArray *memory_devices(struct qmp *q, JsonNode **all)
{
	JsonArray *devs;

	if (cmd(q, "query-memory-devices", NULL, all, "listing memory devices"))
		return NULL;
	devs = jv_array(*all);
	if (!devs) {
		vf_err("QMP %s: query-memory-devices: the answer is not a list", o.qmp);
		g_clear_pointer(all, json_node_unref);
	}
	return devs;
}

/* The memory device `id` among devs, or NULL. */
JsonNode *find_device(JsonArray *devs, const char *id)
{
	for (guint i = 0; i < json_array_get_length(devs); i++) {
		JsonNode *d = json_array_get_element(devs, i);

		if (!g_strcmp0(jv_str(jv_get(jv_get(d, "data"), "id")), id))
			return d;
	}
	return NULL;
}

/*
 * Waits until a virtio-mem device's size is `want`.  0, -ETIMEDOUT with
 * *got the size it reached, or -errno (logged).
 */
int wait_vmem_size(struct qmp *q, const char *id, uint64_t want, uint64_t *got)
{
	uint64_t start = vf_now_ms();
	int ret;

	for (;;) {
		ret = qom_get_size(q, id, "size", got);
		if (ret) {
			progress_done();
			return ret;
		}
		if (*got == want || vf_now_ms() - start >= o.timeout_ms) {
			progress_done();
			return *got == want ? 0 : -ETIMEDOUT;
		}
		progress_line("waiting for the guest: %s is at %s of %s (%" PRIu64 " s)", id,
			      fmt_size(*got), fmt_size(want), (vf_now_ms() - start) / 1000);
		usleep(100000);
	}
}

char *vm_name(struct qmp *q)
{
	JsonNode *r = NULL;
	char *name = NULL;

	if (o.vm)
		return g_strdup(o.vm); /* checked by main() */
	if (cmd(q, "query-name", NULL, &r, "query-name") == 0 && jv_str(jv_get(r, "name")))
		name = g_strdup(jv_str(jv_get(r, "name")));
	g_clear_pointer(&r, json_node_unref);
	if (!name || !*name) {
		g_free(name);
		return g_strdup("vm");
	}
	/* a directory name in the mount: no '/', no leading dot, nothing odd */
	for (char *c = name; *c; c++)
		if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_' && *c != '.')
			*c = '_';
	if (name[0] == '.')
		name[0] = '_';
	return name;
}

/* grow an existing virtio-mem device to o.size */
static int grow_vmem(struct qmp *q, JsonNode *dev)
{
	const char *memdev = jv_str(jv_get(jv_get(dev, "data"), "memdev"));
	uint64_t max, bs, got;
	int r;

	if (!memdev) {
		vf_err("%s: QEMU does not say which memory backend it has", o.id);
		return -EPROTO;
	}
	if (qom_get_size(q, memdev, "size", &max) || qom_get_size(q, o.id, "block-size", &bs))
		return -EIO;
	if (!bs) {
		vf_err("%s: its block-size from QEMU is 0", o.id);
		return -EPROTO;
	}
	if (o.size > max) {
		vf_err("%s: %s is more than its backend holds (%s); add another device", o.id,
		       fmt_size(o.size), fmt_size(max));
		return -EINVAL;
	}
	if (o.size % bs) {
		vf_err("%s: %s is not a multiple of its block size %s", o.id, fmt_size(o.size),
		       fmt_size(bs));
		return -EINVAL;
	}
	progress("asking the guest to plug %s of %s (requested-size)", fmt_size(o.size), o.id);
	if (qom_set_size(q, o.id, "requested-size", o.size, o.id))
		return -EIO;
	r = wait_vmem_size(q, o.id, o.size, &got);
	if (r == -ETIMEDOUT)
		vf_err("%s: the guest has plugged %s of %s after %" PRIu64 " s (no virtio_mem "
		       "driver, or no memory hot-plug?); the request stands",
		       o.id, fmt_size(got), fmt_size(o.size), o.timeout_ms / 1000);
	if (r)
		return r;
	printf("%s: virtio-mem at %s\n", o.id, fmt_size(o.size));
	return 0;
}

static int do_grow(struct qmp *q)
{
	static const char memory_conf[] = "qom-get /machine memory";
	static const char summary[] = "query-memory-size-summary";
	bool vmem = !strcmp(o.model, "virtio-mem");
	uint64_t bs = o.block_size ? o.block_size : vmem ? (2u << 20) : (128u << 20);
	uint64_t slots, maxmem, base, plugged;
	JsonNode *all = NULL, *dev, *mem = NULL, *sum = NULL;
	JsonArray *devs;
	JsonObject *args;
	unsigned ndimms = 0;
	struct statfs sfs;
	char *vm = NULL, *dir = NULL, *file = NULL, memid[160];
	int fd, ret = -EINVAL;

	devs = memory_devices(q, &all);
	if (!devs)
		return -EIO;
	dev = find_device(devs, o.id);
	if (dev && o.replicas) {
		vf_err("%s exists already: --replicas is for the file of a new device (a file's "
		       "count is its " XATTR_REPLICAS " attribute, see vofirm-fs(8))",
		       o.id);
		goto out;
	}
	if (dev) {
		if (vmem || !g_strcmp0(jv_str(jv_get(dev, "type")), "virtio-mem")) {
			ret = grow_vmem(q, dev);
			json_node_unref(all);
			return ret;
		}
		vf_err("a memory device '%s' exists already (vofirmctl list)", o.id);
		goto out;
	}
	for (guint i = 0; i < json_array_get_length(devs); i++)
		if (!g_strcmp0(jv_str(jv_get(json_array_get_element(devs, i), "type")), "dimm"))
			ndimms++;

	/* every check before anything changes */
	if (!vf_on_vofirm(o.mount)) {
		vf_err("%s is not a vofirm-fs mount", o.mount);
		goto out;
	}
	if (o.size == 0 || o.size % bs) {
		vf_err("--size %s is not a multiple of the %s block size %s%s", fmt_size(o.size),
		       vmem ? "virtio-mem" : "guest memory", fmt_size(bs),
		       vmem ? "" : " (Linux onlines memory in blocks of that size; --block-size)");
		goto out;
	}
	if (cmd(q, "qom-get", qom_args("/machine", "memory"), &mem,
		"reading the machine's memory configuration") ||
	    cmd(q, summary, NULL, &sum, summary)) {
		ret = -EIO;
		goto out;
	}
	if (answer_size(mem, memory_conf, "slots", true, &slots) ||
	    answer_size(mem, memory_conf, "max-size", true, &maxmem) ||
	    answer_size(sum, summary, "base-memory", false, &base) ||
	    answer_size(sum, summary, "plugged-memory", true, &plugged)) {
		ret = -EPROTO;
		goto out;
	}
	if (!vmem && ndimms >= slots) {
		vf_err("no free memory slot: %u of %" PRIu64 " in use (start QEMU with "
		       "-m SIZE,slots=N,maxmem=MAX)",
		       ndimms, slots);
		goto out;
	}
	/* QEMU's numbers are only known to be below 2^63: a sum of three could wrap */
	if (base > maxmem || plugged > maxmem - base || o.size > maxmem - base - plugged) {
		vf_err("not enough room under maxmem: %s base + %s plugged + %s asked > %s "
		       "(start QEMU with a larger maxmem)",
		       fmt_size(base), fmt_size(plugged), fmt_size(o.size), fmt_size(maxmem));
		goto out;
	}
	/* QEMU opens mem-path from its own working directory: make it absolute */
	vm = vm_name(q);
	{
		char *abs = realpath(o.mount, NULL);

		dir = g_build_filename(abs ? abs : o.mount, vm, NULL);
		free(abs);
	}
	file = g_build_filename(dir, o.id, NULL);
	/* df is in bytes usable at the mount's copy count; the file has its
	 * own (--replicas, else its directory's, which a new directory takes
	 * from the mount's root) */
	if (statfs(o.mount, &sfs) == 0) {
		uint64_t avail = (uint64_t)sfs.f_bavail * (uint64_t)sfs.f_bsize;
		unsigned mount_n = 0, want = o.replicas, nsrv = 0;
		JsonNode *st = read_stats(o.mount, NULL);
		JsonArray *servers = jv_array(jv_get(st, "servers"));
		bool draining, have_servers = servers != NULL;
		uint64_t v;

		if (st && jv_uint(jv_get(jv_get(st, "replication"), "replicas"), &v, NULL) == 0)
			mount_n = (unsigned)v;
		for (guint i = 0; servers && i < json_array_get_length(servers); i++) {
			JsonNode *srv = json_array_get_element(servers, i);

			if (g_strcmp0(jv_str(jv_get(srv, "state")), "lost") &&
			    !stat_bool("stats.json", srv, "a server", "draining", &draining) &&
			    !draining)
				nsrv++;
		}
		g_clear_pointer(&st, json_node_unref);
		if (!want)
			want = xattr_replicas(access(dir, F_OK) == 0 ? dir : o.mount);
		if (!mount_n || !want)
			mount_n = want = 1; /* a vofirm-fs before replication: one copy */
		if (have_servers && want > nsrv) {
			vf_err("%s on distinct servers, but %s has %u server%s that can take "
			       "memory (vofirmctl status --mount %s)",
			       copies(want), o.mount, nsrv, nsrv == 1 ? "" : "s", o.mount);
			ret = -ENOSPC;
			goto out;
		}
		if ((unsigned __int128)o.size * want > (unsigned __int128)avail * mount_n) {
			if (want == mount_n)
				vf_err("the pool cannot cover %s%s%s: %s free (df %s)",
				       fmt_size(o.size), want > 1 ? " at " : "",
				       want > 1 ? copies(want) : "", fmt_size(avail), o.mount);
			else
				vf_err("the pool cannot cover %s at %s: %s free at the mount's %s "
				       "(df %s)",
				       fmt_size(o.size), copies(want), fmt_size(avail),
				       copies(mount_n), o.mount);
			ret = -ENOSPC;
			goto out;
		}
	}

	/* 1: the file, sized: this reserves the remote memory (every copy) */
	if (mkdir(dir, 0755) && errno != EEXIST) {
		ret = -errno;
		vf_err("cannot make %s: %s", dir, strerror(-ret));
		goto out;
	}
	fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		vf_err("cannot create %s: %s%s", file, strerror(-ret),
		       ret == -EEXIST
			       ? " (left over, or another device's? remove it or pick another --id)"
			       : "");
		goto out;
	}
	if (o.replicas) {
		char v[16];

		snprintf(v, sizeof(v), "%u", o.replicas);
		if (fsetxattr(fd, XATTR_REPLICAS, v, strlen(v), 0)) {
			ret = -errno;
			close(fd);
			unlink(file);
			vf_err("cannot ask for %s of %s: %s%s", copies(o.replicas), file,
			       strerror(-ret),
			       ret == -ENOTSUP ? " (a vofirm-fs that has no replication?)" : "");
			goto out;
		}
	}
	{
		char v[8] = "";
		ssize_t n = fgetxattr(fd, XATTR_REPLICAS, v, sizeof(v) - 1);
		unsigned k = n > 0 ? (unsigned)strtoul(v, NULL, 10) : 0;

		if (k > 1)
			progress("reserving %s in the pool (%s), %s: %s", fmt_size(o.size), file,
				 copies(k), fmt_size(o.size * k));
		else
			progress("reserving %s in the pool (%s)", fmt_size(o.size), file);
		if (ftruncate(fd, (off_t)o.size)) {
			ret = -errno;
			close(fd);
			unlink(file);
			vf_err("the pool cannot cover %s%s%s: %s", fmt_size(o.size),
			       k > 1 ? " at " : "", k > 1 ? copies(k) : "", strerror(-ret));
			goto out;
		}
	}
	close(fd);

	/* 2: the backend */
	snprintf(memid, sizeof(memid), "%s-mem", o.id);
	args = json_object_new();
	json_object_set_string_member(args, "qom-type", "memory-backend-file");
	json_object_set_string_member(args, "id", memid);
	json_object_set_string_member(args, "mem-path", file);
	json_object_set_int_member(args, "size", (gint64)o.size);
	json_object_set_boolean_member(args, "share", TRUE);
	progress("object-add %s", memid);
	ret = cmd(q, "object-add", args, NULL, "adding the memory backend");
	if (ret == -EIO || ret == -EINVAL) {
		unlink(file); /* QEMU refused it, or it was not sent: nothing uses the file */
		goto out;
	}
	if (ret) {
		vf_err("QEMU did not answer object-add: it may still add %s; %s stays for it "
		       "(check with vofirmctl list)",
		       memid, file);
		goto out;
	}

	/* 3: the device */
	args = json_object_new();
	json_object_set_string_member(args, "driver", vmem ? "virtio-mem-pci" : "pc-dimm");
	json_object_set_string_member(args, "id", o.id);
	json_object_set_string_member(args, "memdev", memid);
	if (vmem) {
		/* plugged below, once the device is in place: the file's size
		 * reserved all of it, and QEMU's discard keeps that reserved */
		json_object_set_int_member(args, "requested-size", 0);
		json_object_set_int_member(args, "block-size", (gint64)bs);
	}
	progress("device_add %s %s", vmem ? "virtio-mem-pci" : "pc-dimm", o.id);
	ret = cmd(q, "device_add", args, NULL, "adding the memory device");
	if (ret) {
		if (cmd(q, "object-del", id_args(memid), NULL, "undoing object-add") == 0)
			unlink(file);
		else
			vf_err("could not undo: backend %s and file %s stay (QEMU's state is "
			       "unknown; check with vofirmctl list)",
			       memid, file);
		goto out;
	}
	if (vmem) {
		uint64_t got;

		progress("asking the guest to plug %s of %s", fmt_size(o.size), o.id);
		if (qom_set_size(q, o.id, "requested-size", o.size, o.id)) {
			ret = -EIO;
			goto out;
		}
		ret = wait_vmem_size(q, o.id, o.size, &got);
		if (ret == -ETIMEDOUT)
			vf_err("%s: added, but the guest has plugged %s of %s after %" PRIu64 " s "
			       "(no virtio_mem driver?); the device stays, asking for it",
			       o.id, fmt_size(got), fmt_size(o.size), o.timeout_ms / 1000);
		if (ret)
			goto out;
	}
	printf("grew the VM by %s: %s %s backed by %s\n", fmt_size(o.size),
	       vmem ? "virtio-mem" : "pc-dimm", o.id, file);
	ret = 0;
out:
	g_clear_pointer(&all, json_node_unref);
	g_clear_pointer(&mem, json_node_unref);
	g_clear_pointer(&sum, json_node_unref);
	g_free(vm);
	g_free(dir);
	g_free(file);
	return ret;
}

/* object-del the backend and remove its file (after the device is gone). */
int drop_backend(struct qmp *q, const char *memdev_path)
{
	const char *memid = strrchr(memdev_path, '/') ? strrchr(memdev_path, '/') + 1 : memdev_path;
	char *file = qom_get_str(q, memdev_path, "mem-path");
	int ret;

	ret = cmd(q, "object-del", id_args(memid), NULL, "removing the memory backend");
	if (ret) {
		g_free(file);
		return ret;
	}
	if (file && !o.keep_file && vf_on_vofirm(file)) {
		/* QEMU closes the file shortly after object-del: the memory is
		 * freed when the last handle goes */
		if (unlink(file))
			vf_warn("cannot remove %s: %s", file, strerror(errno));
		else
			progress("removed %s: its memory goes back to the pool", file);
	}
	g_free(file);
	return 0;
}

static int do_shrink(struct qmp *q)
{
	JsonNode *all = NULL, *dev;
	JsonArray *devs;
	const char *type, *memdev;
	char objpath[256];
	int ret = -EINVAL;

	devs = memory_devices(q, &all);
	if (!devs)
		return -EIO;
	dev = find_device(devs, o.id);
	if (!dev) {
		/* a DIMM the guest released after an earlier shrink gave up: finish it */
		snprintf(objpath, sizeof(objpath), "/objects/%s-mem", o.id);
		char *file = qom_get_str(q, objpath, "mem-path");

		if (file) {
			g_free(file);
			progress("%s is gone already; removing its backend", o.id);
			ret = drop_backend(q, objpath);
			if (!ret)
				printf("%s: removed\n", o.id);
			json_node_unref(all);
			return ret;
		}
		vf_err("no memory device '%s' in this VM (vofirmctl list shows them)", o.id);
		json_node_unref(all);
		return -ENOENT;
	}
	type = jv_str(jv_get(dev, "type"));
	memdev = jv_str(jv_get(jv_get(dev, "data"), "memdev"));

	if (!g_strcmp0(type, "virtio-mem")) {
		uint64_t target = o.size_set ? o.size : 0, bs, got;

		if (qom_get_size(q, o.id, "block-size", &bs)) {
			ret = -EIO;
			goto out;
		}
		if (bs && target % bs) {
			vf_err("%s: %s is not a multiple of its block size %s", o.id,
			       fmt_size(target), fmt_size(bs));
			goto out;
		}
		progress("asking the guest to unplug %s down to %s", o.id, fmt_size(target));
		if (qom_set_size(q, o.id, "requested-size", target, o.id)) {
			ret = -EIO;
			goto out;
		}
		ret = wait_vmem_size(q, o.id, target, &got);
		if (ret == -ETIMEDOUT) {
			/* stop asking: the guest keeps what it could not give */
			qom_set_size(q, o.id, "requested-size", got, o.id);
			vf_err("%s: the guest gave back only down to %s of %s asked within %" PRIu64
			       " s: its memory is in use; %s stays at %s and working",
			       o.id, fmt_size(got), fmt_size(target), o.timeout_ms / 1000, o.id,
			       fmt_size(got));
			ret = -EBUSY;
		}
		if (ret)
			goto out;
		printf("%s: virtio-mem at %s; what it gave back stays reserved for it%s\n", o.id,
		       fmt_size(target),
		       target ? ""
			      : " (the device itself stays: QEMU 7.2 "
				"cannot unplug virtio-mem)");
		goto out;
	}

	progress("device_del %s", o.id);
	qmp_watch(q, "DEVICE_DELETED", o.id);
	ret = cmd(q, "device_del", id_args(o.id), NULL, "removing the memory device");
	if (ret)
		goto out;
	progress("waiting up to %" PRIu64 " s for the guest to release %s (DEVICE_DELETED)",
		 o.timeout_ms / 1000, o.id);
	ret = qmp_wait_event(q, (unsigned)o.timeout_ms);
	if (ret && ret != -ETIMEDOUT) {
		vf_err("%s: QMP %s failed while waiting for the guest to release it (%s): whether "
		       "it did is unknown; check with vofirmctl list",
		       o.id, o.qmp, strerror(-ret));
		goto out;
	}
	if (ret) {
		vf_err("%s: the guest did not release it within %" PRIu64 " s: its memory is in "
		       "use (or not movable); %s stays attached and working. If the guest lets "
		       "go later, run vofirmctl shrink --id %s again to finish",
		       o.id, o.timeout_ms / 1000, o.id, o.id);
		ret = -EBUSY;
		goto out;
	}
	ret = memdev ? drop_backend(q, memdev) : 0;
	if (!ret)
		printf("%s: removed\n", o.id);
out:
	json_node_unref(all);
	return ret;
}

static int do_list(struct qmp *q)
{
	JsonNode *all = NULL;
	JsonArray *devs = memory_devices(q, &all), *js = NULL;
	int ret = 0;

	if (!devs)
		return -EIO;
	if (o.json)
		js = json_array_new();
	else
		printf("%-16s %-11s %10s %10s  %s\n", "ID", "MODEL", "SIZE", "REQUESTED",
		       "BACKING");
	for (guint i = 0; i < json_array_get_length(devs); i++) {
		JsonNode *dev = json_array_get_element(devs, i), *d = jv_get(dev, "data");
		const char *id = jv_str(jv_get(d, "id")) ?: "";
		const char *memdev = jv_str(jv_get(d, "memdev"));
		bool vmem = !g_strcmp0(jv_str(jv_get(dev, "type")), "virtio-mem");
		char *path, what[128];
		uint64_t size, req;
		bool vf;

		snprintf(what, sizeof(what), "memory device '%s'", id);
		if (answer_size(d, what, "size", true, &size) ||
		    answer_size(d, what, vmem ? "requested-size" : "size", true, &req)) {
			ret = -EPROTO;
			break;
		}
		path = memdev ? qom_get_str(q, memdev, "mem-path") : NULL;
		vf = path && vf_on_vofirm(path);
		if (js) {
			JsonObject *e = json_object_new();

			json_object_set_string_member(e, "id", id);
			json_object_set_string_member(e, "model", vmem ? "virtio-mem" : "pc-dimm");
			json_object_set_int_member(e, "size", (gint64)size);
			json_object_set_int_member(e, "requested_size", (gint64)req);
			json_object_set_boolean_member(e, "vofirm", vf);
			if (path)
				json_object_set_string_member(e, "file", path);
			else
				json_object_set_null_member(e, "file");
			json_array_add_object_element(js, e);
		} else {
			printf("%-16s %-11s %10s %10s  %s%s\n", id, vmem ? "virtio-mem" : "pc-dimm",
			       fmt_size(size), fmt_size(req), path ? path : "-",
			       vf ? " (vofirm)" : "");
		}
		g_free(path);
	}
	if (js) {
		JsonNode *out = json_node_init_array(json_node_alloc(), js);
		char *text = ret ? NULL : jv_text(out);

		if (text) {
			printf("%s\n", text);
		} else if (!ret) {
			vf_err("the list cannot be written as JSON: a name or path is not UTF-8");
			ret = -EINVAL;
		}
		g_free(text);
		json_node_unref(out);
		json_array_unref(js);
	}
	json_node_unref(all);
	return ret;
}

/* keys[] of obj, the part `what` of the stats file, into v[]; -EPROTO (logged) for one not a size. */
static int stat_sizes(const char *file, JsonNode *obj, const char *what, const char *const *keys,
		      unsigned n, uint64_t *v)
{
	const char *why;

	for (unsigned i = 0; i < n; i++)
		if (jv_uint(jv_get(obj, keys[i]), &v[i], &why)) {
			vf_err("%s: %s.%s: %s", file, what, keys[i], why);
			return -EPROTO;
		}
	return 0;
}

/* The median latency `key` (a float) of server `what`, in whole microseconds. */
static int stat_p50(const char *file, JsonNode *srv, const char *what, const char *key,
		    uint64_t *us)
{
	const char *why;

	if (jv_floor(jv_get(jv_get(srv, key), "p50"), us, &why) == 0)
		return 0;
	vf_err("%s: %s.%s.p50: %s", file, what, key, why);
	return -EPROTO;
}

/* An optional size of a stats row: *has false when absent (an older vofirm-fs). */
static int stat_opt(const char *file, JsonNode *row, const char *what, const char *key, uint64_t *v,
		    bool *has)
{
	*has = jv_get(row, key) != NULL;
	*v = 0;
	return *has ? stat_sizes(file, row, what, &key, 1, v) : 0;
}

/* What the copies of n extents whose file is handed off wait for (a static buffer). */
static const char *handoff_why(uint64_t n)
{
	static char why[160];

	snprintf(why, sizeof(why),
		 "%" PRIu64 " extent%s of files handed to another mount (a live migration "
		 "pending: they move once it is committed or aborted)",
		 n, n == 1 ? "" : "s");
	return why;
}

/* What a drain waits for, from the mount's stats. */
struct drain_state {
	uint64_t held;	   /* bytes on the drained server */
	uint64_t degraded; /* the mount's degraded bytes */
	uint64_t rate;	   /* the repair's bytes/s */
	uint64_t blocked;  /* extents whose new copy found no server with room */
	uint64_t waiting;  /* extents whose new copy waits for a server that is down */
	uint64_t handoff;  /* extents whose copies wait for a pending handoff of their file */
	unsigned ndown;	   /* servers down now, other than the drained one */
	char down[512];	   /* their URLs: "URL, URL" */
};

/* Why the copies do not move, in why ("" if nothing is said to hold them). */
static void drain_why(const struct drain_state *st, char *why, size_t len)
{
	size_t n = 0;

	why[0] = 0;
	if (st->waiting && st->ndown)
		n += (size_t)snprintf(
			why, len, "server%s %s %s down (%" PRIu64 " extent%s wait for %s)",
			st->ndown == 1 ? "" : "s", st->down, st->ndown == 1 ? "is" : "are",
			st->waiting, st->waiting == 1 ? "" : "s", st->ndown == 1 ? "it" : "them");
	else if (st->waiting)
		n += (size_t)snprintf(why, len,
				      "%" PRIu64 " extent%s wait for a server that does not answer",
				      st->waiting, st->waiting == 1 ? "" : "s");
	if (st->handoff && n < len)
		n += (size_t)snprintf(why + n, len - n, "%s%s", n ? "; " : "",
				      handoff_why(st->handoff));
	if (st->blocked && n < len)
		snprintf(why + n, len - n,
			 "%sNO ROOM for %" PRIu64 " extent%s: no other server has room (add a "
			 "server or free memory)",
			 n ? "; " : "", st->blocked, st->blocked == 1 ? "" : "s");
}

/*
 * The replication line of status: "healthy (...)", "STUCK: ..." (nothing
 * is degraded, but copies that must move cannot: no room, a server down,
 * a pending handoff) or "degraded: X to rebuild, ETA", what waits and
 * why, and what is lost; then a line for each server being drained: what
 * is left on it and, when the copies cannot move, "stuck: WHY".  The same
 * in health, for --json: state ("healthy", "stuck", "degraded"; "unknown"
 * for a vofirm-fs from before replication, which has no such object and
 * gets no line), replication (the line), waiting (why copies do not move,
 * or null) and draining (per server being drained: server, held, stuck,
 * waiting).  0 or -EPROTO.
 */
static int repl_status(const char *file, JsonNode *d, GString *out, JsonObject *health)
{
	static const char *const keys[] = {
		"replicas",   "degraded_bytes",		 "unprotected_bytes",
		"lost_bytes", "repair_rate_bytes_per_s", "repair_blocked_extents"
	};
	JsonNode *r = jv_get(d, "replication");
	JsonArray *servers = jv_array(jv_get(d, "servers")), *draining = json_array_new();
	uint64_t v[VF_ARRAY_SIZE(keys)], rebuild, away_held = 0;
	struct drain_state st = { 0 };
	GString *line = g_string_new(NULL);
	const char *state;
	char why[768] = "", what[32];
	unsigned away = 0;
	bool has, stuck;
	int ret = -EPROTO;

	if (!r) {
		json_object_set_string_member(health, "state", "unknown");
		json_object_set_null_member(health, "replication");
		json_object_set_null_member(health, "waiting");
		ret = 0;
		goto out;
	}
	if (stat_sizes(file, r, "replication", keys, VF_ARRAY_SIZE(keys), v) ||
	    stat_opt(file, r, "replication", "repair_waiting_extents", &st.waiting, &has) ||
	    stat_opt(file, r, "replication", "repair_handoff_extents", &st.handoff, &has))
		goto out;
	st.degraded = v[1];
	st.rate = v[4];
	st.blocked = v[5];
	/* the servers a waiting copy may go to once back: down, not drained (as drain) */
	for (guint i = 0; servers && i < json_array_get_length(servers); i++) {
		JsonNode *s = json_array_get_element(servers, i);
		const char *url = jv_str(jv_get(s, "url"));
		size_t len = strlen(st.down);
		bool dr = false;

		snprintf(what, sizeof(what), "servers[%u]", i);
		if (stat_bool(file, s, what, "draining", &dr))
			goto out;
		if (!url || dr || g_strcmp0(jv_str(jv_get(s, "state")), "down"))
			continue;
		snprintf(st.down + len, sizeof(st.down) - len, "%s%s", st.ndown ? ", " : "", url);
		st.ndown++;
	}
	stuck = st.blocked || st.waiting || st.handoff;
	if (stuck)
		drain_why(&st, why, sizeof(why));
	/* lost bytes are degraded bytes with no copy left: nothing to rebuild them from */
	rebuild = v[1] > v[3] ? v[1] - v[3] : 0;
	state = v[1] || v[3] ? "degraded" : stuck ? "stuck" : "healthy";
	if (!v[1] && !v[3] && !stuck)
		g_string_append_printf(line,
				       "healthy (every file has the copies it asks for; %s unless "
				       "a file asks otherwise)",
				       copies(v[0]));
	else if (!v[1] && !v[3])
		g_string_append_printf(line,
				       "STUCK: copies that must move cannot (every file still has "
				       "the copies it asks for; %s unless a file asks otherwise)",
				       copies(v[0]));
	else if (!rebuild)
		g_string_append(line, "degraded: nothing left to rebuild");
	else if (!v[4])
		g_string_append_printf(line, "degraded: %s to rebuild, ETA unknown",
				       fmt_mib(rebuild));
	else
		g_string_append_printf(line, "degraded: %s to rebuild, ETA %" PRIu64 " s",
				       fmt_mib(rebuild), (rebuild + v[4] - 1) / v[4]);
	if (v[2])
		g_string_append_printf(line, ", %s on a single copy", fmt_mib(v[2]));
	if (v[5])
		g_string_append_printf(line,
				       ", NO ROOM for %" PRIu64 " extent%s (add a server or free "
				       "memory)",
				       v[5], v[5] == 1 ? "" : "s");
	if (st.waiting)
		g_string_append_printf(line,
				       ", %" PRIu64 " extent%s waiting for a server that is down",
				       st.waiting, st.waiting == 1 ? "" : "s");
	if (st.handoff)
		g_string_append_printf(line, ", %s", handoff_why(st.handoff));
	if (v[3])
		g_string_append_printf(line, ", LOST: %s", fmt_mib(v[3]));
	/* copies on a server that is away count as healthy until its lease runs out */
	for (guint i = 0; servers && i < json_array_get_length(servers); i++) {
		JsonNode *s = json_array_get_element(servers, i);
		const char *sstate = jv_str(jv_get(s, "state"));
		uint64_t held;

		if (sstate && strcmp(sstate, "up") &&
		    jv_uint(jv_get(s, "held"), &held, NULL) == 0 && held) {
			away++;
			away_held += held;
		}
	}
	if (away)
		g_string_append_printf(line, "; %u server%s away, holding %s", away,
				       away == 1 ? "" : "s", fmt_mib(away_held));
	g_string_append_printf(out, "replication: %s\n", line->str);
	/* the drains: a lost entry of a URL is an earlier instance of it */
	for (guint i = 0; servers && i < json_array_get_length(servers); i++) {
		JsonNode *s = json_array_get_element(servers, i);
		const char *url = jv_str(jv_get(s, "url"));
		JsonObject *e;
		uint64_t held;
		bool dr = false;

		stat_bool(file, s, "a server", "draining", &dr); /* checked above */
		if (!url || !dr || !g_strcmp0(jv_str(jv_get(s, "state")), "lost"))
			continue;
		snprintf(what, sizeof(what), "servers[%u]", i);
		if (stat_sizes(file, s, what, (const char *const[]){ "held" }, 1, &held))
			goto out;
		e = json_object_new();
		json_object_set_string_member(e, "server", url);
		json_object_set_int_member(e, "held", (gint64)held);
		if (!held && !st.degraded) {
			g_string_append_printf(out,
					       "draining %s: drained (it holds nothing and can be "
					       "stopped)\n",
					       url);
		} else {
			g_string_append_printf(out, "draining %s: %s left", url, fmt_mib(held));
			if (!held)
				g_string_append_printf(out, ", %s still to rebuild",
						       fmt_mib(st.degraded));
			if (why[0])
				g_string_append_printf(out, "; stuck: %s", why);
			else if (st.rate)
				g_string_append_printf(out, " (repair at %s/s)", fmt_mib(st.rate));
			g_string_append_c(out, '\n');
		}
		json_object_set_boolean_member(e, "stuck", (held || st.degraded) && why[0]);
		if ((held || st.degraded) && why[0])
			json_object_set_string_member(e, "waiting", why);
		else
			json_object_set_null_member(e, "waiting");
		json_array_add_object_element(draining, e);
	}
	json_object_set_string_member(health, "state", state);
	json_object_set_string_member(health, "replication", line->str);
	if (why[0])
		json_object_set_string_member(health, "waiting", why);
	else
		json_object_set_null_member(health, "waiting");
	ret = 0;
out:
	json_object_set_array_member(health, "draining", draining);
	g_string_free(line, TRUE);
	return ret;
}

/*
 * The processes of a mount (stats.json of a vofirm-fs with a supervisor):
 * the supervisor, which holds the mount, its current worker, the workers
 * started after the first, and why the last planned restart was refused.
 */
struct fs_procs {
	uint64_t supervisor, worker, restarts;
	char *error; /* NULL: none; g_free it */
};

/* 0, -ENOENT when the stats have no such fields (an older vofirm-fs), or -EPROTO (logged). */
static int read_procs(const char *file, JsonNode *d, struct fs_procs *p)
{
	static const char *const keys[] = { "supervisor_pid", "worker_pid", "worker_restarts" };
	JsonNode *e = jv_get(d, "restart_error");
	uint64_t v[VF_ARRAY_SIZE(keys)];

	memset(p, 0, sizeof(*p));
	if (!jv_get(d, "supervisor_pid"))
		return -ENOENT;
	if (stat_sizes(file, d, "stats", keys, VF_ARRAY_SIZE(keys), v))
		return -EPROTO;
	if (v[0] < 2 || v[0] > INT32_MAX || v[1] < 2 || v[1] > INT32_MAX) {
		vf_err("%s: supervisor_pid %" PRIu64 ", worker_pid %" PRIu64 ": not process ids",
		       file, v[0], v[1]);
		return -EPROTO;
	}
	if (e && !JSON_NODE_HOLDS_NULL(e) && !jv_str(e)) {
		vf_err("%s: restart_error: not a string or null", file);
		return -EPROTO;
	}
	p->supervisor = v[0];
	p->worker = v[1];
	p->restarts = v[2];
	p->error = g_strdup(jv_str(e));
	return 0;
}

/* status: "vofirm-fs: supervisor S, worker W (N restarts)", if the stats have them. */
static int procs_status(const char *file, JsonNode *d, GString *out)
{
	struct fs_procs p;
	int ret = read_procs(file, d, &p);

	if (ret)
		return ret == -ENOENT ? 0 : ret;
	g_string_append_printf(out,
			       "vofirm-fs: supervisor %" PRIu64 ", worker %" PRIu64 " (%" PRIu64
			       " restart%s)",
			       p.supervisor, p.worker, p.restarts, p.restarts == 1 ? "" : "s");
	if (p.error)
		g_string_append_printf(out, "; the last planned restart was refused: %s", p.error);
	g_string_append_c(out, '\n');
	g_free(p.error);
	return 0;
}

/*
 * A server that does not answer (stats.json "answering": false; absent
 * from an older vofirm-fs): for how long, and how old the figures shown
 * for it are (vofirm-fs answers with the last ones it saw).
 */
static int silent_status(const char *file, JsonNode *srv, const char *what, GString *out)
{
	JsonNode *age = jv_get(srv, "figures_age_ms");
	uint64_t ms, age_ms;
	bool answering, has_ms;

	if (!jv_get(srv, "answering"))
		return 0;
	if (stat_bool(file, srv, what, "answering", &answering) ||
	    stat_opt(file, srv, what, "unanswered_ms", &ms, &has_ms))
		return -EPROTO;
	if (answering)
		return 0;
	g_string_append(out, ", not answering");
	if (ms)
		g_string_append_printf(out, " for %.1f s", (double)ms / 1000.0);
	if (age && !JSON_NODE_HOLDS_NULL(age)) {
		if (stat_opt(file, srv, what, "figures_age_ms", &age_ms, &has_ms))
			return -EPROTO;
		g_string_append_printf(out, " (figures from %.1f s ago)", (double)age_ms / 1000.0);
	}
	return 0;
}

/* Nothing is printed unless the whole file reads well. */
static int do_status(void)
{
	static const char *const pool_keys[] = { "capacity", "used", "free", "held_by_this_mount" };
	static const char *const server_keys[] = { "held", "bytes_read", "bytes_written",
						   "errors" };
	static const char *const file_keys[] = { "size", "reserved", "bytes_read",
						 "bytes_written" };
	char *path = g_build_filename(o.mount, ".vofirm", "stats.json", NULL), *text = NULL;
	char *err = NULL, what[32];
	GString *out = g_string_new(NULL);
	JsonObject *health = json_object_new();
	JsonArray *servers, *files;
	JsonNode *d = NULL;
	GError *gerr = NULL;
	uint64_t v[4], rd, wr, n, degraded;
	bool draining, has_n, has_degraded;
	int ret = -EPROTO;

	if (!g_file_get_contents(path, &text, NULL, &gerr)) {
		vf_err("%s: %s (is %s a vofirm-fs mount?)", path, gerr->message, o.mount);
		g_error_free(gerr);
		ret = -ENOENT;
		goto out;
	}
	d = jv_parse(text, &err);
	if (!d) {
		vf_err("%s: not JSON: %s", path, err);
		goto out;
	}
	if (!JSON_NODE_HOLDS_OBJECT(d)) {
		vf_err("%s: not a JSON object", path);
		goto out;
	}
	if (stat_sizes(path, jv_get(d, "pool"), "pool", pool_keys, VF_ARRAY_SIZE(pool_keys), v))
		goto out;
	g_string_append_printf(out, "pool: %s, %s used, %s free; this mount holds %s\n",
			       fmt_size(v[0]), fmt_size(v[1]), fmt_size(v[2]), fmt_size(v[3]));
	if (repl_status(path, d, out, health))
		goto out;
	if (o.json) {
		/* the stats as they are, and what the text says of their health */
		JsonObject *js = json_object_ref(json_node_get_object(d));

		json_object_set_object_member(js, "health", g_steal_pointer(&health));
		json_print(js, 0);
		g_string_truncate(out, 0);
		ret = 0;
		goto out;
	}
	if (procs_status(path, d, out))
		goto out;
	servers = jv_array(jv_get(d, "servers"));
	files = jv_array(jv_get(d, "files"));
	if (!servers || !files) {
		vf_err("%s: %s: missing, or not a list", path, servers ? "files" : "servers");
		goto out;
	}
	for (guint i = 0; i < json_array_get_length(servers); i++) {
		JsonNode *s = json_array_get_element(servers, i);
		const char *url = jv_str(jv_get(s, "url")), *state = jv_str(jv_get(s, "state"));

		snprintf(what, sizeof(what), "servers[%u]", i);
		if (!url || !state) {
			vf_err("%s: %s: no url or no state", path, what);
			goto out;
		}
		if (stat_sizes(path, s, what, server_keys, VF_ARRAY_SIZE(server_keys), v) ||
		    stat_p50(path, s, what, "read_latency_us", &rd) ||
		    stat_p50(path, s, what, "write_latency_us", &wr) ||
		    stat_bool(path, s, what, "draining", &draining))
			goto out;
		g_string_append_printf(out, "server %s: %s%s", url, state,
				       draining ? ", draining" : "");
		if (silent_status(path, s, what, out))
			goto out;
		g_string_append_printf(
			out,
			", holds %s; read %s, written %s; "
			"read p50 %" PRIu64 " us, write p50 %" PRIu64 " us; %" PRIu64 " errors\n",
			fmt_size(v[0]), fmt_size(v[1]), fmt_size(v[2]), rd, wr, v[3]);
	}
	for (guint i = 0; i < json_array_get_length(files); i++) {
		JsonNode *f = json_array_get_element(files, i);
		const char *fpath = jv_str(jv_get(f, "path"));

		snprintf(what, sizeof(what), "files[%u]", i);
		if (!fpath) {
			vf_err("%s: %s: no path", path, what);
			goto out;
		}
		if (stat_sizes(path, f, what, file_keys, VF_ARRAY_SIZE(file_keys), v) ||
		    stat_opt(path, f, what, "replicas", &n, &has_n) ||
		    stat_opt(path, f, what, "degraded_bytes", &degraded, &has_degraded))
			goto out;
		g_string_append_printf(out, "file %s: %s, %s reserved", fpath, fmt_size(v[0]),
				       fmt_size(v[1]));
		if (has_n)
			g_string_append_printf(out, ", %s", copies(n));
		if (degraded)
			g_string_append_printf(out, ", %s degraded", fmt_mib(degraded));
		g_string_append_printf(out, "; read %s, written %s\n", fmt_size(v[2]),
				       fmt_size(v[3]));
	}
	ret = 0;
out:
	if (!ret)
		fputs(out->str, stdout);
	g_string_free(out, TRUE);
	if (health)
		json_object_unref(health);
	g_clear_pointer(&d, json_node_unref);
	g_free(err);
	g_free(text);
	g_free(path);
	return ret;
}

/* The state of the drain of o.server; 0, or -errno (logged). */
static int read_drain_state(struct drain_state *st)
{
	static const char *const keys[] = { "degraded_bytes", "repair_rate_bytes_per_s",
					    "repair_blocked_extents" };
	char *file = g_build_filename(o.mount, ".vofirm", "stats.json", NULL), what[32];
	JsonNode *d = read_stats(o.mount, NULL), *r;
	JsonArray *servers;
	uint64_t v[VF_ARRAY_SIZE(keys)];
	bool has, found = false;
	int ret = -EPROTO;

	memset(st, 0, sizeof(*st));
	if (!d) {
		ret = -EIO;
		goto out;
	}
	r = jv_get(d, "replication");
	servers = jv_array(jv_get(d, "servers"));
	if (!r || !servers) {
		vf_err("%s: no %s (a vofirm-fs that cannot drain?)", file,
		       r ? "servers" : "replication");
		goto out;
	}
	/* repair_waiting_extents, repair_handoff_extents: none from a vofirm-fs older than them */
	if (stat_sizes(file, r, "replication", keys, VF_ARRAY_SIZE(keys), v) ||
	    stat_opt(file, r, "replication", "repair_waiting_extents", &st->waiting, &has) ||
	    stat_opt(file, r, "replication", "repair_handoff_extents", &st->handoff, &has))
		goto out;
	st->degraded = v[0];
	st->rate = v[1];
	st->blocked = v[2];
	for (guint i = 0; i < json_array_get_length(servers); i++) {
		JsonNode *s = json_array_get_element(servers, i);
		const char *url = jv_str(jv_get(s, "url")), *state = jv_str(jv_get(s, "state"));
		size_t len = strlen(st->down);
		bool draining = false;

		snprintf(what, sizeof(what), "servers[%u]", i);
		/* a lost entry of that URL is an earlier instance of it */
		if (!g_strcmp0(url, o.server) && g_strcmp0(state, "lost")) {
			if (stat_sizes(file, s, what, (const char *const[]){ "held" }, 1,
				       &st->held))
				goto out;
			found = true;
			continue;
		}
		/* where a new copy may go once it is back: not a drained one */
		if (!url || g_strcmp0(state, "down") ||
		    stat_bool(file, s, what, "draining", &draining) || draining)
			continue;
		snprintf(st->down + len, sizeof(st->down) - len, "%s%s", st->ndown ? ", " : "",
			 url);
		st->ndown++;
	}
	ret = 0;
	if (!found) {
		vf_err("%s: no server %s", file, o.server);
		ret = -ENOENT;
	}
out:
	g_clear_pointer(&d, json_node_unref);
	g_free(file);
	return ret;
}

/*
 * Drains a server: user.vofirm.drain on the mount's .vofirm, then the
 * stats every 0.5 s until the server holds nothing and nothing is
 * degraded, or --timeout.  While the copies cannot move, it says why.
 * The drain goes on in vofirm-fs whatever happens here.
 */
static int do_drain(void)
{
	char *ctl = g_build_filename(o.mount, ".vofirm", NULL), line[1024], why[768] = "";
	uint64_t start = vf_now_ms(), held0 = 0;
	struct drain_state st = { 0 };
	bool done = false, first = true;
	int ret;

	if (!vf_on_vofirm(o.mount)) {
		vf_err("%s is not a vofirm-fs mount", o.mount);
		ret = -EINVAL;
		goto out;
	}
	if (setxattr(ctl, XATTR_DRAIN, o.server, strlen(o.server), 0)) {
		ret = -errno;
		if (ret == -ENOENT)
			vf_err("%s has no server %s (vofirmctl status --mount %s lists them)",
			       o.mount, o.server, o.mount);
		else if (ret == -EPERM || ret == -EACCES)
			vf_err("cannot drain %s: only root or the user who mounted %s may",
			       o.server, o.mount);
		else if (ret == -ENOTSUP)
			vf_err("cannot drain %s: the vofirm-fs at %s cannot drain (an older version?)",
			       o.server, o.mount);
		else
			vf_err("cannot drain %s from %s: %s", o.server, o.mount, strerror(-ret));
		goto out;
	}
	progress("draining %s: no new memory there; its copies move to the other servers",
		 o.server);
	for (;;) {
		ret = read_drain_state(&st);
		if (ret)
			break;
		if (first)
			held0 = st.held;
		first = false;
		if (!st.held && !st.degraded) {
			done = true;
			why[0] = 0;
			break;
		}
		drain_why(&st, why, sizeof(why));
		snprintf(line, sizeof(line), "draining %s: %s left", o.server, fmt_mib(st.held));
		if (!st.held)
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 ", %s still to rebuild", fmt_mib(st.degraded));
		if (st.rate)
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 " (repair at %s/s)", fmt_mib(st.rate));
		if (why[0])
			snprintf(line + strlen(line), sizeof(line) - strlen(line), "; waiting: %s",
				 why);
		progress_line("%s", line);
		if (o.timeout_set && vf_now_ms() - start >= o.timeout_ms) {
			ret = -ETIMEDOUT;
			break;
		}
		usleep(500000);
	}
	progress_done();
	if (ret == -ETIMEDOUT)
		vf_err("%s is not drained after %" PRIu64 " s: %s left on it, %s degraded%s%s; the "
		       "drain goes on in vofirm-fs (vofirmctl status --mount %s)",
		       o.server, o.timeout_ms / 1000, fmt_mib(st.held), fmt_mib(st.degraded),
		       why[0] ? "; waiting: " : "", why, o.mount);
	else if (ret)
		vf_err("cannot follow the drain of %s (above); it goes on in vofirm-fs", o.server);
	if (o.json) {
		JsonObject *js = json_object_new();

		json_object_set_string_member(js, "server", o.server);
		json_object_set_boolean_member(js, "drained", done);
		json_object_set_int_member(js, "held", (gint64)st.held);
		json_object_set_int_member(js, "degraded_bytes", (gint64)st.degraded);
		json_object_set_int_member(js, "moved",
					   (gint64)(held0 > st.held ? held0 - st.held : 0));
		json_object_set_int_member(js, "seconds", (gint64)((vf_now_ms() - start) / 1000));
		json_object_set_int_member(js, "repair_blocked_extents", (gint64)st.blocked);
		json_object_set_int_member(js, "repair_waiting_extents", (gint64)st.waiting);
		json_object_set_int_member(js, "repair_handoff_extents", (gint64)st.handoff);
		if (why[0])
			json_object_set_string_member(js, "waiting", why);
		else
			json_object_set_null_member(js, "waiting");
		json_print(js, ret);
	} else if (done) {
		printf("%s: drained (%s moved in %" PRIu64 " s); it holds nothing of %s and can be "
		       "stopped\n",
		       o.server, fmt_mib(held0), (vf_now_ms() - start) / 1000, o.mount);
	}
out:
	g_free(ctl);
	return ret;
}

/* The mount's processes, from its stats; 0 or -errno (logged). */
static int mount_procs(struct fs_procs *p)
{
	char *file = g_build_filename(o.mount, ".vofirm", "stats.json", NULL);
	JsonNode *d = read_stats(o.mount, NULL);
	int ret = -EIO;

	if (d) {
		ret = read_procs(file, d, p);
		if (ret == -ENOENT)
			vf_err("%s: no supervisor_pid: the vofirm-fs at %s has no supervisor (a "
			       "version from before restarts?) and cannot be restarted in place",
			       file, o.mount);
		json_node_unref(d);
	}
	g_free(file);
	return ret;
}

/*
 * Whether process pid runs vofirm-fs: its name (comm), or else the
 * basename of its executable, starts with "vofirm-fs".  The executable
 * may have been replaced on disk (an upgrade): the link then ends in
 * " (deleted)", and the name still says what it ran.
 */
static bool is_vofirm_fs(pid_t pid, char *what, size_t len)
{
	char path[64], buf[4096], *base;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		snprintf(what, len, "no process %d", (int)pid);
		return false;
	}
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(what, len, "process %d is '%.64s'", (int)pid, buf);
	if (!strncmp(buf, "vofirm-fs", 9))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	base = strrchr(buf, '/');
	return !strncmp(base ? base + 1 : buf, "vofirm-fs", 9);
}

/*
 * A planned restart of the mount's worker: SIGUSR2 to the supervisor,
 * which first runs the binary on disk to check that it reads the mount's
 * state, then has the worker hand over to a new one from that binary.
 * Then the stats every 100 ms until a new worker serves (worker_pid
 * changed, worker_restarts grew), the supervisor reports a refusal
 * (restart_error), or --timeout.
 */
static int do_restart_fs(void)
{
	struct fs_procs before, now = { 0 };
	uint64_t start = vf_now_ms();
	const char *result = "failed";
	char what[128];
	int ret;

	if (!vf_on_vofirm(o.mount)) {
		vf_err("%s is not a vofirm-fs mount", o.mount);
		return -EINVAL;
	}
	ret = mount_procs(&before);
	if (ret)
		return ret;
	if (!is_vofirm_fs((pid_t)before.supervisor, what, sizeof(what))) {
		vf_err("%s/.vofirm/stats.json names supervisor %" PRIu64 ", but %s, not vofirm-fs: "
		       "no signal sent",
		       o.mount, before.supervisor, what);
		ret = -ESRCH;
		goto out;
	}
	/*
	 * The supervisor clears restart_error when the signal arrives, at
	 * once (it does nothing else), and a new refusal comes only after
	 * the binary has been run.  So once the first 100 ms have passed, an
	 * error in the stats is this restart's, not the last one's.
	 */
	if (kill((pid_t)before.supervisor, SIGUSR2)) {
		ret = -errno;
		vf_err("cannot signal vofirm-fs's supervisor (PID %" PRIu64 "): %s%s",
		       before.supervisor, strerror(errno),
		       errno == EPERM ? " (only root or the user who mounted may)" : "");
		goto out;
	}
	progress("restarting the worker of %s: the supervisor (PID %" PRIu64 ") checks that the "
		 "vofirm-fs on disk reads the mount's state, then worker %" PRIu64
		 " hands over to a new one",
		 o.mount, before.supervisor, before.worker);
	for (;;) {
		usleep(100000);
		g_clear_pointer(&now.error, g_free);
		ret = mount_procs(&now);
		if (ret)
			break;
		if (now.worker != before.worker && now.restarts > before.restarts) {
			result = "restarted";
			break;
		}
		if (now.error) {
			result = "refused";
			ret = -EPERM;
			break;
		}
		if (vf_now_ms() - start >= o.timeout_ms) {
			result = "timeout";
			ret = -ETIMEDOUT;
			break;
		}
	}
	if (ret == -EPERM)
		vf_err("refused: %s; the old worker keeps running", now.error);
	else if (ret == -ETIMEDOUT)
		vf_err("no new worker at %s after %.1f s (worker %" PRIu64 " still serves); the "
		       "supervisor's log says why",
		       o.mount, (double)o.timeout_ms / 1000,
		       now.worker ? now.worker : before.worker);
	else if (ret)
		vf_err("cannot follow the restart of %s (above)", o.mount);
	else if (!o.json)
		printf("restarted: worker %" PRIu64 " -> %" PRIu64 " (restart %" PRIu64 ")\n",
		       before.worker, now.worker, now.restarts);
	if (o.json) {
		JsonObject *js = json_object_new();

		json_object_set_string_member(js, "mount", o.mount);
		json_object_set_string_member(js, "result", result);
		json_object_set_int_member(js, "supervisor_pid", (gint64)before.supervisor);
		json_object_set_int_member(js, "old_worker_pid", (gint64)before.worker);
		json_object_set_int_member(js, "worker_pid",
					   (gint64)(now.worker ? now.worker : before.worker));
		json_object_set_int_member(js, "worker_restarts",
					   (gint64)(now.worker ? now.restarts : before.restarts));
		if (now.error)
			json_object_set_string_member(js, "error", now.error);
		else
			json_object_set_null_member(js, "error");
		json_print(js, ret);
	}
out:
	g_free(before.error);
	g_free(now.error);
	return ret;
}

/* The local memory budget: QEMU in a memory cgroup (v1 or v2). */
static int do_budget(void)
{
	char dir[256], file[320], val[32], pid[32];
	bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
	const char *name = o.id ? o.id : "qemu";
	FILE *f;

	if (v2)
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/vofirm-%s", name);
	else
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory/vofirm-%s", name);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		vf_err("cannot make the memory cgroup %s: %s", dir, strerror(errno));
		return -errno;
	}
	snprintf(val, sizeof(val), "%" PRIu64, o.limit);
	snprintf(file, sizeof(file), "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
	f = fopen(file, "we");
	if (!f || fputs(val, f) < 0 || fclose(f)) {
		vf_err("%s: cannot set %s: %s", file, fmt_size(o.limit), strerror(errno));
		return -errno;
	}
	if (!v2) {
		/* pages QEMU already has are charged to its new cgroup too */
		snprintf(file, sizeof(file), "%s/memory.move_charge_at_immigrate", dir);
		f = fopen(file, "we");
		if (f) {
			fputs("3", f);
			fclose(f);
		}
	}
	snprintf(pid, sizeof(pid), "%ld", o.pid);
	snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
	f = fopen(file, "we");
	if (!f || fputs(pid, f) < 0 || fclose(f)) {
		vf_err("cannot move process %ld into %s: %s", o.pid, dir, strerror(errno));
		return -errno;
	}
	printf("process %ld is in %s: %s of memory (guest RAM in the page cache included)\n", o.pid,
	       dir, fmt_size(o.limit));
	return 0;
}

/*
 * Ids are QEMU's (its id_wellformed()): a letter, then letters, digits, '.',
 * '_' or '-'.  An id names a device and its backend (ID-mem) in QEMU, a file
 * or a directory (--vm) in the mount and a cgroup (vofirm-ID), so the rule
 * also keeps out '/', "..", a leading dot and control characters.  QEMU
 * sets no length limit; 64 keeps every name made from an id far under
 * NAME_MAX (255) and a list of them readable.
 */
#define ID_MAX 64

/* 0, or 2 (the exit status) after saying what is wrong with option's value. */
int check_id(const char *option, const char *id)
{
	size_t len = strlen(id);
	char *shown;

	if (len && len <= ID_MAX && g_ascii_isalpha(id[0]) &&
	    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len)
		return 0;
	shown = g_strescape(id, NULL);
	vf_err("%s '%.80s%s': an id is a letter, then letters, digits, '.', '_' or '-', at most "
	       "%d characters in all",
	       option, shown, strlen(shown) > 80 ? "..." : "", ID_MAX);
	g_free(shown);
	return 2;
}

/* Every error logged, in order: --json puts them in its object. */
static GPtrArray *errors;
/* The command, once known: a failure's JSON names it. */
static const char *command;

static void keep_error(const char *msg)
{
	if (!errors)
		errors = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(errors, g_strdup(msg));
}

void json_print(JsonObject *js, int ret)
{
	JsonNode *root, *e = json_object_get_member(js, "error");
	char *text;

	if (ret && command && !json_object_has_member(js, "command"))
		json_object_set_string_member(js, "command", command);
	if (ret && (!e || JSON_NODE_HOLDS_NULL(e))) {
		JsonArray *a = json_array_new();

		for (guint i = 0; errors && i < errors->len; i++)
			json_array_add_string_element(a, g_ptr_array_index(errors, i));
		json_object_set_string_member(js, "error",
					      errors && errors->len
						      ? g_ptr_array_index(errors, 0)
						      : g_strerror(ret < 0 ? -ret : ret));
		json_object_set_array_member(js, "errors", a);
	}
	root = json_node_init_object(json_node_alloc(), js);
	text = jv_text(root);
	if (text)
		printf("%s\n", text);
	else /* a path or message that is not UTF-8 */
		printf("{\"error\": \"the result cannot be written as JSON: a name or "
		       "message in it is not UTF-8 (see standard error)\"}\n");
	fflush(stdout);
	g_free(text);
	json_node_unref(root);
	json_object_unref(js);
	o.json_done = true;
}

/*
 * The end of main(): with --json, a command that failed before printing
 * its object (a bad command line, a socket that does not answer, a file
 * that is missing) prints one saying which command and why.  rc: the exit
 * status.
 */
static int finish(const char *c, int rc)
{
	if (o.json && rc && !o.json_done) {
		JsonObject *js = json_object_new();

		if (c)
			json_object_set_string_member(js, "command", c);
		else
			json_object_set_null_member(js, "command");
		json_print(js, rc == 2 ? -EINVAL : -EIO);
	}
	g_clear_pointer(&errors, g_ptr_array_unref);
	return rc;
}

/* The options given, by their getopt value (see main()'s table). */
static bool given[128];

/*
 * 0, or 2 (the exit status) after naming the first option given that
 * command `what` does not honour: every option it takes is in `takes`
 * (getopt values; -v is everyone's).
 */
static int refuse_others(const char *what, const char *takes, const struct option *lo)
{
	for (const struct option *l = lo; l->name; l++) {
		if (l->val <= 0 || l->val >= 128 || !given[l->val] || l->val == 'v' ||
		    strchr(takes, l->val))
			continue;
		if (l->val == 'j')
			vf_err("%s does not take --json: it has no JSON output (list, status, "
			       "drain, restart-fs, migrate, migrate-export and migrate-import "
			       "have)",
			       what);
		else
			vf_err("%s does not take --%s", what, l->name);
		return 2;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vofirmctl COMMAND [OPTION]...\n"
		"Grow and shrink a running QEMU VM's memory onto vofirm remote memory, over QMP.\n"
		"\n"
		"  grow   --qmp SOCKET --mount DIR --size SIZE [--id NAME] [--model pc-dimm|virtio-mem]\n"
		"         [--block-size SIZE] [--vm NAME] [--replicas N]\n"
		"         add SIZE of remote memory (a file DIR/VM/NAME) as a pc-dimm (default) or\n"
		"         virtio-mem device; for an existing virtio-mem device, plug up to SIZE\n"
		"  shrink --qmp SOCKET --id NAME [--size SIZE] [--keep-file]\n"
		"         remove a DIMM (the guest must release it) and give its memory back;\n"
		"         virtio-mem: unplug down to SIZE (default 0)\n"
		"  list   --qmp SOCKET [--json]    the VM's memory devices\n"
		"  status --mount DIR [--json]     the pool, its replication (healthy, STUCK: a\n"
		"         drain that cannot move copies, or degraded), drains, servers and files\n"
		"  drain  --mount DIR --server URL [--timeout T] [--json]\n"
		"         move every copy off a memory server (then it can be stopped); waits\n"
		"         until it holds nothing and nothing is degraded (default: no time limit)\n"
		"  budget --pid PID --limit SIZE [--id NAME]\n"
		"         put process PID (QEMU) in a memory cgroup of SIZE: how much of the VM's\n"
		"         remote memory may stay in the host's page cache\n"
		"  grow   --domain NAME --mount DIR --size SIZE [--model pc-dimm|virtio-mem]\n"
		"  grow   --domain NAME --id ALIAS --size SIZE     (a virtio-mem device)\n"
		"  shrink --domain NAME --id ALIAS [--size SIZE]\n"
		"  budget --domain NAME --limit SIZE\n"
		"         the same through libvirt (virsh [--connect URI]): libvirt's\n"
		"         memory_backing_dir must be on the vofirm mount DIR\n"
		"  migrate --qmp SOCKET --to-qmp SOCKET --mount DIR --to-mount DIR [--uri URI]\n"
		"         [--max-bandwidth SIZE] [--no-flush] [--keep-paused] [--json]\n"
		"         live-migrate the VM to a QEMU started with -incoming defer, its vofirm\n"
		"         memory left where it is: the destination mount takes the files over\n"
		"  the same between two hosts, the files passed by your own tooling:\n"
		"  migrate-export --qmp SOCKET --mount DIR --out FILE|- [--json (not with -)]\n"
		"         (source) export the VM's memory files into a bundle, mode 0600: it is\n"
		"         as secret as the cluster key\n"
		"  migrate-export --abort --in FILE|- --mount DIR [--json]\n"
		"         (source) give the bundle's exports up: a migration that will not\n"
		"         happen, or an import that failed; every file stays the source's\n"
		"  migrate-import --qmp SOCKET --mount DIR --in FILE|- --uri URI [--keep-paused]\n"
		"         [--timeout T] [--json]\n"
		"         (destination) import them, ready the QEMU (-incoming defer) and listen\n"
		"         on URI; commit once the VM has come, abort if it fails\n"
		"  migrate --qmp SOCKET --mount DIR --uri URI --handoff FILE --at-pause CMD\n"
		"         [--max-bandwidth SIZE] [--timeout T] [--json]\n"
		"         (source) migrate; at the pause write the update FILE.update and run\n"
		"         CMD (sh -c, VOFIRM_UPDATE=its path) to apply it on the destination\n"
		"  migrate-import --update FILE --mount DIR [--json]\n"
		"         (destination, from CMD) the source's final page bits\n"
		"  restart-fs --mount DIR [--timeout T] [--json]\n"
		"         a new vofirm-fs worker for the mount, from the binary on disk (an\n"
		"         upgrade): no request is lost and no VM notices; refused, the old worker\n"
		"         running on, if that binary cannot read the mount's state\n"
		"\n"
		"  NAME           an id, as QEMU's: a letter, then letters, digits, '.', '_' or '-';\n"
		"                 at most 64 characters\n"
		"  --replicas N   grow: copies of the new file's memory, each on another server\n"
		"                 (1 to 3; default: what its directory asks for)\n"
		"  --timeout T    waiting for QEMU or the guest (default 30s), for a drain\n"
		"                 (default: no limit), or for a new worker (default 30s)\n"
		"  --block-size   pc-dimm: the guest's memory block size (default 128M);\n"
		"                 virtio-mem: the device's block size (default 2M)\n"
		"  --json         one JSON object on stdout, failures included (\"error\": what\n"
		"                 failed and why); grow, shrink and budget have none and refuse it\n"
		"  -v, --verbose, -h, --help, -V, --version\n"
		"\n"
		"An option a command does not take is refused, not ignored.\n"
		"Exit status: 0 done, 1 failed (and said what is left), 2 bad command line.\n"
		"See vofirmctl(8).\n");
}

static int run(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "mount", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "id", required_argument, NULL, 'i' },
		{ "model", required_argument, NULL, 'M' },
		{ "vm", required_argument, NULL, 'n' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "timeout", required_argument, NULL, 't' },
		{ "pid", required_argument, NULL, 'p' },
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "keep-file", no_argument, NULL, 'k' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "server", required_argument, NULL, 'S' },
		{ "domain", required_argument, NULL, 'D' },
		{ "connect", required_argument, NULL, 'c' },
		/* migrate */
		{ "to-qmp", required_argument, NULL, 'Q' },
		{ "to-mount", required_argument, NULL, 'T' },
		{ "uri", required_argument, NULL, 'U' },
		{ "no-flush", no_argument, NULL, 'F' },
		{ "keep-paused", no_argument, NULL, 'P' },
		{ "max-bandwidth", required_argument, NULL, 'B' },
		{ "out", required_argument, NULL, 'O' },
		{ "in", required_argument, NULL, 'I' },
		{ "handoff", required_argument, NULL, 'H' },
		{ "update", required_argument, NULL, 'u' },
		{ "at-pause", required_argument, NULL, 'A' },
		{ "abort", no_argument, NULL, 'X' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct qmp *q = NULL;
	const char *c, *why;
	int opt, ret;

	opterr = 0; /* its messages are said here, and go into --json's object */
	while ((opt = getopt_long(argc, argv, ":vhV", lo, NULL)) != -1) {
		if (opt > 0 && opt < 128)
			given[opt] = true;
		switch (opt) {
		case 'q':
			o.qmp = optarg;
			break;
		case 'm':
			o.mount = optarg;
			break;
		case 'i':
			/* before anything is touched: the id becomes names everywhere */
			if (check_id("--id", optarg))
				return 2;
			o.id = optarg;
			break;
		case 'M':
			o.model = optarg;
			break;
		case 'n':
			if (check_id("--vm", optarg))
				return 2;
			o.vm = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'k':
			o.keep_file = true;
			break;
		case 'v':
			vf_log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vofirmctl %s\n", VOFIRM_VERSION);
			return 0;
		case 's':
		case 'b':
		case 'l': {
			uint64_t *v = opt == 's' ? &o.size : opt == 'b' ? &o.block_size : &o.limit;
			const char *name = lo[opt == 's' ? 2 : opt == 'b' ? 6 : 9].name;

			if (vf_parse_size(optarg, v, &why)) {
				vf_err("%s '%s': %s", name, optarg, why);
				return 2;
			}
			/* QMP carries them as JSON integers, which json-glib holds in an int64 */
			if (opt != 'l' && *v > INT64_MAX) {
				vf_err("%s '%s': size too large", name, optarg);
				return 2;
			}
			if (opt == 's')
				o.size_set = true;
			break;
		}
		case 't':
			if (vf_parse_duration(optarg, &o.timeout_ms, &why)) {
				vf_err("--timeout '%s': %s", optarg, why);
				return 2;
			}
			o.timeout_set = true;
			break;
		case 'r':
			if (strlen(optarg) != 1 || optarg[0] < '1' ||
			    optarg[0] > '0' + MAX_REPLICAS) {
				vf_err("--replicas '%s': copies are 1 to %d", optarg, MAX_REPLICAS);
				return 2;
			}
			o.replicas = (unsigned)(optarg[0] - '0');
			break;
		case 'S':
			o.server = optarg;
			break;
		case 'D':
			o.domain = optarg;
			break;
		case 'c':
			o.connect = optarg;
			break;
		case 'Q':
			o.to_qmp = optarg;
			break;
		case 'T':
			o.to_mount = optarg;
			break;
		case 'U':
			o.uri = optarg;
			break;
		case 'F':
			o.no_flush = true;
			break;
		case 'X':
			o.abort = true;
			break;
		case 'P':
			o.keep_paused = true;
			break;
		case 'O':
		case 'I':
		case 'H':
			o.bundle = optarg;
			break;
		case 'u':
			o.update = optarg;
			break;
		case 'A':
			o.at_pause = optarg;
			break;
		case 'B':
			if (vf_parse_size(optarg, &o.bandwidth, &why) || !o.bandwidth ||
			    o.bandwidth > INT64_MAX) {
				vf_err("--max-bandwidth '%s': a size per second, 1 or more",
				       optarg);
				return 2;
			}
			break;
		case 'p':
			o.pid = strtol(optarg, NULL, 10);
			break;
		case ':':
			vf_err("option '%s' needs a value", argv[optind - 1]);
			usage(stderr);
			return 2;
		default:
			if (optopt)
				vf_err("unknown option '-%c'", optopt);
			else
				vf_err("unknown option '%s'", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		if (optind == argc)
			vf_err("no command (see --help)");
		else
			vf_err("one command only: '%s' is one too many", argv[optind + 1]);
		usage(stderr);
		return 2;
	}
	c = command = argv[optind];
	if (!strcmp(c, "status")) {
		if (!o.mount) {
			vf_err("status needs --mount DIR");
			return 2;
		}
		if (refuse_others(c, "mj", lo))
			return 2;
		return do_status() ? 1 : 0;
	}
	if (!strcmp(c, "drain")) {
		if (!o.mount || !o.server) {
			vf_err("drain needs --mount DIR and --server URL");
			return 2;
		}
		if (refuse_others(c, "mStj", lo))
			return 2;
		return do_drain() ? 1 : 0;
	}
	if (!strcmp(c, "restart-fs")) {
		if (!o.mount) {
			vf_err("restart-fs needs --mount DIR");
			return 2;
		}
		if (refuse_others(c, "mtj", lo))
			return 2;
		return do_restart_fs() ? 1 : 0;
	}
	if (o.domain) { /* libvirt.c */
		if (!o.limit && !strcmp(c, "budget")) {
			vf_err("budget --domain needs --limit SIZE");
			return 2;
		}
		if (!strcmp(c, "grow") && (!o.size_set || (!o.mount && !o.id))) {
			vf_err("grow --domain needs --size SIZE, and --mount DIR or --id ALIAS");
			return 2;
		}
		if (!strcmp(c, "shrink") && !o.id) {
			vf_err("shrink --domain needs --id ALIAS");
			return 2;
		}
		if (strcmp(o.model, "pc-dimm") && strcmp(o.model, "virtio-mem")) {
			vf_err("--model '%s': pc-dimm or virtio-mem", o.model);
			return 2;
		}
		/* the command, as named in a refusal, and the options it takes */
		static const char *const lv[][3] = { { "grow", "grow --domain", "DmsMbitc" },
						     { "shrink", "shrink --domain", "Distc" },
						     { "budget", "budget --domain", "Dltc" } };

		for (size_t k = 0; k < VF_ARRAY_SIZE(lv); k++)
			if (!strcmp(c, lv[k][0]) && refuse_others(lv[k][1], lv[k][2], lo))
				return 2;
		if (!strcmp(c, "grow"))
			return lv_grow() ? 1 : 0;
		if (!strcmp(c, "shrink"))
			return lv_shrink() ? 1 : 0;
		if (!strcmp(c, "budget"))
			return lv_budget() ? 1 : 0;
		vf_err("%s does not take --domain", c);
		return 2;
	}
	if (!strcmp(c, "migrate")) {
		if (o.bundle || o.at_pause) { /* the source side of the two-host split */
			if (!o.qmp || !o.mount || !o.uri || !o.bundle || !o.at_pause || o.to_qmp ||
			    o.to_mount || !strcmp(o.bundle, "-")) {
				vf_err("migrate (the source of the two-host split) needs --qmp SOCKET "
				       "--mount DIR --uri URI --handoff FILE --at-pause CMD, and no "
				       "--to-qmp or --to-mount");
				return 2;
			}
			if (refuse_others("migrate --handoff", "qmUHABFtj", lo))
				return 2;
			return do_migrate_source() ? 1 : 0;
		}
		if (!o.qmp || !o.to_qmp || !o.mount || !o.to_mount) {
			vf_err("migrate needs --qmp SOCKET --to-qmp SOCKET --mount DIR --to-mount DIR "
			       "(or, one host of two: --handoff FILE --at-pause CMD --uri URI)");
			return 2;
		}
		if (refuse_others(c, "qQmTUBFPtj", lo))
			return 2;
		return do_migrate() ? 1 : 0;
	}
	if (!strcmp(c, "migrate-export") && o.abort) {
		if (!o.mount || !o.bundle || o.qmp) {
			vf_err("migrate-export --abort needs --in FILE --mount DIR (and no --qmp)");
			return 2;
		}
		if (refuse_others("migrate-export --abort", "XImj", lo))
			return 2;
		return do_migrate_export_abort() ? 1 : 0;
	}
	if (!strcmp(c, "migrate-export")) {
		if (!o.qmp || !o.mount || !o.bundle) {
			vf_err("migrate-export needs --qmp SOCKET --mount DIR --out FILE");
			return 2;
		}
		if (o.json && !strcmp(o.bundle, "-")) {
			vf_err("migrate-export --json needs --out FILE: with --out - the bundle "
			       "itself is the standard output");
			return 2;
		}
		if (refuse_others(c, "qmOtj", lo))
			return 2;
		return do_migrate_export() ? 1 : 0;
	}
	if (!strcmp(c, "migrate-import")) {
		if (o.update ? !o.mount || o.bundle || o.qmp
			     : !o.qmp || !o.mount || !o.bundle || !o.uri) {
			vf_err("migrate-import needs --qmp SOCKET --mount DIR --in FILE --uri URI, "
			       "or --update FILE --mount DIR (and nothing else)");
			return 2;
		}
		if (o.update ? refuse_others("migrate-import --update", "umj", lo)
			     : refuse_others(c, "qmIUPtj", lo))
			return 2;
		return do_migrate_import() ? 1 : 0;
	}
	if (!strcmp(c, "budget")) {
		if (o.pid <= 0 || !o.limit) {
			vf_err("budget needs --pid PID and --limit SIZE");
			return 2;
		}
		if (refuse_others(c, "pli", lo))
			return 2;
		return do_budget() ? 1 : 0;
	}
	if (strcmp(c, "grow") && strcmp(c, "shrink") && strcmp(c, "list")) {
		vf_err("unknown command '%s' (see --help)", c);
		return 2;
	}
	if (!o.qmp) {
		vf_err("%s needs --qmp SOCKET", c);
		return 2;
	}
	if (!strcmp(c, "grow")) {
		if (!o.mount || !o.size_set) {
			vf_err("grow needs --mount DIR and --size SIZE");
			return 2;
		}
		if (strcmp(o.model, "pc-dimm") && strcmp(o.model, "virtio-mem")) {
			vf_err("--model '%s': pc-dimm or virtio-mem", o.model);
			return 2;
		}
		if (!o.id)
			o.id = "vofirm0";
	}
	if (!strcmp(c, "shrink") && !o.id) {
		vf_err("shrink needs --id NAME");
		return 2;
	}
	if (refuse_others(c,
			  !strcmp(c, "grow")	 ? "qmsiMnbrt"
			  : !strcmp(c, "shrink") ? "qiskt"
						 : "qtj", /* list */
			  lo))
		return 2;
	ret = qmp_open(o.qmp, (unsigned)o.timeout_ms, &q);
	if (ret)
		return 1;
	if (!strcmp(c, "grow"))
		ret = do_grow(q);
	else if (!strcmp(c, "shrink"))
		ret = do_shrink(q);
	else
		ret = do_list(q);
	qmp_close(q);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	vf_log_init("vofirmctl", LOG_NOTICE);
	vf_log_set_error_hook(keep_error);
	signal(SIGPIPE, SIG_IGN); /* QEMU going away is an error to report, not a kill */
	/* before the options are read: a bad one before --json fails in JSON too */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		static const char *const cmds[] = { "grow",	     "shrink",	"list",
						    "status",	     "drain",	"budget",
						    "restart-fs",    "migrate", "migrate-export",
						    "migrate-import" };

		if (!strcmp(argv[i], "--json"))
			o.json = true;
		for (size_t k = 0; !command && k < VF_ARRAY_SIZE(cmds); k++)
			if (!strcmp(argv[i], cmds[k]))
				command = argv[i]; /* named in a failure's JSON */
	}
	return finish(command, run(argc, argv));
}
