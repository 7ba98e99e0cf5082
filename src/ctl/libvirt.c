// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirmctl's libvirt commands: grow, shrink and budget of a libvirt domain
 * (--domain NAME), through virsh, so that libvirt's view of the domain
 * stays right: nothing is hot-plugged behind its back.
 *
 *   grow    attach-device --live of a <memory model='dimm'|'virtio-mem'
 *           access='shared'>; libvirt puts a shared device's memory in its
 *           memory_backing_dir (qemu.conf), which must be on the vofirm
 *           mount: the new file is looked for there, and a device whose
 *           memory is elsewhere is detached again (libvirt 9 ignores a
 *           <source><path> of a DIMM without a word); an existing
 *           virtio-mem device (--id ALIAS) is resized instead
 *   shrink  detach-device-alias --live of a DIMM, and waits until the
 *           guest released it; virtio-mem: update-memory-device
 *           --requested-size, and waits until the guest unplugged
 *   budget  memtune --hard-limit --live: the domain's memory cgroup
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <glib.h>

#include "ctl.h"
#include "jv.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

/* A memory device of the domain's live XML. */
struct lv_mem {
	char *model, *alias;
	uint64_t size, requested, current, block; /* bytes */
};

struct lv_dom {
	long id;	 /* -1: not running */
	GPtrArray *mems; /* struct lv_mem */
};

static void lv_mem_free(gpointer p)
{
	struct lv_mem *m = p;

	g_free(m->model);
	g_free(m->alias);
	g_free(m);
}

static void lv_dom_clear(struct lv_dom *d)
{
	g_clear_pointer(&d->mems, g_ptr_array_unref);
}

/* Text of virsh's stderr for a message: "error: " prefixes gone, one line. */
static char *virsh_error(const char *err)
{
	char **lines = g_strsplit(err ? err : "", "\n", -1);
	GString *s = g_string_new(NULL);

	for (char **l = lines; *l; l++) {
		const char *t = g_str_has_prefix(*l, "error: ") ? *l + 7 : *l;

		if (!*g_strstrip((char *)t))
			continue;
		if (s->len)
			g_string_append(s, "; ");
		g_string_append(s, t);
	}
	g_strfreev(lines);
	if (!s->len)
		g_string_append(s, "no message");
	return g_string_free(s, FALSE);
}

/*
 * virsh [-c o.connect] ARGS... (NULL-terminated); its stdout in *out if out
 * (g_free it).  0, or -EIO with "what: libvirt: its error" logged.
 */
static int virsh(char **out, const char *what, ...)
{
	GPtrArray *argv = g_ptr_array_new();
	char *sout = NULL, *serr = NULL, *msg;
	GError *gerr = NULL;
	const char *a;
	int status, ret = 0;
	va_list ap;

	g_ptr_array_add(argv, (char *)"virsh");
	if (o.connect) {
		g_ptr_array_add(argv, (char *)"-c");
		g_ptr_array_add(argv, (char *)o.connect);
	}
	va_start(ap, what);
	while ((a = va_arg(ap, const char *)))
		g_ptr_array_add(argv, (char *)a);
	va_end(ap);
	g_ptr_array_add(argv, NULL);
	if (vf_log_level() >= LOG_DEBUG) {
		char *line = g_strjoinv(" ", (char **)argv->pdata);

		vf_debug("running %s", line);
		g_free(line);
	}
	if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &sout,
			  &serr, &status, &gerr)) {
		vf_err("%s: cannot run virsh: %s (install libvirt-clients)", what, gerr->message);
		g_error_free(gerr);
		ret = -ENOENT;
	} else if (!g_spawn_check_wait_status(status, NULL)) {
		msg = virsh_error(serr);
		vf_err("%s: libvirt: %s", what, msg);
		g_free(msg);
		ret = -EIO;
	}
	if (!ret && out)
		*out = sout;
	else
		g_free(sout);
	g_free(serr);
	g_ptr_array_unref(argv);
	return ret;
}

/* A libvirt size (its text and unit attribute) in bytes; 0 or -EINVAL. */
static int lv_size(const char *text, const char *unit, uint64_t *v)
{
	static const struct {
		const char *u;
		uint64_t m;
	} units[] = {
		{ "b", 1 },
		{ "bytes", 1 },
		{ "KB", 1000 },
		{ "k", 1ull << 10 },
		{ "KiB", 1ull << 10 },
		{ "MB", 1000000 },
		{ "M", 1ull << 20 },
		{ "MiB", 1ull << 20 },
		{ "GB", 1000000000 },
		{ "G", 1ull << 30 },
		{ "GiB", 1ull << 30 },
		{ "T", 1ull << 40 },
		{ "TiB", 1ull << 40 },
	};
	uint64_t mul = 0, n;
	char *end;

	if (!unit)
		unit = "KiB"; /* libvirt's default */
	for (size_t i = 0; i < G_N_ELEMENTS(units); i++)
		if (!g_ascii_strcasecmp(unit, units[i].u))
			mul = units[i].m;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (!mul || errno || end == text || *end || n > UINT64_MAX / mul)
		return -EINVAL;
	*v = n * mul;
	return 0;
}

/* The parse of a domain's XML: where we are, and what is being read. */
struct lv_parse {
	struct lv_dom *dom;
	GPtrArray *path;    /* element names, outermost first */
	struct lv_mem *mem; /* inside devices/memory */
	uint64_t *field;    /* target/size, requested, current or block */
	char *unit;
};

static bool at(struct lv_parse *p, const char *const *names, unsigned n)
{
	if (p->path->len != n)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(g_ptr_array_index(p->path, i), names[i]))
			return false;
	return true;
}

static const char *attr(const char **names, const char **values, const char *name)
{
	for (; *names; names++, values++)
		if (!strcmp(*names, name))
			return *values;
	return NULL;
}

static void xml_start(GMarkupParseContext *ctx, const char *name, const char **names,
		      const char **values, gpointer data, GError **err)
{
	static const char *const memory[] = { "domain", "devices", "memory" };
	struct lv_parse *p = data;

	if (at(p, NULL, 0) && !strcmp(name, "domain")) {
		const char *id = attr(names, values, "id");

		p->dom->id = id ? strtol(id, NULL, 10) : -1;
	}
	g_ptr_array_add(p->path, g_strdup(name));
	if (at(p, memory, 3)) {
		p->mem = g_new0(struct lv_mem, 1);
		p->mem->model = g_strdup(attr(names, values, "model"));
		g_ptr_array_add(p->dom->mems, p->mem);
	} else if (p->mem && p->path->len == 4 && !strcmp(name, "alias")) {
		g_free(p->mem->alias);
		p->mem->alias = g_strdup(attr(names, values, "name"));
	} else if (p->mem && p->path->len == 5 &&
		   !strcmp(g_ptr_array_index(p->path, 3), "target")) {
		p->field = !strcmp(name, "size")	? &p->mem->size
			   : !strcmp(name, "requested") ? &p->mem->requested
			   : !strcmp(name, "current")	? &p->mem->current
			   : !strcmp(name, "block")	? &p->mem->block
							: NULL;
		g_free(p->unit);
		p->unit = g_strdup(attr(names, values, "unit"));
	}
}

static void xml_end(GMarkupParseContext *ctx, const char *name, gpointer data, GError **err)
{
	struct lv_parse *p = data;

	if (p->path->len == 3 && p->mem)
		p->mem = NULL;
	p->field = NULL;
	g_ptr_array_remove_index(p->path, p->path->len - 1);
}

static void xml_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data,
		     GError **err)
{
	struct lv_parse *p = data;
	char *t;

	if (!p->field)
		return;
	t = g_strstrip(g_strndup(text, len));
	if (lv_size(t, p->unit, p->field))
		g_set_error(err, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
			    "a size '%s' (unit '%s') of memory device %s", t,
			    p->unit ? p->unit : "KiB", p->mem->alias ? p->mem->alias : "?");
	g_free(t);
}

/* The domain's live XML: running or not, its memory devices.  0 or -errno (logged). */
static int lv_domain(struct lv_dom *d)
{
	static const GMarkupParser parser = { xml_start, xml_end, xml_text, NULL, NULL };
	struct lv_parse p = { .dom = d };
	GMarkupParseContext *ctx;
	GError *gerr = NULL;
	char *xml = NULL;
	int ret;

	d->id = -1;
	d->mems = g_ptr_array_new_with_free_func(lv_mem_free);
	ret = virsh(&xml, "reading the domain's XML", "dumpxml", o.domain, NULL);
	if (ret)
		return ret;
	p.path = g_ptr_array_new_with_free_func(g_free);
	ctx = g_markup_parse_context_new(&parser, 0, &p, NULL);
	if (!g_markup_parse_context_parse(ctx, xml, -1, &gerr) ||
	    !g_markup_parse_context_end_parse(ctx, &gerr)) {
		vf_err("domain %s: cannot read libvirt's XML: %s", o.domain, gerr->message);
		g_error_free(gerr);
		ret = -EPROTO;
	}
	g_markup_parse_context_free(ctx);
	g_ptr_array_unref(p.path);
	g_free(p.unit);
	g_free(xml);
	if (ret)
		lv_dom_clear(d);
	return ret;
}

static struct lv_mem *lv_find(struct lv_dom *d, const char *alias)
{
	for (unsigned i = 0; i < d->mems->len; i++) {
		struct lv_mem *m = g_ptr_array_index(d->mems, i);

		if (!g_strcmp0(m->alias, alias))
			return m;
	}
	return NULL;
}

/* "dimm0 (dimm), virtiomem0 (virtio-mem)", or "none" (g_free it) */
static char *lv_list(struct lv_dom *d)
{
	GString *s = g_string_new(NULL);

	for (unsigned i = 0; i < d->mems->len; i++) {
		struct lv_mem *m = g_ptr_array_index(d->mems, i);

		g_string_append_printf(s, "%s%s (%s)", s->len ? ", " : "",
				       m->alias ? m->alias : "?", m->model ? m->model : "?");
	}
	if (!s->len)
		g_string_append(s, "none");
	return g_string_free(s, FALSE);
}

static int lv_running(struct lv_dom *d)
{
	if (lv_domain(d))
		return -EIO;
	if (d->id < 0) {
		vf_err("domain %s is not running: memory is grown and shrunk on a running domain",
		       o.domain);
		lv_dom_clear(d);
		return -EINVAL;
	}
	return 0;
}

/*
 * Waits (o.timeout_ms) until the device `alias` is gone (want_gone) or its
 * current size is `want`.  0, -ETIMEDOUT (*got: the last size seen), -errno.
 */
static int lv_wait(const char *alias, bool want_gone, uint64_t want, uint64_t *got)
{
	uint64_t start = vf_now_ms();
	int ret;

	for (;;) {
		struct lv_dom d;
		struct lv_mem *m;
		bool done;

		ret = lv_domain(&d);
		if (ret)
			break;
		m = lv_find(&d, alias);
		if (m)
			*got = m->current;
		done = want_gone ? !m : m && m->current == want;
		lv_dom_clear(&d);
		if (done)
			break;
		if (!want_gone && !m) {
			progress_done();
			vf_err("domain %s: memory device %s went away", o.domain, alias);
			return -ENODEV;
		}
		if (vf_now_ms() - start >= o.timeout_ms) {
			ret = -ETIMEDOUT;
			break;
		}
		if (want_gone)
			progress_line("waiting for the guest to release %s (%" PRIu64 " s)", alias,
				      (vf_now_ms() - start) / 1000);
		else
			progress_line("waiting for the guest: %s is at %s of %s (%" PRIu64 " s)",
				      alias, fmt_size(*got), fmt_size(want),
				      (vf_now_ms() - start) / 1000);
		usleep(200000);
	}
	progress_done();
	return ret;
}

/* An XML file for attach-device (g_free the path, unlink the file). */
static char *device_xml(bool vmem, uint64_t block)
{
	GError *gerr = NULL;
	char *path = NULL, *xml;
	int fd;

	if (vmem)
		xml = g_strdup_printf("<memory model='virtio-mem' access='shared'>\n"
				      "  <target>\n"
				      "    <size unit='KiB'>%" PRIu64 "</size>\n"
				      "    <node>0</node>\n"
				      "    <block unit='KiB'>%" PRIu64 "</block>\n"
				      "    <requested unit='KiB'>%" PRIu64 "</requested>\n"
				      "  </target>\n"
				      "</memory>\n",
				      o.size >> 10, block >> 10, o.size >> 10);
	else
		xml = g_strdup_printf("<memory model='dimm' access='shared'>\n"
				      "  <target>\n"
				      "    <size unit='KiB'>%" PRIu64 "</size>\n"
				      "    <node>0</node>\n"
				      "  </target>\n"
				      "</memory>\n",
				      o.size >> 10);
	fd = g_file_open_tmp("vofirmctl-XXXXXX.xml", &path, &gerr);
	if (fd < 0 || !g_file_set_contents(path, xml, -1, &gerr)) {
		vf_err("cannot write the device's XML: %s", gerr->message);
		g_error_free(gerr);
		if (path)
			unlink(path);
		g_clear_pointer(&path, g_free);
	}
	if (fd >= 0)
		close(fd);
	g_free(xml);
	return path;
}

/*
 * The file of a new device on the vofirm mount: libvirt names it
 * MEMORY_BACKING_DIR/libvirt/qemu/ID-NAME/ALIAS (NAME: the domain's first
 * 20 characters).  Its path in the mount (g_free it) if the mount's stats
 * have such a file of the device's size, else NULL.
 */
static char *vofirm_file(long domid, const char *alias, uint64_t size)
{
	char *suffix = g_strdup_printf("/%ld-%.20s/%s", domid, o.domain, alias), *found = NULL;
	JsonNode *st = read_stats(o.mount, NULL);
	JsonArray *files;

	files = st ? jv_array(jv_get(st, "files")) : NULL;
	for (guint i = 0; files && i < json_array_get_length(files); i++) {
		JsonNode *f = json_array_get_element(files, i);
		const char *path = jv_str(jv_get(f, "path"));
		uint64_t fsize;

		if (path && g_str_has_suffix(path, suffix) &&
		    !answer_size(f, "stats", "size", false, &fsize) && fsize == size)
			found = g_strdup(path);
	}
	if (st)
		json_node_unref(st);
	g_free(suffix);
	return found;
}

/* grow --domain --id ALIAS: a virtio-mem device plugs up to o.size */
static int lv_resize(struct lv_mem *m)
{
	char req[32];
	uint64_t got = 0;
	int ret;

	if (g_strcmp0(m->model, "virtio-mem")) {
		vf_err("domain %s: %s is a %s, whose size is fixed: to grow the domain, add a "
		       "device (grow without --id)",
		       o.domain, m->alias, m->model ? m->model : "device");
		return -EINVAL;
	}
	if (o.size > m->size || (m->block && o.size % m->block)) {
		vf_err("domain %s: %s can plug up to %s in blocks of %s: not %s", o.domain,
		       m->alias, fmt_size(m->size), fmt_size(m->block), fmt_size(o.size));
		return -EINVAL;
	}
	snprintf(req, sizeof(req), "%" PRIu64 "KiB", o.size >> 10);
	progress("asking the guest to plug %s of %s (virsh update-memory-device)", fmt_size(o.size),
		 m->alias);
	ret = virsh(NULL, "resizing the virtio-mem device", "update-memory-device", o.domain,
		    "--alias", m->alias, "--requested-size", req, "--live", NULL);
	if (ret)
		return ret;
	ret = lv_wait(m->alias, false, o.size, &got);
	if (ret == -ETIMEDOUT)
		vf_err("domain %s: the guest has plugged %s of %s's %s after %.0f s", o.domain,
		       fmt_size(got), m->alias, fmt_size(o.size), (double)o.timeout_ms / 1000);
	if (!ret)
		printf("domain %s: %s (virtio-mem) has %s plugged\n", o.domain, m->alias,
		       fmt_size(o.size));
	return ret;
}

int lv_grow(void)
{
	bool vmem = !strcmp(o.model, "virtio-mem");
	uint64_t block = o.block_size ? o.block_size : vmem ? 2ull << 20 : 128ull << 20;
	struct lv_dom before = { 0 }, after = { 0 };
	struct lv_mem *m = NULL;
	char *xml = NULL, *file = NULL;
	struct statvfs sv;
	uint64_t got = 0;
	int ret;

	ret = lv_running(&before);
	if (ret)
		return ret;
	if (o.id) {
		m = lv_find(&before, o.id);
		if (m) {
			ret = lv_resize(m);
		} else {
			char *all = lv_list(&before);

			vf_err("domain %s has no memory device %s (it has: %s); without --id, grow "
			       "adds one",
			       o.domain, o.id, all);
			g_free(all);
			ret = -ENODEV;
		}
		goto out;
	}
	if (!o.size || o.size % block) {
		vf_err("--size %s: a %s grows in multiples of %s (--block-size)", fmt_size(o.size),
		       vmem ? "virtio-mem device" : "DIMM", fmt_size(block));
		ret = -EINVAL;
		goto out;
	}
	/* the pool first: a grow that cannot fit changes nothing */
	if (statvfs(o.mount, &sv)) {
		ret = -errno;
		vf_err("cannot read the pool of %s: %s", o.mount, strerror(-ret));
		goto out;
	}
	if (o.size > (uint64_t)sv.f_bavail * sv.f_frsize) {
		vf_err("the pool cannot cover %s: %s free (df %s); nothing changed",
		       fmt_size(o.size), fmt_size((uint64_t)sv.f_bavail * sv.f_frsize), o.mount);
		ret = -ENOSPC;
		goto out;
	}
	xml = device_xml(vmem, block);
	if (!xml) {
		ret = -EIO;
		goto out;
	}
	progress("attaching a %s %s to domain %s (virsh attach-device --live)",
		 vmem ? "virtio-mem device of" : "DIMM of", fmt_size(o.size), o.domain);
	ret = virsh(NULL, "attaching the memory device", "attach-device", o.domain, xml, "--live",
		    NULL);
	unlink(xml);
	if (ret) {
		vf_err("nothing changed");
		goto out;
	}
	ret = lv_domain(&after);
	if (ret)
		goto out;
	for (unsigned i = 0; i < after.mems->len && !m; i++) {
		struct lv_mem *n = g_ptr_array_index(after.mems, i);

		if (n->alias && !lv_find(&before, n->alias))
			m = n;
	}
	if (!m) {
		vf_err("domain %s: libvirt attached the device, but its XML shows no new memory "
		       "device",
		       o.domain);
		ret = -EPROTO;
		goto out;
	}
	/* where did libvirt put its memory? */
	file = vofirm_file(after.id, m->alias, o.size);
	if (!file) {
		vf_err("domain %s: libvirt did not put %s's memory on %s (no file .../%ld-%.20s/%s "
		       "of %s there): its memory_backing_dir (qemu.conf) must be a directory on "
		       "the vofirm mount; removing the device again",
		       o.domain, m->alias, o.mount, after.id, o.domain, m->alias, fmt_size(o.size));
		if (vmem)
			/* QEMU cannot unplug a virtio-mem device: unplug its memory */
			virsh(NULL, "undoing the grow", "update-memory-device", o.domain, "--alias",
			      m->alias, "--requested-size", "0", "--live", NULL);
		else if (!virsh(NULL, "undoing the grow", "detach-device-alias", o.domain, m->alias,
				"--live", NULL))
			lv_wait(m->alias, true, 0, &got);
		ret = -EXDEV;
		goto out;
	}
	if (vmem) {
		ret = lv_wait(m->alias, false, o.size, &got);
		if (ret == -ETIMEDOUT)
			vf_err("domain %s: the guest has plugged %s of %s's %s after %.0f s; the "
			       "device stays (vofirmctl shrink --domain %s --id %s removes its "
			       "memory)",
			       o.domain, fmt_size(got), m->alias, fmt_size(o.size),
			       (double)o.timeout_ms / 1000, o.domain, m->alias);
		if (ret)
			goto out;
	}
	{
		char *abs = realpath(o.mount, NULL);

		printf("domain %s: %s (%s, %s) on vofirm: %s%s\n", o.domain, m->alias,
		       vmem ? "virtio-mem" : "pc-dimm", fmt_size(o.size), abs ? abs : o.mount,
		       file);
		free(abs);
	}
out:
	g_free(file);
	g_free(xml);
	lv_dom_clear(&before);
	lv_dom_clear(&after);
	return ret;
}

int lv_shrink(void)
{
	struct lv_dom d = { 0 };
	struct lv_mem *m;
	uint64_t target = o.size_set ? o.size : 0, got = 0;
	char req[32];
	int ret;

	ret = lv_running(&d);
	if (ret)
		return ret;
	m = lv_find(&d, o.id);
	if (!m) {
		char *all = lv_list(&d);

		vf_err("domain %s has no memory device %s (it has: %s)", o.domain, o.id, all);
		g_free(all);
		ret = -ENODEV;
		goto out;
	}
	if (!g_strcmp0(m->model, "virtio-mem")) {
		if (target > m->size || (m->block && target % m->block)) {
			vf_err("domain %s: %s shrinks to a multiple of %s up to %s: not %s",
			       o.domain, o.id, fmt_size(m->block), fmt_size(m->size),
			       fmt_size(target));
			ret = -EINVAL;
			goto out;
		}
		snprintf(req, sizeof(req), "%" PRIu64 "KiB", target >> 10);
		progress("asking the guest to unplug %s down to %s (virsh update-memory-device)",
			 o.id, fmt_size(target));
		ret = virsh(NULL, "resizing the virtio-mem device", "update-memory-device",
			    o.domain, "--alias", o.id, "--requested-size", req, "--live", NULL);
		if (ret)
			goto out;
		ret = lv_wait(o.id, false, target, &got);
		if (ret == -ETIMEDOUT)
			vf_err("domain %s: the guest has given back %s's memory down to %s after "
			       "%.0f s, not %s (memory in use?); its request stays: run shrink "
			       "again to wait longer",
			       o.domain, o.id, fmt_size(got), (double)o.timeout_ms / 1000,
			       fmt_size(target));
		else if (!ret)
			printf("domain %s: %s (virtio-mem) is at %s; its unplugged blocks are "
			       "zeroed and stay reserved for it until the domain stops\n",
			       o.domain, o.id, fmt_size(target));
		goto out;
	}
	if (o.size_set) {
		vf_err("domain %s: %s is a %s, removed whole: no --size", o.domain, o.id,
		       m->model ? m->model : "device");
		ret = -EINVAL;
		goto out;
	}
	progress("detaching %s from domain %s (virsh detach-device-alias --live)", o.id, o.domain);
	ret = virsh(NULL, "detaching the memory device", "detach-device-alias", o.domain, o.id,
		    "--live", NULL);
	if (ret)
		goto out;
	ret = lv_wait(o.id, true, 0, &got);
	if (ret == -ETIMEDOUT)
		vf_err("domain %s: the guest has not released %s after %.0f s (is its memory in "
		       "use?); the unplug request stays, and libvirt removes the device when the "
		       "guest lets go: run shrink again to wait longer",
		       o.domain, o.id, (double)o.timeout_ms / 1000);
	else if (!ret)
		printf("domain %s: %s removed; libvirt removed its file, and its memory went back "
		       "to the pool\n",
		       o.domain, o.id);
out:
	lv_dom_clear(&d);
	return ret;
}

int lv_budget(void)
{
	char kib[32], *out = NULL, *line, *val = NULL;
	uint64_t got = 0;
	int ret;

	/* libvirt takes KiB: round up, never below what was asked */
	snprintf(kib, sizeof(kib), "%" PRIu64, (o.limit + 1023) >> 10);
	ret = virsh(NULL, "setting the domain's memory hard limit", "memtune", o.domain,
		    "--hard-limit", kib, "--live", NULL);
	if (ret)
		return ret;
	ret = virsh(&out, "reading the domain's memory limits", "memtune", o.domain, NULL);
	if (ret)
		return ret;
	line = strstr(out, "hard_limit");
	line = line ? strchr(line, ':') : NULL;
	if (line)
		val = g_strstrip(g_strndup(line + 1, strcspn(line + 1, "\n")));
	if (!val || lv_size(val, "KiB", &got)) {
		vf_err("domain %s: cannot read its hard limit back from virsh memtune", o.domain);
		ret = -EPROTO;
	} else if (got < o.limit) {
		vf_err("domain %s: libvirt set a hard limit of %s, not %s", o.domain, fmt_size(got),
		       fmt_size(o.limit));
		ret = -EPROTO;
	} else {
		printf("domain %s: memory hard limit %s (libvirt <memtune>, its memory cgroup): "
		       "QEMU, guest RAM in the page cache included\n",
		       o.domain, fmt_size(got));
	}
	g_free(val);
	g_free(out);
	return ret;
}
