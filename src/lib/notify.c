// SPDX-License-Identifier: GPL-2.0-or-later
/* systemd's readiness protocol (include/vofirm/notify.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "vofirm/log.h"
#include "vofirm/notify.h"

void vf_notify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int r;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = sd_notify(0, msg);
	if (r < 0)
		vf_warn("cannot tell systemd '%.40s' ($NOTIFY_SOCKET %s): %s", msg,
			getenv("NOTIFY_SOCKET"), strerror(-r));
}

void vf_notify_forget(void)
{
	unsetenv("NOTIFY_SOCKET");
}
