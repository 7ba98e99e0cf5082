// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Progress of vofirmctl's long waits (the guest releasing memory, a drain,
 * a libvirt device going away) on stderr: on a terminal one line, redrawn
 * in place; otherwise plain lines, when the text says something new (its
 * numbers aside) and every few seconds, so that a log stays short.  stdout (and --json) never sees it.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "vofirm/util.h"

#define PLAIN_EVERY_MS 5000

static bool open_line; /* a terminal line is drawn and not ended */
static uint64_t last_ms;
static char last_shape[1024];

/* the text without its numbers: what says that something else happens */
static void shape(const char *text, char *out, size_t len)
{
	size_t n = 0;

	for (; *text && n + 1 < len; text++)
		if (!strchr("0123456789.", *text))
			out[n++] = *text;
	out[n] = 0;
}

void progress_line(const char *fmt, ...)
{
	static int tty = -1;
	uint64_t now = vf_now_ms();
	char text[1024], s[1024];
	va_list ap;

	if (tty < 0)
		tty = isatty(STDERR_FILENO);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	shape(text, s, sizeof(s));
	/* plain: when it says something new, and every few seconds */
	if (!tty && last_ms && now - last_ms < PLAIN_EVERY_MS && !strcmp(s, last_shape))
		return;
	last_ms = now;
	snprintf(last_shape, sizeof(last_shape), "%s", s);
	fprintf(stderr, "%svofirmctl: %s", tty ? "\r" : "", text);
	if (tty) {
		fputs("\033[K", stderr); /* the rest of a longer line before */
		open_line = true;
	} else {
		fputc('\n', stderr);
	}
	fflush(stderr);
}

void progress_done(void)
{
	if (open_line)
		fputc('\n', stderr);
	open_line = false;
	last_ms = 0;
	last_shape[0] = 0;
}
