# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for scripts that run inside the test guest (sourced from
# /vofirm/lib.sh).  Same conventions as the host cases: exit 0 pass,
# 77 skip with "SKIP: reason", anything else fail with "FAIL: reason".
set -eu
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

# sigstop PID: SIGSTOP, and returns once every thread of PID has stopped
# (kill returns when the signal is queued; the other threads go on serving
# until the one that took it stops them)
sigstop() {
	local t s l
	kill -STOP "$1"
	for _ in $(seq 500); do
		[ -d "/proc/$1" ] || fail "process $1 exited before it stopped"
		s=T
		for t in /proc/"$1"/task/*/stat; do
			read -r l 2>/dev/null <"$t" || continue # the thread ended
			l=${l##*") "}
			case ${l%% *} in
			T) ;;
			Z | X) fail "process $1 exited before it stopped" ;;
			*) s= ;;
			esac
		done
		[ "$s" = T ] && return 0
		sleep 0.01
	done
	fail "process $1 did not stop within 5 s of SIGSTOP"
}

# Soft-RoCE: rxe0 on a dummy netdev (the guest has no NIC; nothing leaves it).
RXE_ADDR=192.0.2.1
setup_rxe() {
	modprobe rdma_rxe || fail "cannot load rdma_rxe"
	modprobe rdma_ucm || fail "cannot load rdma_ucm"
	modprobe dummy || fail "cannot load dummy"
	[ -e /sys/class/net/dummy0 ] || ip link add dummy0 type dummy   # loading it may make one
	ip addr add $RXE_ADDR/24 dev dummy0
	ip link set dummy0 up
	rdma link add rxe0 type rxe netdev dummy0 || fail "cannot create rxe0 on dummy0"
	for _ in $(seq 50); do
		ibv_devinfo -d rxe0 2>/dev/null | grep -q PORT_ACTIVE && return 0
		sleep 0.1
	done
	ibv_devinfo -d rxe0 || true
	fail "rxe0 did not become active"
}

# start_memd NAME ARGS...: vofirm-memd on a free port; sets PID, PORT.
start_memd() {
	local name=$1; shift
	vofirm-memd "$@" >"/tmp/$name.log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do
		PORT=$(sed -n 's/.*listening on [a-z]*:\/\/[^ ]*:\([0-9]*\)$/\1/p' "/tmp/$name.log" | head -1)
		[ -n "$PORT" ] && return 0
		kill -0 $PID 2>/dev/null || { cat "/tmp/$name.log"; fail "vofirm-memd $name exited"; }
		sleep 0.1
	done
	cat "/tmp/$name.log"
	fail "vofirm-memd $name did not start"
}
