/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for all vofirm programs: one line per call, written with a single
 * write(2) so that threads never interleave, to stderr, with syslog levels.
 * When stderr is not the journal each line starts with a timestamp.
 * vf_log() keeps errno.
 */
#ifndef VOFIRM_LOG_H
#define VOFIRM_LOG_H

#include <syslog.h>

void vf_log_init(const char *progname, int level);
void vf_log_set_level(int level);
/* From now on, lines go to syslog (for a daemon that has detached). */
void vf_log_to_syslog(void);
int vf_log_level(void);
/* "error", "warning", "notice", "info", "debug" -> LOG_*, or -1. */
int vf_log_parse_level(const char *s);

void vf_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define vf_err(...) vf_log(LOG_ERR, __VA_ARGS__)
#define vf_warn(...) vf_log(LOG_WARNING, __VA_ARGS__)
#define vf_notice(...) vf_log(LOG_NOTICE, __VA_ARGS__)
#define vf_info(...) vf_log(LOG_INFO, __VA_ARGS__)
#define vf_debug(...) vf_log(LOG_DEBUG, __VA_ARGS__)

#endif
