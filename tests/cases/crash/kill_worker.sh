#!/usr/bin/env bash
# The worker killed (SIGKILL: a crash, the OOM killer), three times in a
# row, while a process verifies a file's pages in a loop (read through the
# file system with the page cache dropped, and through a shared mapping):
# the supervisor starts a new worker on the same mount each time, the
# requests the dead one held are resent (FUSE_NOTIFY_RESEND), the servers'
# sessions are resumed and no slab is freed.  Zero errors, the loop
# finishes, writes made after the restarts verify too.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/tools/crash.sh"
require_fuse
require_cmd python3

SZ=$((32 << 20))
start_memd memd1 --donate 64M --slab-size 4M --no-auth --lease 20s
U1=$URL
start_memd memd2 --donate 64M --slab-size 4M --no-auth --lease 20s
U2=$URL
start_fs fs mnt --server "$U1" --server "$U2"
SUP=$FS_PID
[ "$(fs_field mnt supervisor_pid)" = "$SUP" ] ||
	fail "stats.json's supervisor_pid is $(fs_field mnt supervisor_pid), not the pid started ($SUP)"
W0=$(worker_of mnt)
[ "$W0" != "$SUP" ] || fail "the worker is the supervisor"
[ "$(fs_field mnt worker_restarts)" = 0 ] || fail "worker_restarts is not 0 at the start"
"$MMAPIO" fill mnt/a $SZ 11
flush_file mnt/a
granted0=$(( $(memd_granted "$U1") + $(memd_granted "$U2") ))
[ "$granted0" = 8 ] || fail "the servers have $granted0 slabs granted, not the file's 8"

step "the verifier reads from the file system, not only the page cache"
r0=$(python3 -c 'import json; print([f for f in json.load(open("mnt/.vofirm/stats.json"))["files"] if f["path"] == "/a"][0]["bytes_read"])')
"$MMAPIO" check mnt/a $SZ 11
r1=$(python3 -c 'import json; print([f for f in json.load(open("mnt/.vofirm/stats.json"))["files"] if f["path"] == "/a"][0]["bytes_read"])')
[ $((r1 - r0)) -ge $SZ ] || fail "a check read $((r1 - r0)) bytes from vofirm-fs, not the file's $SZ"

verify_loop v mnt/a $SZ 11
v_pid=$LOOP_PID
for k in 1 2 3; do
	# let the verifier get going, then kill in the middle of its passes
	p0=$(cat v.passes)
	for _ in $(seq 100); do [ "$(cat v.passes)" -gt "$p0" ] && break; sleep 0.1; done
	sleep "0.$((RANDOM % 5))"
	step "kill -9 of the worker ($k of 3)"
	kill_worker mnt
	t0=$(date +%s%N)
	wait_worker mnt "$OLD_WORKER"
	echo "worker $OLD_WORKER killed; worker $WORKER serves after $((($(date +%s%N) - t0) / 1000000)) ms"
	kill -0 "$SUP" || fail "the supervisor died with its worker"
	[ "$(awk '/^PPid:/ {print $2}' /proc/"$WORKER"/status)" = "$SUP" ] ||
		fail "the new worker $WORKER is not the supervisor's child"
	# the verifier goes on: at least one whole pass with the new worker
	p0=$(cat v.passes)
	for _ in $(seq 300); do [ "$(cat v.passes)" -ge $((p0 + 2)) ] && break; sleep 0.1; done
	[ "$(cat v.passes)" -ge $((p0 + 2)) ] || fail "the verifier is stuck after kill $k (pass $(cat v.passes))"
	[ -s v.errors ] && { cat v.errors; fail "the verifier saw errors after kill $k"; }
done
stop_loop v "$v_pid"
assert_grep "worker killed by signal 9 \(Killed\): starting another on the same mount" fs.log
[ "$(grep -c 'after a crash: worker [0-9]* started' fs.log)" = 3 ] ||
	fail "the supervisor logged $(grep -c 'after a crash: worker [0-9]* started' fs.log) restarts after a crash, not 3"
[ "$(fs_field mnt worker_restarts)" = 3 ] || fail "worker_restarts is $(fs_field mnt worker_restarts), not 3"
[ "$(fs_field mnt restart_error)" = null ] || fail "restart_error: $(fs_field mnt restart_error)"
"$CTL" status --mount mnt | tee status.out
grep -q "^vofirm-fs: supervisor $SUP, worker $WORKER (3 restarts)$" status.out ||
	fail "vofirmctl status does not show the worker and its restarts"

step "the servers resumed the session each time, and freed nothing"
for m in memd1 memd2; do
	n=$(grep -c "resumed its session" $m.log || true)
	[ "$n" -ge 3 ] || { cat $m.log; fail "$m: $n sessions resumed, not 3"; }
	# (vofirm-xtest's stats sessions end with "freeing 0 slabs")
	grep -E "freed|freeing [1-9]|no reconnect within the lease" $m.log && fail "$m freed slabs"
	[ "$(grep -c "vofirm-fs@.*new session" $m.log)" = 1 ] || fail "$m saw vofirm-fs start more than one session"
done
granted=$(( $(memd_granted "$U1") + $(memd_granted "$U2") ))
[ "$granted" = 8 ] || fail "the servers have $granted slabs granted after the kills, not 8"

step "writes after the restarts: another seed over the file, and a new file"
"$MMAPIO" fill mnt/a $SZ 12
"$MMAPIO" fill mnt/b $((16 << 20)) 13
flush_file mnt/a
flush_file mnt/b
"$MMAPIO" check mnt/a $SZ 12
"$MMAPIO" check mnt/b $((16 << 20)) 13
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/a $SZ 12
"$MMAPIO" verify mnt/b $((16 << 20)) 13
granted=$(( $(memd_granted "$U1") + $(memd_granted "$U2") ))
[ "$granted" = 12 ] || fail "the servers have $granted slabs granted, not the files' 12"

step "one more kill: what was written after the restarts survives it too"
kill_worker mnt
wait_worker mnt "$OLD_WORKER"
"$MMAPIO" check mnt/a $SZ 12
"$MMAPIO" check mnt/b $((16 << 20)) 13

step "stats.json opened under the dead worker: the rest of it is refused (ESTALE), never spliced"
python3 - <<'PY' &
import errno, os, sys, time
fd = os.open("mnt/.vofirm/stats.json", os.O_RDONLY)
head = os.pread(fd, 64, 0)
open("stats.head", "w").write("ok\n")
while not os.path.exists("stats.killed"):
    time.sleep(0.05)
try:
    rest = os.pread(fd, 1 << 20, 64)
    sys.exit("the snapshot of the old worker went on with %d bytes of another" % len(rest))
except OSError as e:
    if e.errno != errno.ESTALE:
        sys.exit("reading on: %s, not ESTALE" % e)
os.close(fd)
import json
json.load(open("mnt/.vofirm/stats.json"))  # opened again: whole, and JSON
PY
reader=$!
for _ in $(seq 100); do [ -e stats.head ] && break; sleep 0.1; done
[ -e stats.head ] || fail "the reader did not read the start of stats.json"
kill_worker mnt
wait_worker mnt "$OLD_WORKER"
touch stats.killed
wait "$reader" || fail "a read of stats.json across the restart (above)"

step "the unmount gives everything back; the supervisor exits 0"
stop_fs mnt "$SUP"
for u in "$U1" "$U2"; do
	[ "$(memd_granted "$u")" = 0 ] || fail "$u still has $(memd_granted "$u") slabs granted"
done
assert_grep "ended its session; freeing [0-9]+ slabs" memd1.log
