// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>

#include "vofirm/config.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

/* The value a row stores, in the daemon's settings. */
#define FIELD(type, settings, o) ((type *)((char *)(settings) + (o)->offset))

static bool is_end(const struct vf_opt *o)
{
	return !o->name && !o->short_name;
}

static bool is_setting(const struct vf_opt *o)
{
	return o->kind <= VF_OPT_LIST;
}

/* "true/yes/1", "false/no/0" (any case). */
static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int set_uint(const struct vf_opt *o, void *settings, const char *value, const char *origin)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end || *value == '-' || v < o->lo || v > o->hi) {
		vf_err("%s: %s '%s': must be a number from %u to %u", origin, o->name, value,
		       (unsigned)o->lo, (unsigned)o->hi);
		return -EINVAL;
	}
	*FIELD(unsigned, settings, o) = (unsigned)v;
	return 0;
}

/* SIZE and DURATION: both are uint64_t, bounded the same way. */
static int set_u64(const struct vf_opt *o, void *settings, const char *value, const char *origin)
{
	const char *why;
	char max[32];
	uint64_t v;
	int ret;

	if (o->kind == VF_OPT_SIZE)
		ret = vf_parse_size(value, &v, &why);
	else
		ret = vf_parse_duration(value, &v, &why);
	if (ret) {
		vf_err("%s: %s '%s': %s", origin, o->name, value, why);
		return -EINVAL;
	}
	if (o->lo && v == 0) {
		vf_err("%s: %s must be more than 0, not '%s'", origin, o->name, value);
		return -EINVAL;
	}
	if (o->kind == VF_OPT_SIZE && o->hi && v > o->hi) {
		vf_err("%s: %s '%s': at most %s", origin, o->name, value,
		       vf_format_size(o->hi, max, sizeof(max)));
		return -EINVAL;
	}
	*FIELD(uint64_t, settings, o) = v;
	return 0;
}

static int set_string(const struct vf_opt *o, void *settings, const char *value, const char *origin)
{
	char **p = FIELD(char *, settings, o);

	if (!*value) {
		vf_err("%s: %s is empty", origin, o->name);
		return -EINVAL;
	}
	if (o->hi && strlen(value) > o->hi) {
		vf_err("%s: %s '%s': longer than %u characters", origin, o->name, value,
		       (unsigned)o->hi);
		return -EINVAL;
	}
	free(*p);
	*p = strdup(value);
	return 0;
}

/* One value of a setting row, as the command line or a file gives it. */
static int set_value(const struct vf_opt *o, void *settings, const char *value, const char *origin)
{
	int level;

	switch (o->kind) {
	case VF_OPT_UINT:
		return set_uint(o, settings, value, origin);
	case VF_OPT_SIZE:
	case VF_OPT_DURATION:
		return set_u64(o, settings, value, origin);
	case VF_OPT_BOOL:
		if (parse_bool(value, FIELD(bool, settings, o))) {
			vf_err("%s: %s '%s': not a boolean (true or false)", origin, o->name,
			       value);
			return -EINVAL;
		}
		return 0;
	case VF_OPT_STRING:
		return set_string(o, settings, value, origin);
	case VF_OPT_LOG_LEVEL:
		level = vf_log_parse_level(value);
		if (level < 0) {
			vf_err("%s: %s '%s': use error, warning, notice, info or debug", origin,
			       o->name, value);
			return -EINVAL;
		}
		*FIELD(int, settings, o) = level;
		return 0;
	case VF_OPT_LIST:
		return o->add(settings, value, origin);
	case VF_OPT_CONFIG:
	case VF_OPT_ANSWER:
	case VF_OPT_ACTION:
		break; /* command line only: never looked up as a setting */
	}
	return -EINVAL;
}

static const struct vf_opt *find_key(const struct vf_opts *t, const char *key)
{
	for (const struct vf_opt *o = t->opt; !is_end(o); o++)
		if (o->name && is_setting(o) && !strcmp(o->name, key))
			return o;
	return NULL;
}

void vf_opts_defaults(const struct vf_opts *t, void *settings)
{
	for (const struct vf_opt *o = t->opt; !is_end(o); o++)
		if (o->def)
			set_value(o, settings, o->def, "the built-in default");
}

int vf_opts_set(const struct vf_opts *t, void *settings, const char *key, const char *value,
		const char *origin)
{
	const struct vf_opt *o = find_key(t, key);

	if (!o) {
		vf_err("%s: unknown setting '%s'", origin, key);
		return -EINVAL;
	}
	return set_value(o, settings, value, origin);
}

/* A file's key: a list is ';'-separated and replaces the list so far. */
static int set_from_file(const struct vf_opts *t, void *settings, const char *key,
			 const char *value, const char *origin)
{
	const struct vf_opt *o = find_key(t, key);
	gchar **items;
	int ret = 0;

	if (!o || o->kind != VF_OPT_LIST)
		return vf_opts_set(t, settings, key, value, origin);
	o->clear(settings);
	items = g_strsplit(value, ";", -1);
	for (gchar **i = items; *i && !ret; i++)
		if (*g_strstrip(*i))
			ret = o->add(settings, *i, origin);
	g_strfreev(items);
	return ret;
}

int vf_opts_load(const struct vf_opts *t, void *settings, const char *path)
{
	GKeyFile *kf = g_key_file_new();
	GError *gerr = NULL;
	gchar **keys = NULL, **groups = NULL;
	char origin[512];
	int ret = 0;

	snprintf(origin, sizeof(origin), "config file %s", path);
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &gerr)) {
		vf_err("%s: %s", origin, gerr->message);
		ret = gerr->domain == G_FILE_ERROR ? -ENOENT : -EINVAL;
		goto out;
	}
	if (!g_key_file_has_group(kf, t->group)) {
		vf_err("%s: no [%s] group", origin, t->group);
		ret = -EINVAL;
		goto out;
	}
	groups = g_key_file_get_groups(kf, NULL);
	for (gchar **g = groups; *g; g++)
		if (strcmp(*g, t->group))
			vf_warn("%s: group [%s] is not for this program; ignored", origin, *g);
	keys = g_key_file_get_keys(kf, t->group, NULL, NULL);
	for (gchar **k = keys; k && *k && !ret; k++) {
		gchar *v = g_key_file_get_string(kf, t->group, *k, &gerr);

		if (!v) {
			vf_err("%s: %s: %s", origin, *k, gerr->message);
			ret = -EINVAL;
			break;
		}
		ret = set_from_file(t, settings, *k, g_strstrip(v), origin) ? -EINVAL : 0;
		g_free(v);
	}
out:
	if (gerr)
		g_error_free(gerr);
	g_strfreev(groups);
	g_strfreev(keys);
	g_key_file_free(kf);
	return ret;
}

/* getopt_long's view of a table: a long option returns 256 + its row. */
struct getopt_table {
	struct option longs[VF_OPTS_MAX + 1];
	char shorts[2 * VF_OPTS_MAX + 2];
	char negated[VF_OPTS_MAX][48]; /* "no-NAME" of the rows with off set */
};

static int build_getopt(const struct vf_opts *t, struct getopt_table *g)
{
	char *s = g->shorts;
	int n = 0, nlong = 0;

	*s++ = ':'; /* a missing value is ':', not '?' */
	for (const struct vf_opt *o = t->opt; !is_end(o); o++, n++) {
		int has_arg = o->metavar ? required_argument : no_argument;
		const char *name = o->name;

		if (n == VF_OPTS_MAX) {
			vf_err("more than %d options in the [%s] table", VF_OPTS_MAX, t->group);
			return -EINVAL;
		}
		if (o->short_name) {
			*s++ = o->short_name;
			if (o->metavar)
				*s++ = ':';
		}
		if (!name)
			continue;
		if (o->off) {
			snprintf(g->negated[n], sizeof(g->negated[n]), "no-%s", name);
			name = g->negated[n];
		}
		g->longs[nlong++] = (struct option){ name, has_arg, NULL, 256 + n };
	}
	*s = '\0';
	g->longs[nlong] = (struct option){ NULL, 0, NULL, 0 };
	return 0;
}

/* The row getopt_long() returned, or NULL for an unknown option or a missing value. */
static const struct vf_opt *row_of(const struct vf_opts *t, int c)
{
	if (c >= 256)
		return &t->opt[c - 256];
	for (const struct vf_opt *o = t->opt; !is_end(o); o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

int vf_opts_parse_args(const struct vf_opts *t, void *settings, int argc, char **argv,
		       int *operands)
{
	struct getopt_table g;
	const struct vf_opt *o;
	const char *config = NULL;
	uint64_t listed = 0; /* LIST rows the command line has given */
	char origin[64], **scan;
	int c, config_row = 0, ret = 0;

	if (build_getopt(t, &g))
		return -EINVAL;
	opterr = 0;

	/* First --help or --version, before anything is read; then the
	 * file, which the rest of the command line overrides.  Mistakes are
	 * left to the second pass, which reports them in order.  getopt
	 * moves operands behind the options as it goes: this pass scans a
	 * copy, or an option missing its value at the end would take an
	 * operand moved behind it in the second. */
	scan = g_new(char *, argc + 1);
	memcpy(scan, argv, sizeof(*scan) * (argc + 1));
	optind = 0;
	while ((c = getopt_long(argc, scan, g.shorts, g.longs, NULL)) != -1) {
		o = row_of(t, c);
		if (o && o->kind == VF_OPT_ANSWER) {
			ret = o->act(settings, optarg) ? -EINVAL : 1;
			break;
		}
		if (o && o->kind == VF_OPT_CONFIG) {
			config = optarg;
			config_row = c;
		}
	}
	g_free(scan);
	if (ret)
		return ret;
	if (config) {
		if (vf_opts_load(t, settings, config))
			return -EINVAL;
		o = row_of(t, config_row);
		if (o->act && o->act(settings, config))
			return -EINVAL;
	}

	optind = 0;
	while ((c = getopt_long(argc, argv, g.shorts, g.longs, NULL)) != -1) {
		if (c == ':') {
			vf_err("option %s needs a value (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
		o = row_of(t, c);
		if (!o) {
			vf_err("unknown option '%s' (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
		snprintf(origin, sizeof(origin), "--%s", o->name ? o->name : "");
		switch (o->kind) {
		case VF_OPT_CONFIG:
		case VF_OPT_ANSWER:
			ret = 0; /* done by the first pass */
			break;
		case VF_OPT_ACTION:
			ret = o->act(settings, optarg);
			break;
		case VF_OPT_BOOL:
			*FIELD(bool, settings, o) = !o->off;
			ret = 0;
			break;
		case VF_OPT_LIST:
			if (!(listed & (1ull << (o - t->opt)))) {
				o->clear(settings); /* the command line replaces the file's list */
				listed |= 1ull << (o - t->opt);
			}
			ret = o->add(settings, optarg, origin);
			break;
		default:
			ret = set_value(o, settings, optarg, origin);
			break;
		}
		if (ret)
			return -EINVAL;
	}
	*operands = optind;
	return 0;
}

/* "  -l, --listen URL", "      --no-mlock", "  -o OPTIONS": its length. */
static int opt_synopsis(const struct vf_opt *o, char *buf, size_t len)
{
	char s[8] = "    ";

	if (o->short_name)
		snprintf(s, sizeof(s), "-%c%s", o->short_name, o->name ? ", " : "");
	return snprintf(buf, len, "  %s%s%s%s%s%s", s, o->name ? "--" : "", o->off ? "no-" : "",
			o->name ? o->name : "", o->metavar ? " " : "",
			o->metavar ? o->metavar : "");
}

/* Lines of help text stop before this column. */
#define HELP_WIDTH 80

/* One word of help at column *at: on a new line, indented to col, when it
 * would not fit on this one. */
static void help_word(FILE *f, const char *w, int col, int *at)
{
	int len = (int)strlen(w);

	if (*at > col && *at + 1 + len >= HELP_WIDTH) {
		fprintf(f, "\n%*s", col, "");
		*at = col;
	} else if (*at > col) {
		fputc(' ', f);
		(*at)++;
	}
	fputs(w, f);
	*at += len;
}

void vf_opts_help(const struct vf_opts *t, FILE *f)
{
	char syn[128];
	int col = 0, at;

	for (const struct vf_opt *o = t->opt; !is_end(o); o++) {
		int n = opt_synopsis(o, syn, sizeof(syn)) + 2;

		if (n > col)
			col = n;
	}
	for (const struct vf_opt *o = t->opt; !is_end(o); o++) {
		gchar **words = g_strsplit(o->help, " ", -1);

		at = opt_synopsis(o, syn, sizeof(syn));
		fprintf(f, "%s%*s", syn, col - at, "");
		at = col;
		for (gchar **w = words; *w; w++)
			help_word(f, *w, col, &at);
		/* a flag's default is its absence: no "(default false)" */
		if (o->def && o->kind != VF_OPT_BOOL) {
			gchar *d = g_strdup_printf("(default %s)", o->def);

			help_word(f, d, col, &at);
			g_free(d);
		}
		fputc('\n', f);
		g_strfreev(words);
	}
}
