/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Config files (GKeyFile): one group, every key handed to a setter. */
#ifndef VOFIRM_CONFIG_H
#define VOFIRM_CONFIG_H

#include <stdbool.h>

/* origin names the file, for messages.  Returns 0 or -EINVAL (logged). */
typedef int (*vf_config_set_fn)(void *ctx, const char *key, const char *value,
				const char *origin);

/*
 * Loads `group` of the GKeyFile at path and calls set() for each key in
 * file order.  Other groups are ignored with a warning.  Returns 0,
 * -ENOENT (cannot read the file) or -EINVAL (syntax, no such group, or a
 * setter refused a value); every failure is logged with the file's name.
 */
int vf_config_load(const char *path, const char *group, vf_config_set_fn set, void *ctx);

/* The value of -c/--config on a command line (before "--"), or NULL: the
 * file is read before the rest of the command line, which wins over it. */
const char *vf_config_arg(int argc, char **argv);

/* "true/yes/1", "false/no/0" (any case).  0 or -EINVAL. */
int vf_parse_bool(const char *s, int *out);

/*
 * Setting parsers shared by the daemons: each stores the value of `key`
 * or logs "ORIGIN: KEY 'VALUE': why" and returns -EINVAL, changing nothing.
 */
int vf_config_uint(const char *key, const char *value, const char *origin,
		   unsigned lo, unsigned hi, unsigned *out);
int vf_config_bool(const char *key, const char *value, const char *origin, bool *out);
/* error, warning, notice, info or debug, stored as a LOG_* level. */
int vf_config_log_level(const char *key, const char *value, const char *origin, int *out);

/* Calls add() for each non-empty item of a ';'-separated list (a config
 * file's form of a repeatable option), stopping at the first failure. */
int vf_config_list(const char *value, const char *origin,
		   int (*add)(void *ctx, const char *item, const char *origin), void *ctx);

#endif
