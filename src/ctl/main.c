// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirmctl: grow and shrink a running VM's memory onto vofirm, over QMP.
 *
 *   grow    checks (size, slot, room under maxmem, the pool), sizes the
 *           file (reserving the remote memory), object-add, device_add;
 *           any failure undoes what was done, in reverse
 *   shrink  device_del and DEVICE_DELETED, object-del, the file removed;
 *           virtio-mem: requested-size down and wait for the guest
 *   list    the VM's memory devices and which are on vofirm
 *   status  the pool, its servers and files (from the mount's stats)
 *   budget  put QEMU in a memory cgroup: the local memory budget
 *
 * Exit status: 0 done, 1 failed (nothing changed, or what is left is
 * said), 2 bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <glib.h>

#include "vofirm/json.h"
#include "qmp.h"
#include "vofirm/log.h"
#include "vofirm/mount.h"
#include "vofirm/util.h"
#include "vofirm/version.h"

static struct {
	const char *qmp, *mount, *id, *model, *vm;
	uint64_t size, block_size, timeout_ms, limit;
	bool size_set, json, keep_file;
	long pid;
} o = { .model = "pc-dimm", .timeout_ms = 30000 };

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
	va_list ap;

	fputs("vofirmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static char *fmt_size(uint64_t b)
{
	static char buf[4][32];
	static int i;

	i = (i + 1) % 4;
	return vf_format_size(b, buf[i], sizeof(buf[i]));
}

static int cmd(struct qmp *q, const char *c, const char *args, struct jv **ret, const char *what)
{
	char *err = NULL;
	int r = qmp_cmd(q, c, args, ret, &err);

	if (r == -EIO)
		vf_err("%s: QEMU refused %s: %s", what, c, err);
	g_free(err);
	return r;
}

static int64_t qom_get_int(struct qmp *q, const char *path, const char *prop)
{
	char args[512];
	struct jv *r = NULL;
	char *err = NULL;
	int64_t v = -1;

	snprintf(args, sizeof(args), "{\"path\": \"%s\", \"property\": \"%s\"}", path, prop);
	if (qmp_cmd(q, "qom-get", args, &r, &err) == 0)
		v = json_int(r, -1);
	json_free(r);
	g_free(err);
	return v;
}

static char *qom_get_str(struct qmp *q, const char *path, const char *prop)
{
	char args[512];
	struct jv *r = NULL;
	char *err = NULL, *s = NULL;

	snprintf(args, sizeof(args), "{\"path\": \"%s\", \"property\": \"%s\"}", path, prop);
	if (qmp_cmd(q, "qom-get", args, &r, &err) == 0 && json_str(r))
		s = g_strdup(json_str(r));
	json_free(r);
	g_free(err);
	return s;
}

static int qom_set_int(struct qmp *q, const char *path, const char *prop, uint64_t v,
		       const char *what)
{
	char args[512];
	struct jv *r = NULL;
	int ret;

	snprintf(args, sizeof(args), "{\"path\": \"%s\", \"property\": \"%s\", \"value\": %" PRIu64 "}",
		 path, prop, v);
	ret = cmd(q, "qom-set", args, &r, what);
	json_free(r);
	return ret;
}

/* The memory device `id` from query-memory-devices (json_free *all). */
static struct jv *find_device(struct qmp *q, const char *id, struct jv **all)
{
	*all = NULL;
	if (cmd(q, "query-memory-devices", NULL, all, "listing memory devices"))
		return NULL;
	for (size_t i = 0; *all && i < (*all)->n; i++) {
		struct jv *d = json_get((*all)->items[i], "data");

		if (!g_strcmp0(json_str(json_get(d, "id")), id))
			return (*all)->items[i];
	}
	return NULL;
}

/* Waits until a virtio-mem device's size is `want`; 0, or -ETIMEDOUT. */
static int wait_vmem_size(struct qmp *q, const char *id, uint64_t want, int64_t *got)
{
	uint64_t start = vf_now_ms(), last = start;

	for (;;) {
		*got = qom_get_int(q, id, "size");
		if (*got == (int64_t)want)
			return 0;
		if (vf_now_ms() - start >= o.timeout_ms)
			return -ETIMEDOUT;
		if (vf_now_ms() - last >= 2000) {
			progress("waiting for the guest: %s is at %s of %s (%" PRIu64 " s)", id,
				 fmt_size((uint64_t)(*got < 0 ? 0 : *got)), fmt_size(want),
				 (vf_now_ms() - start) / 1000);
			last = vf_now_ms();
		}
		usleep(100000);
	}
}

/*
 * Reserves all of a virtio-mem backend: QEMU punches the whole file when
 * the device is created (nothing is plugged yet) and the guest may plug
 * any block, so the remote memory is reserved again here, not at a page
 * fault.  0 or -errno (logged).
 */
static int reserve_file(const char *file, uint64_t size)
{
	int fd = open(file, O_RDWR | O_CLOEXEC), ret = 0;

	if (fd < 0 || fallocate(fd, 0, 0, (off_t)size)) {
		ret = -errno;
		vf_err("the pool cannot cover %s for %s: %s", fmt_size(size), file, strerror(-ret));
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

static char *vm_name(struct qmp *q)
{
	struct jv *r = NULL;
	char *name = NULL;

	if (o.vm)
		return g_strdup(o.vm); /* checked by main() */
	if (cmd(q, "query-name", NULL, &r, "query-name") == 0 && json_str(json_get(r, "name")))
		name = g_strdup(json_str(json_get(r, "name")));
	json_free(r);
	if (!name || !*name)
		return g_strdup("vm");
	/* a directory name in the mount: no '/', no leading dot, nothing odd */
	for (char *c = name; *c; c++)
		if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_' && *c != '.')
			*c = '_';
	if (name[0] == '.')
		name[0] = '_';
	return name;
}

/* grow an existing virtio-mem device to o.size */
static int grow_vmem(struct qmp *q, struct jv *dev)
{
	struct jv *d = json_get(dev, "data");
	const char *memdev = json_str(json_get(d, "memdev"));
	int64_t max = memdev ? qom_get_int(q, memdev, "size") : -1;
	int64_t bs = qom_get_int(q, o.id, "block-size"), got;

	if (max < 0 || bs <= 0) {
		vf_err("%s: cannot read its backend size or block size", o.id);
		return -EIO;
	}
	if (o.size > (uint64_t)max) {
		vf_err("%s: %s is more than its backend holds (%s); add another device",
		       o.id, fmt_size(o.size), fmt_size((uint64_t)max));
		return -EINVAL;
	}
	if (o.size % (uint64_t)bs) {
		vf_err("%s: %s is not a multiple of its block size %s", o.id, fmt_size(o.size),
		       fmt_size((uint64_t)bs));
		return -EINVAL;
	}
	{
		char *file = qom_get_str(q, memdev, "mem-path");
		int r = file && vf_on_vofirm(file) ? reserve_file(file, (uint64_t)max) : 0;

		g_free(file);
		if (r)
			return r;
	}
	progress("asking the guest to plug %s of %s (requested-size)", fmt_size(o.size), o.id);
	if (qom_set_int(q, o.id, "requested-size", o.size, o.id))
		return -EIO;
	if (wait_vmem_size(q, o.id, o.size, &got)) {
		vf_err("%s: the guest has plugged %s of %s after %" PRIu64 " s (no virtio_mem "
		       "driver, or no memory hot-plug?); the request stands", o.id,
		       fmt_size((uint64_t)(got < 0 ? 0 : got)), fmt_size(o.size), o.timeout_ms / 1000);
		return -ETIMEDOUT;
	}
	printf("%s: virtio-mem at %s\n", o.id, fmt_size(o.size));
	return 0;
}

static int do_grow(struct qmp *q)
{
	bool vmem = !strcmp(o.model, "virtio-mem");
	uint64_t bs = o.block_size ? o.block_size : vmem ? (2u << 20) : (128u << 20);
	struct jv *all = NULL, *dev, *mem = NULL, *sum = NULL, *r = NULL;
	int64_t slots, maxmem, base, plugged;
	unsigned ndimms = 0;
	struct statfs sfs;
	char *vm = NULL, *dir = NULL, *file = NULL, memid[160];
	GString *args = NULL;
	int fd, ret = -EINVAL;

	dev = find_device(q, o.id, &all);
	if (!all)
		return -EIO;
	if (dev) {
		if (vmem || !g_strcmp0(json_str(json_get(dev, "type")), "virtio-mem")) {
			ret = grow_vmem(q, dev);
			json_free(all);
			return ret;
		}
		vf_err("a memory device '%s' exists already (vofirmctl list)", o.id);
		goto out;
	}
	for (size_t i = 0; i < all->n; i++)
		if (!g_strcmp0(json_str(json_get(all->items[i], "type")), "dimm"))
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
	if (cmd(q, "qom-get", "{\"path\": \"/machine\", \"property\": \"memory\"}", &mem,
		"reading the machine's memory configuration") ||
	    cmd(q, "query-memory-size-summary", NULL, &sum, "query-memory-size-summary")) {
		ret = -EIO;
		goto out;
	}
	slots = json_int(json_get(mem, "slots"), 0);
	maxmem = json_int(json_get(mem, "max-size"), 0);
	base = json_int(json_get(sum, "base-memory"), 0);
	plugged = json_int(json_get(sum, "plugged-memory"), 0);
	if (!vmem && (int64_t)ndimms >= slots) {
		vf_err("no free memory slot: %u of %" PRId64 " in use (start QEMU with "
		       "-m SIZE,slots=N,maxmem=MAX)", ndimms, slots);
		goto out;
	}
	if (base + plugged + (int64_t)o.size > maxmem) {
		vf_err("not enough room under maxmem: %s base + %s plugged + %s asked > %s "
		       "(start QEMU with a larger maxmem)", fmt_size((uint64_t)base),
		       fmt_size((uint64_t)plugged), fmt_size(o.size), fmt_size((uint64_t)maxmem));
		goto out;
	}
	if (statfs(o.mount, &sfs) == 0 && (uint64_t)sfs.f_bavail * (uint64_t)sfs.f_bsize < o.size) {
		vf_err("the pool cannot cover %s: %s free (df %s)", fmt_size(o.size),
		       fmt_size((uint64_t)sfs.f_bavail * (uint64_t)sfs.f_bsize), o.mount);
		ret = -ENOSPC;
		goto out;
	}

	/* 1: the file, sized: this reserves the remote memory.  QEMU opens
	 * mem-path from its own working directory: make it absolute. */
	vm = vm_name(q);
	{
		char *abs = realpath(o.mount, NULL);

		dir = g_build_filename(abs ? abs : o.mount, vm, NULL);
		free(abs);
	}
	file = g_build_filename(dir, o.id, NULL);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		ret = -errno;
		vf_err("cannot make %s: %s", dir, strerror(-ret));
		goto out;
	}
	fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		vf_err("cannot create %s: %s%s", file, strerror(-ret),
		       ret == -EEXIST ? " (left over, or another device's? remove it or pick another --id)" : "");
		goto out;
	}
	progress("reserving %s in the pool (%s)", fmt_size(o.size), file);
	if (ftruncate(fd, (off_t)o.size)) {
		ret = -errno;
		close(fd);
		unlink(file);
		vf_err("the pool cannot cover %s: %s", fmt_size(o.size), strerror(-ret));
		goto out;
	}
	close(fd);

	/* 2: the backend */
	snprintf(memid, sizeof(memid), "%s-mem", o.id);
	args = g_string_new("{\"qom-type\": \"memory-backend-file\", \"id\": ");
	json_escape(args, memid);
	g_string_append(args, ", \"mem-path\": ");
	json_escape(args, file);
	g_string_append_printf(args, ", \"size\": %" PRIu64 ", \"share\": true}", o.size);
	progress("object-add %s", memid);
	ret = cmd(q, "object-add", args->str, &r, "adding the memory backend");
	json_free(r);
	r = NULL;
	if (ret == -EIO) {
		unlink(file); /* QEMU refused it: nothing uses the file */
		goto out;
	}
	if (ret) {
		vf_err("QEMU did not answer object-add: it may still add %s; %s stays for it "
		       "(check with vofirmctl list)", memid, file);
		goto out;
	}

	/* 3: the device */
	g_string_assign(args, "{\"driver\": ");
	json_escape(args, vmem ? "virtio-mem-pci" : "pc-dimm");
	g_string_append(args, ", \"id\": ");
	json_escape(args, o.id);
	g_string_append(args, ", \"memdev\": ");
	json_escape(args, memid);
	if (vmem)
		/* nothing plugged until the memory is reserved again (QEMU discards
		 * the whole file when it creates the device) */
		g_string_append_printf(args, ", \"requested-size\": 0, \"block-size\": %" PRIu64, bs);
	g_string_append(args, "}");
	progress("device_add %s %s", vmem ? "virtio-mem-pci" : "pc-dimm", o.id);
	ret = cmd(q, "device_add", args->str, &r, "adding the memory device");
	json_free(r);
	r = NULL;
	if (ret) {
		char a[200];

		snprintf(a, sizeof(a), "{\"id\": \"%s\"}", memid);
		if (cmd(q, "object-del", a, &r, "undoing object-add") == 0)
			unlink(file);
		else
			vf_err("could not undo: backend %s and file %s stay (QEMU's state is "
			       "unknown; check with vofirmctl list)", memid, file);
		json_free(r);
		goto out;
	}
	if (vmem) {
		int64_t got;

		if (reserve_file(file, o.size)) {
			vf_err("%s: added with nothing plugged, but its memory could not be "
			       "reserved again after QEMU discarded it; the empty device stays "
			       "(QEMU 7.2 cannot remove virtio-mem)", o.id);
			ret = -ENOSPC;
			goto out;
		}
		progress("asking the guest to plug %s of %s", fmt_size(o.size), o.id);
		if (qom_set_int(q, o.id, "requested-size", o.size, o.id)) {
			ret = -EIO;
			goto out;
		}
		if (wait_vmem_size(q, o.id, o.size, &got)) {
			vf_err("%s: added, but the guest has plugged %s of %s after %" PRIu64 " s "
			       "(no virtio_mem driver?); the device stays, asking for it",
			       o.id, fmt_size((uint64_t)(got < 0 ? 0 : got)), fmt_size(o.size),
			       o.timeout_ms / 1000);
			ret = -ETIMEDOUT;
			goto out;
		}
	}
	printf("grew the VM by %s: %s %s backed by %s\n", fmt_size(o.size),
	       vmem ? "virtio-mem" : "pc-dimm", o.id, file);
	ret = 0;
out:
	if (args)
		g_string_free(args, TRUE);
	json_free(all);
	json_free(mem);
	json_free(sum);
	g_free(vm);
	g_free(dir);
	g_free(file);
	return ret;
}

/* object-del the backend and remove its file (after the device is gone). */
static int drop_backend(struct qmp *q, const char *memdev_path)
{
	const char *memid = strrchr(memdev_path, '/') ? strrchr(memdev_path, '/') + 1 : memdev_path;
	char *file = qom_get_str(q, memdev_path, "mem-path");
	char args[256];
	struct jv *r = NULL;
	int ret;

	snprintf(args, sizeof(args), "{\"id\": \"%s\"}", memid);
	ret = cmd(q, "object-del", args, &r, "removing the memory backend");
	json_free(r);
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
	struct jv *all = NULL, *dev, *r = NULL;
	const char *type, *memdev;
	char args[256], objpath[256];
	int ret = -EINVAL;

	dev = find_device(q, o.id, &all);
	if (!all)
		return -EIO;
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
			json_free(all);
			return ret;
		}
		vf_err("no memory device '%s' in this VM (vofirmctl list shows them)", o.id);
		json_free(all);
		return -ENOENT;
	}
	type = json_str(json_get(dev, "type"));
	memdev = json_str(json_get(json_get(dev, "data"), "memdev"));

	if (!g_strcmp0(type, "virtio-mem")) {
		uint64_t target = o.size_set ? o.size : 0;
		int64_t bs = qom_get_int(q, o.id, "block-size"), got;

		if (bs > 0 && target % (uint64_t)bs) {
			vf_err("%s: %s is not a multiple of its block size %s", o.id, fmt_size(target),
			       fmt_size((uint64_t)bs));
			goto out;
		}
		progress("asking the guest to unplug %s down to %s", o.id, fmt_size(target));
		if (qom_set_int(q, o.id, "requested-size", target, o.id)) {
			ret = -EIO;
			goto out;
		}
		if (wait_vmem_size(q, o.id, target, &got)) {
			/* stop asking: the guest keeps what it could not give */
			qom_set_int(q, o.id, "requested-size", (uint64_t)(got < 0 ? 0 : got), o.id);
			vf_err("%s: the guest gave back only down to %s of %s asked within %" PRIu64
			       " s: its memory is in use; %s stays at %s and working", o.id,
			       fmt_size((uint64_t)(got < 0 ? 0 : got)), fmt_size(target),
			       o.timeout_ms / 1000, o.id, fmt_size((uint64_t)(got < 0 ? 0 : got)));
			ret = -EBUSY;
			goto out;
		}
		printf("%s: virtio-mem at %s; what it gave back is back in the pool%s\n", o.id,
		       fmt_size(target), target ? "" : " (the device itself stays: QEMU 7.2 "
		       "cannot unplug virtio-mem)");
		ret = 0;
		goto out;
	}

	snprintf(args, sizeof(args), "{\"id\": \"%s\"}", o.id);
	progress("device_del %s", o.id);
	ret = cmd(q, "device_del", args, &r, "removing the memory device");
	json_free(r);
	if (ret)
		goto out;
	progress("waiting up to %" PRIu64 " s for the guest to release %s (DEVICE_DELETED)",
		 o.timeout_ms / 1000, o.id);
	ret = qmp_wait_event(q, "DEVICE_DELETED", o.id, (unsigned)o.timeout_ms);
	if (ret) {
		vf_err("%s: the guest did not release it within %" PRIu64 " s: its memory is in "
		       "use (or not movable); %s stays attached and working. If the guest lets "
		       "go later, run vofirmctl shrink --id %s again to finish", o.id,
		       o.timeout_ms / 1000, o.id, o.id);
		ret = -EBUSY;
		goto out;
	}
	ret = memdev ? drop_backend(q, memdev) : 0;
	if (!ret)
		printf("%s: removed\n", o.id);
out:
	json_free(all);
	return ret;
}

static int do_list(struct qmp *q)
{
	struct jv *all = NULL;
	GString *js = g_string_new("[");

	if (cmd(q, "query-memory-devices", NULL, &all, "listing memory devices"))
		return -EIO;
	if (!o.json)
		printf("%-16s %-11s %10s %10s  %s\n", "ID", "MODEL", "SIZE", "REQUESTED", "BACKING");
	for (size_t i = 0; i < all->n; i++) {
		struct jv *d = json_get(all->items[i], "data");
		const char *type = json_str(json_get(all->items[i], "type"));
		const char *id = json_str(json_get(d, "id")) ?: "";
		const char *memdev = json_str(json_get(d, "memdev"));
		bool vmem = !g_strcmp0(type, "virtio-mem");
		int64_t size = json_int(json_get(d, "size"), 0);
		int64_t req = vmem ? json_int(json_get(d, "requested-size"), 0) : size;
		char *path = memdev ? qom_get_str(q, memdev, "mem-path") : NULL;
		bool vf = path && vf_on_vofirm(path);

		if (o.json) {
			g_string_append_printf(js, "%s{\"id\": ", i ? ", " : "");
			json_escape(js, id);
			g_string_append_printf(js, ", \"model\": \"%s\", \"size\": %" PRId64
					       ", \"requested_size\": %" PRId64 ", \"vofirm\": %s, \"file\": ",
					       vmem ? "virtio-mem" : "pc-dimm", size, req, vf ? "true" : "false");
			if (path)
				json_escape(js, path);
			else
				g_string_append(js, "null");
			g_string_append(js, "}");
		} else {
			printf("%-16s %-11s %10s %10s  %s%s\n", id, vmem ? "virtio-mem" : "pc-dimm",
			       fmt_size((uint64_t)size), fmt_size((uint64_t)req), path ? path : "-",
			       vf ? " (vofirm)" : "");
		}
		g_free(path);
	}
	if (o.json)
		printf("%s]\n", js->str);
	g_string_free(js, TRUE);
	json_free(all);
	return 0;
}

static int do_status(void)
{
	char *path = g_build_filename(o.mount, ".vofirm", "stats.json", NULL), *text = NULL;
	GError *gerr = NULL;
	struct jv *d, *pool, *servers, *files;
	const char *why;

	if (!g_file_get_contents(path, &text, NULL, &gerr)) {
		vf_err("%s: %s (is %s a vofirm-fs mount?)", path, gerr->message, o.mount);
		g_error_free(gerr);
		g_free(path);
		return -ENOENT;
	}
	g_free(path);
	if (o.json) {
		fputs(text, stdout);
		g_free(text);
		return 0;
	}
	d = json_parse(text, &why);
	g_free(text);
	if (!d) {
		vf_err("%s: stats are not JSON: %s", o.mount, why);
		return -EPROTO;
	}
	pool = json_get(d, "pool");
	printf("pool: %s, %s used, %s free; this mount holds %s\n",
	       fmt_size((uint64_t)json_int(json_get(pool, "capacity"), 0)),
	       fmt_size((uint64_t)json_int(json_get(pool, "used"), 0)),
	       fmt_size((uint64_t)json_int(json_get(pool, "free"), 0)),
	       fmt_size((uint64_t)json_int(json_get(pool, "held_by_this_mount"), 0)));
	servers = json_get(d, "servers");
	for (size_t i = 0; servers && i < servers->n; i++) {
		struct jv *s = servers->items[i];

		printf("server %s: %s, holds %s; read %s, written %s; read p50 %" PRId64 " us, "
		       "write p50 %" PRId64 " us; %" PRId64 " errors\n",
		       json_str(json_get(s, "url")), json_str(json_get(s, "state")),
		       fmt_size((uint64_t)json_int(json_get(s, "held"), 0)),
		       fmt_size((uint64_t)json_int(json_get(s, "bytes_read"), 0)),
		       fmt_size((uint64_t)json_int(json_get(s, "bytes_written"), 0)),
		       json_int(json_get(json_get(s, "read_latency_us"), "p50"), 0),
		       json_int(json_get(json_get(s, "write_latency_us"), "p50"), 0),
		       json_int(json_get(s, "errors"), 0));
	}
	files = json_get(d, "files");
	for (size_t i = 0; files && i < files->n; i++) {
		struct jv *f = files->items[i];

		printf("file %s: %s, %s reserved; read %s, written %s\n",
		       json_str(json_get(f, "path")),
		       fmt_size((uint64_t)json_int(json_get(f, "size"), 0)),
		       fmt_size((uint64_t)json_int(json_get(f, "reserved"), 0)),
		       fmt_size((uint64_t)json_int(json_get(f, "bytes_read"), 0)),
		       fmt_size((uint64_t)json_int(json_get(f, "bytes_written"), 0)));
	}
	json_free(d);
	return 0;
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
	printf("process %ld is in %s: %s of memory (guest RAM in the page cache included)\n",
	       o.pid, dir, fmt_size(o.limit));
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vofirmctl COMMAND [OPTION]...\n"
"Grow and shrink a running QEMU VM's memory onto vofirm remote memory, over QMP.\n"
"\n"
"  grow   --qmp SOCKET --mount DIR --size SIZE [--id NAME] [--model pc-dimm|virtio-mem]\n"
"         [--block-size SIZE] [--vm NAME]\n"
"         add SIZE of remote memory (a file DIR/VM/NAME) as a pc-dimm (default) or\n"
"         virtio-mem device; for an existing virtio-mem device, plug up to SIZE\n"
"  shrink --qmp SOCKET --id NAME [--size SIZE] [--keep-file]\n"
"         remove a DIMM (the guest must release it) and give its memory back;\n"
"         virtio-mem: unplug down to SIZE (default 0)\n"
"  list   --qmp SOCKET [--json]    the VM's memory devices\n"
"  status --mount DIR [--json]     the pool, its servers and files\n"
"  budget --pid PID --limit SIZE [--id NAME]\n"
"         put process PID (QEMU) in a memory cgroup of SIZE: how much of the VM's\n"
"         remote memory may stay in the host's page cache\n"
"\n"
"  --timeout T    waiting for QEMU or the guest (default 30s)\n"
"  --block-size   pc-dimm: the guest's memory block size (default 128M);\n"
"                 virtio-mem: the device's block size (default 2M)\n"
"  -v, --verbose, -h, --help, -V, --version\n"
"\n"
"Exit status: 0 done, 1 failed (and said what is left), 2 bad command line.\n"
"See vofirmctl(8).\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "qmp", required_argument, NULL, 'q' }, { "mount", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' }, { "id", required_argument, NULL, 'i' },
		{ "model", required_argument, NULL, 'M' }, { "vm", required_argument, NULL, 'n' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "timeout", required_argument, NULL, 't' }, { "pid", required_argument, NULL, 'p' },
		{ "limit", required_argument, NULL, 'l' }, { "json", no_argument, NULL, 'j' },
		{ "keep-file", no_argument, NULL, 'k' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct qmp *q = NULL;
	const char *c, *why;
	int opt, ret;

	vf_log_init("vofirmctl", LOG_NOTICE);
	signal(SIGPIPE, SIG_IGN); /* QEMU going away is an error to report, not a kill */
	while ((opt = getopt_long(argc, argv, "vhV", lo, NULL)) != -1) {
		switch (opt) {
		case 'q': o.qmp = optarg; break;
		case 'm': o.mount = optarg; break;
		case 'i': o.id = optarg; break;
		case 'M': o.model = optarg; break;
		case 'n': o.vm = optarg; break;
		case 'j': o.json = true; break;
		case 'k': o.keep_file = true; break;
		case 'v': vf_log_set_level(LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("vofirmctl %s\n", VOFIRM_VERSION); return 0;
		case 's': case 'b': case 'l':
			if (vf_parse_size(optarg, opt == 's' ? &o.size : opt == 'b' ? &o.block_size
							     : &o.limit, &why)) {
				vf_err("%s '%s': %s", lo[opt == 's' ? 2 : opt == 'b' ? 6 : 9].name,
				       optarg, why);
				return 2;
			}
			if (opt == 's')
				o.size_set = true;
			break;
		case 't':
			if (vf_parse_duration(optarg, &o.timeout_ms, &why)) {
				vf_err("--timeout '%s': %s", optarg, why);
				return 2;
			}
			break;
		case 'p':
			o.pid = strtol(optarg, NULL, 10);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	c = argv[optind];
	if (!strcmp(c, "status")) {
		if (!o.mount) {
			vf_err("status needs --mount DIR");
			return 2;
		}
		return do_status() ? 1 : 0;
	}
	if (!strcmp(c, "budget")) {
		if (o.pid <= 0 || !o.limit) {
			vf_err("budget needs --pid PID and --limit SIZE");
			return 2;
		}
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
	if (o.vm && (!*o.vm || o.vm[0] == '.' || strpbrk(o.vm, "/\"\\ "))) {
		vf_err("--vm '%s': a plain directory name (no '/', no leading dot)", o.vm);
		return 2;
	}
	if (o.id && (strlen(o.id) > 100 || strpbrk(o.id, "/\"\\ "))) {
		vf_err("--id '%s': at most 100 characters, no '/', quotes, backslashes or spaces", o.id);
		return 2;
	}
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
