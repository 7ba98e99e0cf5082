# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by every test case (tests/cases/*/*.sh).  Gives:
#   skip REASON / fail REASON          exit 77 / exit 1 with the reason
#   require_cmd CMD                    skip when CMD is missing
#   make_key FILE                      a fresh random key, mode 0600
#   start_memd NAME ARGS...            a real vofirm-memd on a free loopback
#                                      port; sets PORT, PID, URL; log NAME.log
#   stop_memd PID [NAME]               SIGTERM; fails unless it exits 0 in 10 s
#   sigstop PID...                     SIGSTOP; returns once every thread stopped
#   xt ARGS...                         vofirm-xtest
#   expect_exit CODE CMD...            runs CMD, fails unless it exits CODE;
#                                      its output is in $OUT
#   assert_grep PATTERN FILE [WHAT]    fails unless FILE matches PATTERN
#   stat_of URL FIELD [XTEST ARGS]     one counter from the server's stats
#   start_mitm NAME UPSTREAM_PORT      tests/tools/mitm.py in front of a memd;
#                                      sets MITM_URL, MITM_CTL (its control
#                                      file: mitm_mode WORD); log NAME.log
#   start_fake_qmp NAME SCENARIO ...   a misbehaving QMP peer on NAME.sock
#   measured SECONDS CMD...            CMD's $OUT, $RC, peak $RSS_MIB, $SECS
# Every memd started here is killed at exit, and a sanitizer report in any
# log fails the case.
set -eu
set -o pipefail

TOP=${VOFIRM_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${VOFIRM_BIN:-$TOP/build/asan}
WORK=${VOFIRM_WORK:-$(mktemp -d /tmp/vofirm-test.XXXXXX)}
MEMD=$BIN/vofirm-memd
VFS=$BIN/vofirm-fs
XTEST=$BIN/tests/vofirm-xtest
MMAPIO=$BIN/tests/vofirm-mmapio
# tests do not probe KVM (a failed probe costs 20 s); set it to try
export VOFIRM_GUEST_ACCEL=${VOFIRM_GUEST_ACCEL:-tcg}
CTL=$BIN/vofirmctl
cd "$WORK"

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ -x "$MEMD" ] || fail "$MEMD is not built (run make)"

require_cmd() {
	command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed"
}

make_key() {
	head -c 32 /dev/urandom | base64 >"$1"
	chmod 600 "$1"
}

_pids=()
_mounts=()
_cgroups=()
_vms=()
_cleanup() {
	local rc=$?
	for v in "${_vms[@]}"; do
		python3 "$TOP/tests/tools/vm.py" stop "$v" 2>/dev/null || true
	done
	for m in "${_mounts[@]}"; do
		fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	for p in "${_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${_pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	# after the processes in them: in_memcg may also have run in a subshell
	# (expect_exit), whose _cgroups the parent never saw; $$ is the same there
	for c in "${_cgroups[@]}" /sys/fs/cgroup/memory/vofirm-test-$$-* /sys/fs/cgroup/vofirm-test-$$-*; do
		[ -d "$c" ] && { rmdir "$c" 2>/dev/null || true; }
	done
	if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK"/*.log 2>/dev/null; then
		echo "FAIL: sanitizer report in the logs above" >&2
		rc=1
	fi
	exit $rc
}
trap _cleanup EXIT

# start_memd NAME ARGS...: listens on 127.0.0.1, a free port chosen by memd.
start_memd() {
	local name=$1; shift
	"$MEMD" --listen tcp://127.0.0.1:0 "$@" >"$WORK/$name.log" 2>&1 &
	PID=$!
	_pids+=("$PID")
	for _ in $(seq 100); do
		# the log may not exist yet: the background shell opens it
		PORT=$(sed -n 's/.*listening on tcp:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' \
			"$WORK/$name.log" 2>/dev/null | head -1) || PORT=
		if [ -n "$PORT" ]; then
			URL=tcp://127.0.0.1:$PORT
			return 0
		fi
		kill -0 "$PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; fail "vofirm-memd $name exited at start"; }
		sleep 0.1
	done
	cat "$WORK/$name.log" >&2
	fail "vofirm-memd $name did not start listening within 10 s"
}

start_mitm() {
	local name=$1 upstream=$2
	MITM_CTL=$WORK/$name.ctl
	echo forward >"$MITM_CTL"
	python3 "$TOP/tests/tools/mitm.py" "$WORK/$name.port" "$upstream" "$MITM_CTL" \
		>"$WORK/$name.log" 2>&1 &
	_pids+=("$!")
	for _ in $(seq 100); do
		[ -s "$WORK/$name.port" ] && break
		sleep 0.1
	done
	[ -s "$WORK/$name.port" ] || fail "the man in the middle did not start"
	MITM_URL=tcp://127.0.0.1:$(cat "$WORK/$name.port")
}

# mitm_mode WORD: returns once the man in the middle acts on it (forge:
# the relayed connections are cut), so that what follows sees the new mode.
mitm_mode() {
	echo "$1" >"$MITM_CTL.tmp" && mv "$MITM_CTL.tmp" "$MITM_CTL"
	for _ in $(seq 100); do
		[ "$(cat "$MITM_CTL.ack" 2>/dev/null)" = "$1" ] && return 0
		sleep 0.05
	done
	fail "the man in the middle did not take mode $1 within 5 s"
}

stop_memd() {
	local pid=$1 name=${2:-memd} rc=0
	kill -TERM "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "vofirm-memd $name did not exit within 10 s of SIGTERM"
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || fail "vofirm-memd $name exited with status $rc after SIGTERM"
}

xt() { "$XTEST" "$@"; }

# sigstop PID...: SIGSTOP, and returns once every thread of each PID has
# stopped.  kill returns when the signal is queued: one thread takes it and
# stops the others when it next runs, and until then they go on serving
# (a paused server's reply to a request sent right after kill -STOP).
sigstop() {
	local p t s l
	kill -STOP "$@"
	for p in "$@"; do
		for _ in $(seq 500); do
			[ -d "/proc/$p" ] || fail "process $p exited before it stopped"
			s=T
			for t in /proc/"$p"/task/*/stat; do
				read -r l 2>/dev/null <"$t" || continue # the thread ended
				l=${l##*") "}
				case ${l%% *} in
				T) ;;
				Z | X) fail "process $p exited before it stopped" ;;
				*) s= ;;
				esac
			done
			[ "$s" = T ] && break
			sleep 0.01
		done
		[ "$s" = T ] || fail "process $p did not stop within 5 s of SIGSTOP"
	done
}

require_fuse() {
	[ -e /dev/fuse ] || skip "/dev/fuse is missing"
	command -v fusermount3 >/dev/null || skip "fusermount3 is not installed (fuse3)"
	[ "$(id -u)" = 0 ] || skip "FUSE tests need root (allow_other, bdi limits, cgroups)"
}

# start_fs NAME MOUNTPOINT ARGS...: vofirm-fs in the foreground, in the
# background; waits until the mount is there.  Sets FS_PID.
start_fs() {
	local name=$1 mnt=$2; shift 2
	mkdir -p "$mnt"
	"$VFS" "$mnt" -f "$@" >"$WORK/$name.log" 2>&1 &
	FS_PID=$!
	_pids+=("$FS_PID")
	_mounts+=("$mnt")
	# mounted (by the supervisor), and served (by its worker, once it has
	# connected to the servers)
	for _ in $(seq 100); do
		grep -q " $(realpath "$mnt") fuse.vofirm " /proc/mounts &&
			grep -q ": vofirm-fs .* mounted at " "$WORK/$name.log" && return 0
		kill -0 "$FS_PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; fail "vofirm-fs $name exited at start"; }
		sleep 0.1
	done
	cat "$WORK/$name.log" >&2
	fail "vofirm-fs $name did not mount within 10 s"
}

# stop_fs MOUNTPOINT PID: unmount; the daemon must exit 0 within 10 s.
stop_fs() {
	local mnt=$1 pid=$2 rc=0
	fusermount3 -u "$mnt" || fail "cannot unmount $mnt"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && fail "vofirm-fs did not exit within 10 s of the unmount"
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || fail "vofirm-fs exited with status $rc after the unmount"
}

# start_vm NAME ARGS...: QEMU with the project's guest in agent mode, its
# files in $WORK/NAME (qmp.sock, agent.sock, console.log); stopped at exit.
start_vm() {
	local name=$1; shift
	_vms+=("$WORK/$name")
	python3 "$TOP/tests/tools/vm.py" start "$WORK/$name" --name "$name" "$@" ||
		{ tail -20 "$WORK/$name/console.log" >&2; fail "the VM did not start"; }
	QEMU_PID=$(cat "$WORK/$name/qemu.pid")
}

# flush_file PATH: every dirty page of PATH written to the server.  fsync,
# not syncfs: since Linux 6.18 syncfs does not wait for FUSE write-back.
# (Opening the file keeps QEMU's cached pages: vofirm-fs sets keep_cache.)
flush_file() {
	python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$1"
}

# gx NAME COMMAND: runs COMMAND in the guest; its output on stdout, its status.
gx() {
	python3 "$TOP/tests/tools/vm.py" run "$WORK/$1" "$2"
}

# in_memcg LIMIT_BYTES CMD...: runs CMD in a new memory cgroup (v1 or v2).
in_memcg() {
	local limit=$1; shift
	local cg
	if [ -d /sys/fs/cgroup/memory ]; then
		cg=/sys/fs/cgroup/memory/vofirm-test-$$-$RANDOM
		mkdir "$cg" || skip "cannot create a memory cgroup"
		_cgroups+=("$cg")
		echo "$limit" >"$cg/memory.limit_in_bytes"
	elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		cg=/sys/fs/cgroup/vofirm-test-$$-$RANDOM
		mkdir "$cg" || skip "cannot create a memory cgroup"
		_cgroups+=("$cg")
		echo "$limit" >"$cg/memory.max"
	else
		skip "no memory cgroup controller"
	fi
	MEMCG=$cg
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" "$@"
}

expect_exit() {
	local want=$1 rc=0; shift
	OUT=$("$@" 2>&1) || rc=$?
	if [ "$rc" != "$want" ]; then
		echo "$OUT" >&2
		fail "expected exit $want, got $rc from: $*"
	fi
}

assert_grep() {
	grep -q -E -- "$1" "$2" || { echo "--- $2:" >&2; tail -20 "$2" >&2; fail "${3:-$2 does not match '$1'}"; }
}

# (a here-string, not a pipe: under pipefail, echo killed by SIGPIPE once
# grep -q has matched and gone would make a match a failure)
assert_out() {
	grep -q -E -- "$1" <<<"$OUT" || { echo "$OUT" >&2; fail "${2:-output does not match '$1'}"; }
}

stat_of() {
	local url=$1 field=$2; shift 2
	"$XTEST" --server "$url" "$@" stats | sed -n "s/^$field=//p"
}

# start_fake_qmp NAME SCENARIO [REPLIES.json]: tests/tools/fake_qmp.py on
# $WORK/NAME.sock; what vofirmctl sends it is in $WORK/NAME.log.
start_fake_qmp() {
	local name=$1; shift
	python3 "$TOP/tests/tools/fake_qmp.py" serve "$WORK/$name.sock" "$WORK/$name.log" "$@" \
		2>"$WORK/$name.err" &
	_pids+=("$!")
	for _ in $(seq 50); do
		[ -S "$WORK/$name.sock" ] && return 0
		sleep 0.1
	done
	cat "$WORK/$name.err" >&2
	fail "the fake QMP peer $name did not start"
}

# measured SECONDS CMD...: runs CMD, killed after SECONDS; its output in
# $OUT, its exit status in $RC (124: killed), its peak RSS in $RSS_MIB and
# its run time in $SECS.  AddressSanitizer keeps up to 256 MiB of freed
# memory in quarantine: 4 MiB here, so that RSS is what the program holds.
measured() {
	local m
	m=$(ASAN_OPTIONS=${ASAN_OPTIONS:-}:quarantine_size_mb=4 \
		python3 "$TOP/tests/tools/fake_qmp.py" measure "$@")
	OUT=$(echo "$m" | grep -v '^measure: ' || true)
	m=$(echo "$m" | tail -1)
	RC=$(echo "$m" | sed -n 's/^measure: rc=\([-0-9]*\) .*/\1/p')
	RSS_MIB=$(( $(echo "$m" | sed -n 's/.* maxrss_kib=\([0-9]*\) .*/\1/p') >> 10 ))
	SECS=$(echo "$m" | sed -n 's/.* secs=\([0-9]*\)\..*/\1/p')
}
