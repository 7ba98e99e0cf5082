/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * systemd's readiness protocol (sd_notify(3)) for the daemons' units
 * (Type=notify): READY=1 once they serve, RELOADING=1 and READY=1 around a
 * reload, STOPPING=1 when they stop, STATUS= for systemctl status.
 * Nothing happens when the daemon was not started by systemd
 * ($NOTIFY_SOCKET unset).
 */
#ifndef VOFIRM_NOTIFY_H
#define VOFIRM_NOTIFY_H

/* One message: "READY=1", "STATUS=...": lines of KEY=VALUE. */
void vf_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Children must not speak for this process: drops $NOTIFY_SOCKET (call in
 * a child after fork, before exec). */
void vf_notify_forget(void);

#endif
