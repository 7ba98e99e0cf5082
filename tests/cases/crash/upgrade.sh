#!/usr/bin/env bash
# A planned restart (an upgrade): vofirmctl restart-fs, or SIGUSR2 to the
# supervisor, while a process verifies a file's pages in a loop.  The old
# worker stops taking requests, finishes those under way and hands over to
# a new one from the binary on disk: zero errors, zero requests lost, and
# worker_restarts counts it.  A binary on disk that cannot read the mount's
# state (another format) is refused with a message naming the format, and
# the old worker keeps serving; once the right binary is back, the restart
# goes through.
# TIMEOUT: 240
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/tools/crash.sh"
require_fuse
require_cmd python3

SZ=$((32 << 20))
F99=$BIN/tests/vofirm-fs-format99
[ -x "$F99" ] || fail "$F99 is not built (make)"

step "restart-fs's command line"
expect_exit 2 "$CTL" restart-fs
assert_out "restart-fs needs --mount DIR"
mkdir -p plain
expect_exit 1 "$CTL" restart-fs --mount plain
assert_out "plain is not a vofirm-fs mount"
grep -q "restart-fs --mount DIR" <<<"$("$CTL" --help)" || fail "vofirmctl --help does not list restart-fs"

# vofirm-fs from a copy that the test can replace, as an upgrade does
mkdir bin
cp "$VFS" bin/vofirm-fs
VFS=$WORK/bin/vofirm-fs
start_memd memd --donate 128M --slab-size 4M --no-auth --lease 20s
U1=$URL
start_memd memd2 --donate 128M --slab-size 4M --no-auth --lease 20s
U2=$URL
printf '[fs]\nserver = %s\n' "$U1" >fs.conf
start_fs fs mnt --config "$WORK/fs.conf"
SUP=$FS_PID
"$MMAPIO" fill mnt/a $SZ 21
flush_file mnt/a
verify_loop v mnt/a $SZ 21
v_pid=$LOOP_PID
passes_after() { # passes_after N: waits until the verifier has done N passes
	for _ in $(seq 300); do [ "$(cat v.passes)" -ge "$1" ] && return 0; sleep 0.1; done
	fail "the verifier is stuck at pass $(cat v.passes)"
}

restarts=0
for k in 1 2; do
	passes_after $(($(cat v.passes) + 1))
	step "vofirmctl restart-fs ($k) under the verifier"
	w=$(worker_of mnt)
	"$CTL" restart-fs --mount mnt >restart$k.out 2>restart$k.err ||
		{ cat restart$k.err; fail "restart-fs $k failed"; }
	cat restart$k.err restart$k.out
	restarts=$((restarts + 1))
	new=$(worker_of mnt)
	[ "$new" != "$w" ] || fail "the worker is still $w"
	grep -qx "restarted: worker $w -> $new (restart $restarts)" restart$k.out ||
		fail "restart-fs did not say 'restarted: worker $w -> $new (restart $restarts)'"
	kill -0 "$w" 2>/dev/null && fail "the old worker $w is still running"
	[ "$(fs_field mnt worker_restarts)" = $restarts ] || fail "worker_restarts is not $restarts"
done

passes_after $(($(cat v.passes) + 1))
step "SIGUSR2 to the supervisor, as the unit's ExecReload does"
w=$(worker_of mnt)
kill -USR2 "$SUP"
wait_worker mnt "$w"
restarts=$((restarts + 1))
[ "$(fs_field mnt worker_restarts)" = $restarts ] || fail "worker_restarts is not $restarts after SIGUSR2"

step "SIGHUP to the supervisor reaches the worker: a server added from the config file"
printf '[fs]\nserver = %s;%s\n' "$U1" "$U2" >fs.conf
kill -HUP "$SUP"
for _ in $(seq 100); do grep -q "SIGHUP: config file .* read again: added $U2" fs.log && break; sleep 0.1; done
assert_grep "SIGHUP: config file .* read again: added $U2; 2 servers now" fs.log
python3 -c 'import json; assert len(json.load(open("mnt/.vofirm/stats.json"))["servers"]) == 2'

step "restart-fs --json"
passes_after $(($(cat v.passes) + 1))
w=$(worker_of mnt)
"$CTL" restart-fs --mount mnt --json >json.out 2>json.err || fail "restart-fs --json failed"
grep "error" json.err && fail "restart-fs --json reported an error after a restart that went through"
restarts=$((restarts + 1))
python3 - "$w" "$(worker_of mnt)" "$restarts" "$SUP" <<'PY' json.out || fail "restart-fs --json: $(cat json.out)"
import json, sys
d = json.load(open("json.out"))
old, new, n, sup = (int(x) for x in sys.argv[1:5])
assert d["result"] == "restarted" and d["old_worker_pid"] == old and d["worker_pid"] == new, d
assert d["worker_restarts"] == n and d["supervisor_pid"] == sup and d["error"] is None, d
PY
passes_after $(($(cat v.passes) + 2))
[ -s v.errors ] && { cat v.errors; fail "the verifier saw errors during the planned restarts"; }
python3 -c 'import json; assert len(json.load(open("mnt/.vofirm/stats.json"))["servers"]) == 2' ||
	fail "the new worker does not have the server added by SIGHUP"
assert_grep "resumed its session" memd2.log
[ "$(grep -c 'planned restart: worker [0-9]* started' fs.log)" = $restarts ] ||
	fail "the supervisor logged $(grep -c 'planned restart: worker [0-9]* started' fs.log) planned restarts, not $restarts"
[ "$(grep -c 'handed over: the next worker carries on' fs.log)" = $restarts ] ||
	fail "not every old worker handed over"
grep -E "after a crash|killed by signal" fs.log && fail "a planned restart went as a crash"

step "a binary on disk that cannot read the state: refused, the old worker goes on"
cp "$F99" bin/vofirm-fs.new
mv bin/vofirm-fs.new bin/vofirm-fs
w=$(worker_of mnt)
expect_exit 1 "$CTL" restart-fs --mount mnt --timeout 20s
echo "$OUT"
assert_out "refused: .*format 1.*reads format 99 only; the old worker keeps running"
[ "$(worker_of mnt)" = "$w" ] || fail "the worker changed after a refused restart"
kill -0 "$w" || fail "the old worker $w is gone"
[ "$(fs_field mnt worker_restarts)" = $restarts ] || fail "a refused restart was counted"
fs_field mnt restart_error | grep -q "format 1.*format 99" ||
	fail "stats.json's restart_error does not name the formats: $(fs_field mnt restart_error)"
"$CTL" status --mount mnt | grep "^vofirm-fs: " | tee status.out
grep -q "worker $w ($restarts restarts); the last planned restart was refused: .*format 99" status.out ||
	fail "vofirmctl status does not show the refusal"
assert_grep "restart refused: .*format 99.*; the worker keeps running" fs.log
# a raw SIGUSR2 is refused the same way
kill -USR2 "$SUP"
sleep 2
[ "$(worker_of mnt)" = "$w" ] || fail "the worker changed after a refused SIGUSR2"
# the old worker serves: the verifier goes on, a new write verifies
passes_after $(($(cat v.passes) + 2))
"$MMAPIO" fill mnt/b $((8 << 20)) 22
"$MMAPIO" check mnt/b $((8 << 20)) 22

step "the right binary back: the restart goes through"
cp "$BIN/vofirm-fs" bin/vofirm-fs.new
mv bin/vofirm-fs.new bin/vofirm-fs
"$CTL" restart-fs --mount mnt >restart3.out || fail "restart-fs with the right binary back failed"
restarts=$((restarts + 1))
grep -q "^restarted: worker $w -> $(worker_of mnt) (restart $restarts)$" restart3.out ||
	fail "restart-fs said: $(cat restart3.out)"
[ "$(fs_field mnt restart_error)" = null ] || fail "restart_error stays after a restart that went through"
passes_after $(($(cat v.passes) + 2))
stop_loop v "$v_pid"
"$MMAPIO" check mnt/b $((8 << 20)) 22
[ "$(fs_field mnt worker_restarts)" = $restarts ] || fail "worker_restarts is not $restarts"

step "nothing was freed or started anew on the servers"
for m in memd memd2; do
	grep -E "freed|freeing [1-9]|no reconnect within the lease" $m.log && fail "$m freed slabs"
	[ "$(grep -c "vofirm-fs@.*new session" $m.log)" = 1 ] || fail "vofirm-fs started more than one session on $m"
done
[ "$(grep -c "resumed its session" memd.log)" = $restarts ] ||
	fail "memd resumed the session $(grep -c "resumed its session" memd.log) times, not $restarts"
granted=$(( $(memd_granted "$U1") + $(memd_granted "$U2") ))
[ "$granted" = 10 ] || fail "the servers have $granted slabs granted, not 10"
stop_fs mnt "$SUP"
for u in "$U1" "$U2"; do
	[ "$(memd_granted "$u")" = 0 ] || fail "$u still has slabs granted after the unmount"
done
