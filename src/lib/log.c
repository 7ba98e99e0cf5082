// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vofirm/log.h"
#include "vofirm/util.h"

static const char *log_prog = "vofirm";
static int log_max = LOG_INFO;
static int log_stamp = 1;
static int log_syslog;
static void (*error_hook)(const char *msg);

static const char *const level_names[] = {
	[LOG_EMERG] = "emergency", [LOG_ALERT] = "alert",     [LOG_CRIT] = "critical",
	[LOG_ERR] = "error",	   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",	   [LOG_DEBUG] = "debug",
};

void vf_log_init(const char *progname, int level)
{
	log_prog = progname;
	log_max = level;
	/* systemd sets JOURNAL_STREAM when stderr goes to the journal,
	 * which has its own timestamps. */
	log_stamp = getenv("JOURNAL_STREAM") == NULL;
}

void vf_log_set_level(int level)
{
	log_max = level;
}

void vf_log_to_syslog(void)
{
	openlog(log_prog, LOG_PID, LOG_DAEMON);
	log_syslog = 1;
}

void vf_log_set_error_hook(void (*hook)(const char *msg))
{
	error_hook = hook;
}

int vf_log_level(void)
{
	return log_max;
}

int vf_log_parse_level(const char *s)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (!strcasecmp(s, level_names[i]))
			return i;
	if (!strcasecmp(s, "warn"))
		return LOG_WARNING;
	return -1;
}

void vf_log(int level, const char *fmt, ...)
{
	int saved = errno;
	char line[2048];
	size_t n = 0;
	va_list ap;
	int r;

	if (level < 0)
		level = LOG_ERR;
	if (error_hook && level <= LOG_ERR) {
		va_start(ap, fmt);
		r = vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		if (r >= 0)
			error_hook(line);
		errno = saved;
	}
	if (level > log_max)
		return;
	if (log_syslog) {
		va_start(ap, fmt);
		vsyslog(level, fmt, ap);
		va_end(ap);
		errno = saved;
		return;
	}
	if (log_stamp) {
		struct timeval tv;
		struct tm tm;

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%F %T", &tm);
		n += snprintf(line + n, sizeof(line) - n, ".%03ld ", (long)tv.tv_usec / 1000);
	}
	r = snprintf(line + n, sizeof(line) - n, "%s[%d]: %s: ", log_prog, (int)getpid(),
		     level_names[level]);
	if (r > 0)
		n += (size_t)r;
	errno = saved; /* for %m */
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2; /* truncated: keep the newline */
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}

bool vf_ratelimit_ok(struct vf_ratelimit *rl, int level)
{
	uint64_t now;
	unsigned missed = 0;
	bool ok;

	if (level > log_max)
		return false;
	now = vf_now_ms();
	pthread_mutex_lock(&rl->lock);
	if (!rl->begin || now - rl->begin >= rl->interval_ms) {
		missed = rl->missed;
		rl->begin = now;
		rl->printed = 0;
		rl->missed = 0;
	}
	ok = rl->printed < rl->burst;
	if (ok)
		rl->printed++;
	else
		rl->missed++;
	pthread_mutex_unlock(&rl->lock);
	if (missed)
		vf_log(level, "(%u similar line%s suppressed: more than %u in %u ms)", missed,
		       missed == 1 ? " was" : "s were", rl->burst, rl->interval_ms);
	return ok;
}
