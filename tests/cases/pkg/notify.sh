#!/usr/bin/env bash
# The daemons speak systemd's readiness protocol (their units are
# Type=notify), checked against a NOTIFY_SOCKET of the test's own, as
# systemd would see it (the sender's PID: NotifyAccess=main).
# vofirm-memd: READY=1 only once it listens, STOPPING=1 on SIGTERM.
# vofirm-fs: READY=1 only once the mount serves, and from the supervisor
# (the unit's main process) alone: a worker killed and replaced says
# nothing; a planned restart (the unit's ExecReload) is RELOADING=1 then
# READY=1 once the new worker serves; the unmount is STOPPING=1.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

python3 "$TOP/tests/tools/notify.py" "$WORK/notify.sock" "$WORK/notify.log" &
_pids+=("$!")
for _ in $(seq 50); do [ -S notify.sock ] && break; sleep 0.1; done
[ -S notify.sock ] || fail "the notify socket did not appear"
touch notify.log
# wait_msg PATTERN: a message matching PATTERN has arrived
wait_msg() {
	for _ in $(seq 200); do grep -qE -- "$1" notify.log && return 0; sleep 0.05; done
	cat notify.log >&2
	fail "no message matching '$1' from the daemon"
}

step "vofirm-memd: READY=1 once it listens; STOPPING=1 on SIGTERM"
NOTIFY_SOCKET=$WORK/notify.sock start_memd memd --donate 256M --slab-size 4M --no-auth
MEMD_PID=$PID
wait_msg "^$MEMD_PID READY=1"
# READY=1 must come after the listener: the port is reachable by then
xt --server "$URL" stats >/dev/null || fail "memd said READY=1 but does not serve"
[ "$(grep -c "^$MEMD_PID READY=1" notify.log)" = 1 ] || fail "memd said READY=1 more than once"
stop_memd "$MEMD_PID"
wait_msg "^$MEMD_PID STOPPING=1"
: >notify.log

step "vofirm-fs: READY=1 from the supervisor once the mount serves"
start_memd memd2 --donate 256M --slab-size 4M --no-auth
NOTIFY_SOCKET=$WORK/notify.sock start_fs fs mnt --server "$URL"
SUP=$FS_PID
wait_msg "^$SUP READY=1\|STATUS=mounted at $(realpath mnt)"
worker() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["worker_pid"])' mnt/.vofirm/stats.json; }
W1=$(worker)
grep -v "^$SUP " notify.log && fail "a process other than the supervisor spoke to systemd"
grep -qz '^NOTIFY_SOCKET=' "/proc/$W1/environ" && fail "the worker was given NOTIFY_SOCKET"

step "a worker killed and replaced: systemd hears nothing but a status"
kill -KILL "$W1"
for _ in $(seq 100); do W2=$(worker 2>/dev/null || true); [ -n "$W2" ] && [ "$W2" != "$W1" ] && break; sleep 0.1; done
[ "$W2" != "$W1" ] || fail "no new worker after killing $W1"
"$MMAPIO" fill mnt/a $((4 << 20)) 3 >/dev/null || fail "the mount does not serve after the worker's restart"
grep -v "^$SUP " notify.log && fail "a process other than the supervisor spoke to systemd"
grep "^$SUP " notify.log | grep -vE "^$SUP (READY=1\|STATUS=mounted|STATUS=after a crash: worker)" &&
	fail "the supervisor told systemd more than a status about the crash"

step "a planned restart (ExecReload: SIGUSR2): RELOADING=1, then READY=1 once the new worker serves"
: >notify.log
kill -USR2 "$SUP"
wait_msg "^$SUP RELOADING=1"
wait_msg "^$SUP READY=1\|STATUS=mounted at .*; worker [0-9]+ serves"
W3=$(worker)
[ "$W3" != "$W2" ] || fail "READY=1 came before the new worker served"
grep -n "" notify.log
[ "$(grep -n "RELOADING=1" notify.log | cut -d: -f1)" -lt "$(grep -n "READY=1" notify.log | cut -d: -f1)" ] ||
	fail "READY=1 came before RELOADING=1"

step "the unmount: STOPPING=1"
: >notify.log
stop_fs mnt "$SUP"
wait_msg "^$SUP STOPPING=1"
