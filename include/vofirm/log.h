/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for all vofirm programs: one line per call, written with a single
 * write(2) so that threads never interleave, to stderr, with syslog levels.
 * When stderr is not the journal each line starts with a timestamp.
 * vf_log() keeps errno.
 */
#ifndef VOFIRM_LOG_H
#define VOFIRM_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

void vf_log_init(const char *progname, int level);
void vf_log_set_level(int level);
/* From now on, lines go to syslog (for a daemon that has detached). */
void vf_log_to_syslog(void);
int vf_log_level(void);
/* "error", "warning", "notice", "info", "debug" -> LOG_*, or -1. */
int vf_log_parse_level(const char *s);

void vf_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Called with each line of level LOG_ERR or worse (its message, no prefix),
 * whether or not it is printed: vofirmctl --json puts the errors in its object. */
void vf_log_set_error_hook(void (*hook)(const char *msg));

#define vf_err(...) vf_log(LOG_ERR, __VA_ARGS__)
#define vf_warn(...) vf_log(LOG_WARNING, __VA_ARGS__)
#define vf_notice(...) vf_log(LOG_NOTICE, __VA_ARGS__)
#define vf_info(...) vf_log(LOG_INFO, __VA_ARGS__)
#define vf_debug(...) vf_log(LOG_DEBUG, __VA_ARGS__)

/*
 * Rate limiting for lines a peer can provoke at will (refused or failed
 * connections): at most `burst` lines per `interval_ms`; the first line
 * after a window that dropped some says how many.
 */
struct vf_ratelimit {
	unsigned interval_ms;
	unsigned burst;
	pthread_mutex_t lock;
	uint64_t begin;	  /* vf_now_ms() at the start of the window */
	unsigned printed; /* in this window */
	unsigned missed;  /* dropped in this window */
};

#define VF_RATELIMIT_INIT(ms, n)                                                     \
	{                                                                            \
		.interval_ms = (ms), .burst = (n), .lock = PTHREAD_MUTEX_INITIALIZER \
	}

/* Whether a line may go out now (logging a summary of the dropped ones first). */
bool vf_ratelimit_ok(struct vf_ratelimit *rl, int level);

/* vf_log() with a limit of its own at this call site: 10 lines per 5 s. */
#define vf_log_ratelimited(level, ...)                                        \
	do {                                                                  \
		static struct vf_ratelimit rl_ = VF_RATELIMIT_INIT(5000, 10); \
		if (vf_ratelimit_ok(&rl_, (level)))                           \
			vf_log((level), __VA_ARGS__);                         \
	} while (0)

#endif
