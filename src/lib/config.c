// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>

#include "vofirm/config.h"
#include "vofirm/log.h"

const char *vf_config_arg(int argc, char **argv)
{
	const char *cfg = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "-c")) && i + 1 < argc)
			cfg = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			cfg = argv[i] + 9;
		else if (!strncmp(argv[i], "-c", 2) && argv[i][2])
			cfg = argv[i] + 2;
	}
	return cfg;
}

int vf_parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1")) {
		*out = 1;
		return 0;
	}
	if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0")) {
		*out = 0;
		return 0;
	}
	return -EINVAL;
}

int vf_config_uint(const char *key, const char *value, const char *origin,
		   unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end || *value == '-' || v < lo || v > hi) {
		vf_err("%s: %s '%s': must be a number from %u to %u", origin, key, value, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

int vf_config_bool(const char *key, const char *value, const char *origin, bool *out)
{
	int b;

	if (vf_parse_bool(value, &b)) {
		vf_err("%s: %s '%s': not a boolean (true or false)", origin, key, value);
		return -EINVAL;
	}
	*out = b;
	return 0;
}

int vf_config_log_level(const char *key, const char *value, const char *origin, int *out)
{
	int l = vf_log_parse_level(value);

	if (l < 0) {
		vf_err("%s: %s '%s': use error, warning, notice, info or debug",
		       origin, key, value);
		return -EINVAL;
	}
	*out = l;
	return 0;
}

int vf_config_list(const char *value, const char *origin,
		   int (*add)(void *ctx, const char *item, const char *origin), void *ctx)
{
	gchar **list = g_strsplit(value, ";", -1);
	int ret = 0;

	for (gchar **u = list; *u && !ret; u++)
		if (*g_strstrip(*u))
			ret = add(ctx, *u, origin);
	g_strfreev(list);
	return ret;
}

int vf_config_load(const char *path, const char *group, vf_config_set_fn set, void *ctx)
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
	if (!g_key_file_has_group(kf, group)) {
		vf_err("%s: no [%s] group", origin, group);
		ret = -EINVAL;
		goto out;
	}
	groups = g_key_file_get_groups(kf, NULL);
	for (gchar **g = groups; *g; g++)
		if (strcmp(*g, group))
			vf_warn("%s: group [%s] is not for this program; ignored", origin, *g);
	keys = g_key_file_get_keys(kf, group, NULL, NULL);
	for (gchar **k = keys; k && *k && !ret; k++) {
		gchar *v = g_key_file_get_string(kf, group, *k, &gerr);

		if (!v) {
			vf_err("%s: %s: %s", origin, *k, gerr->message);
			ret = -EINVAL;
			break;
		}
		ret = set(ctx, *k, g_strstrip(v), origin) ? -EINVAL : 0;
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
