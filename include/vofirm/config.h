/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A daemon's settings as one table of options: the command line
 * (getopt_long), the config file (GKeyFile, one group) and --help are all
 * made from it, so an option cannot be in one and missing from another.
 * Precedence: defaults < the --config file < the rest of the command line.
 */
#ifndef VOFIRM_CONFIG_H
#define VOFIRM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What an option holds, and so how its value is parsed and stored at
 * `offset` in the daemon's settings.  The value kinds (up to LIST) are
 * config-file keys too; the others exist on the command line only. */
enum vf_opt_kind {
	VF_OPT_UINT,	  /* unsigned, from lo to hi */
	VF_OPT_SIZE,	  /* uint64_t bytes ("64M"); lo 1 refuses 0; hi, if not 0, is the most */
	VF_OPT_DURATION,  /* uint64_t milliseconds ("60s"); lo 1 refuses 0 */
	VF_OPT_BOOL,	  /* bool: a flag on the command line, true or false in a file */
	VF_OPT_STRING,	  /* char * (strdup), not empty; hi, if not 0, is the longest */
	VF_OPT_LOG_LEVEL, /* int LOG_*: error, warning, notice, info or debug */
	VF_OPT_LIST,	  /* add() each item: the option repeated, or ';' between items in a file */
	VF_OPT_CONFIG,	  /* --config FILE: loaded before the rest of the command line; then
			   * act(settings, FILE), if set (to remember which file) */
	VF_OPT_ANSWER,	  /* --help, --version: act() answers; nothing else is done */
	VF_OPT_ACTION,	  /* act(settings, value) */
};

struct vf_opt {
	const char *name; /* long option and config-file key; NULL: a short option only */
	char short_name;  /* 0: none */
	enum vf_opt_kind kind;
	size_t offset;	     /* of the value in the settings */
	uint64_t lo, hi;     /* bounds, as the kind says */
	const char *def;     /* default, in the option's own syntax; NULL: zero */
	const char *metavar; /* the value in --help; NULL: the option takes none */
	const char *help;
	bool off; /* BOOL: the command line has --no-NAME, which sets it false */
	/* LIST: one item; the list emptied (the command line's first use of
	 * the option, or a file's key, replaces what came before) */
	int (*add)(void *settings, const char *item, const char *origin);
	void (*clear)(void *settings);
	/* ANSWER, ACTION: value is NULL for an option without one; CONFIG:
	 * optional, given the file once it is loaded */
	int (*act)(void *settings, const char *value);
};

/* A daemon's table (rows up to one with neither name nor short_name) and
 * the group of its config file. */
struct vf_opts {
	const char *group;
	const struct vf_opt *opt;
};

/* At most this many rows in a table. */
#define VF_OPTS_MAX 64

/* Every default in the table into `settings`.  A default that does not
 * parse is a mistake in the table, and logged as one. */
void vf_opts_defaults(const struct vf_opts *t, void *settings);

/*
 * One setting by its config-file key, as the command line gives it (a
 * LIST gets one more item).  origin names where the value came from; a
 * refused value is logged as "ORIGIN: KEY 'VALUE': why" and changes
 * nothing.  0 or -EINVAL.
 */
int vf_opts_set(const struct vf_opts *t, void *settings, const char *key, const char *value,
		const char *origin);

/*
 * The group t->group of the GKeyFile at path, key by key in file order.
 * Other groups are ignored with a warning.  Returns 0, -ENOENT (cannot
 * read the file) or -EINVAL (syntax, no such group, an unknown key or a
 * refused value); every failure is logged with the file's name.
 */
int vf_opts_load(const struct vf_opts *t, void *settings, const char *path);

/*
 * The command line over what settings holds: an ANSWER option first (its
 * act() runs and nothing else is done), then the last --config file, then
 * every option in order.  Returns 0 with the operands in
 * argv[*operands..argc-1], 1 when an ANSWER option answered, or -EINVAL
 * (logged).
 */
int vf_opts_parse_args(const struct vf_opts *t, void *settings, int argc, char **argv,
		       int *operands);

/* The options for --help: one per row, with its value, meaning and default. */
void vf_opts_help(const struct vf_opts *t, FILE *f);

#endif
