#!/usr/bin/env bash
# A real guest (TCG) with a vofirm pc-dimm, QEMU under a local memory budget
# so that its DIMM pages keep going to the server and coming back, runs a
# workload larger than its base RAM; the vofirm-fs worker is killed (SIGKILL)
# twice in the middle of it.  Each time a new worker carries on the same
# mount: the page faults and write-backs the dead worker held are resent,
# the workload finishes and verifies every byte, and the VM keeps running
# (another workload, then the DIMM's removal, work as usual).
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/tools/crash.sh"
require_fuse
require_cmd qemu-system-x86_64
require_cmd python3

start_memd memd --donate 1G --slab-size 64M --no-auth
start_fs fs mnt --server "$URL"
SUP=$FS_PID
start_vm vm1 --mem 256M --slots 4 --maxmem 4G
base=$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")
# the budget before the DIMM: a page of it that QEMU touched before it
# moved into the cgroup stays charged outside, and is never evicted
step "QEMU in a memory cgroup: its own memory plus 64 MiB of page cache"
anon=$(awk '/^RssAnon/ {print $2}' /proc/$QEMU_PID/status)
name=test-$$
"$CTL" budget --pid "$QEMU_PID" --limit $(((anon + 64 * 1024) * 1024)) --id "$name"
if [ -d /sys/fs/cgroup/memory ]; then
	_cgroups+=("/sys/fs/cgroup/memory/vofirm-$name")
else
	_cgroups+=("/sys/fs/cgroup/vofirm-$name")
fi
"$CTL" grow --qmp vm1/qmp.sock --mount mnt --size 256M --id dimm1
gx vm1 "for i in \$(seq 300); do [ \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) -ge $((base + 262144)) ] && break; sleep 0.1; done; grep MemTotal /proc/meminfo" >online.out
cat online.out
[ "$(awk '/MemTotal/ {print $2}' online.out)" -ge $((base + 262144)) ] || fail "the guest did not online the DIMM"
# where the DIMM sits in guest-physical memory: a bad page's frame, as the
# workload reports it, minus this is its offset in the file
python3 "$TOP/tests/tools/qmp.py" vm1/qmp.sock query-memory-devices |
	sed -n 's/.*"addr": \([0-9]*\).*/\1/p' | head -1 >dimm_addr.out || true
echo "DIMM at guest-physical $(printf '0x%x' "$(cat dimm_addr.out)")"

step "a 320 MiB workload (written, verified, then random pages checked), three times ..."
read0=$(stat_of "$URL" bytes_read)
written0=$(stat_of "$URL" bytes_written)
# three rounds, so that both kills fall inside it however fast a round is
# (that depends on what the page cache holds): every round must verify
gx vm1 "for n in 5 6 7; do vofirm-mmapio anon - $((320 << 20)) \$n rand 60000 || exit 1; done; echo rounds: 3" >work.out 2>&1 &
work=$!
_pids+=("$work")
for k in 1 2; do
	sleep $((1 + RANDOM % 2))
	kill -0 "$work" 2>/dev/null || { cat work.out; fail "the workload failed before kill $k"; }
	step "... kill -9 of the worker in the middle of it ($k of 2)"
	r=$(stat_of "$URL" bytes_read)
	kill_worker mnt
	wait_worker mnt "$OLD_WORKER" 60
	echo "worker $OLD_WORKER killed; worker $WORKER serves; $(((r - read0) >> 20)) MiB read back from memd so far"
	kill -0 "$QEMU_PID" || fail "QEMU died with the worker"
done
rc=0
wait "$work" || rc=$?
cat work.out
[ "$rc" = 0 ] || fail "the guest's workload failed (exit $rc)"
grep -q "wrote and verified 320 MiB" work.out || fail "the guest's workload did not verify"
grep -q "rand: 60000 random pages checked" work.out || fail "the guest's random checks did not pass"
grep -q "rounds: 3" work.out || fail "the workload did not do its three rounds"
read1=$(stat_of "$URL" bytes_read)
written1=$(stat_of "$URL" bytes_written)
echo "during the workload: $(((written1 - written0) >> 20)) MiB written to memd, $(((read1 - read0) >> 20)) MiB read back"
[ $((read1 - read0)) -ge $((32 << 20)) ] || fail "only $((read1 - read0)) bytes came back from memd: the DIMM was not remote"
[ "$(fs_field mnt worker_restarts)" = 2 ] || fail "worker_restarts is $(fs_field mnt worker_restarts), not 2"
[ "$(grep -c "resumed its session" memd.log)" -ge 2 ] || fail "memd did not resume the session after each kill"
grep -E "no reconnect within the lease|freed its" memd.log && fail "memd freed the session's slabs"

step "the VM keeps running: another workload, then the DIMM comes out as usual"
kill -0 "$QEMU_PID" || fail "QEMU is gone"
gx vm1 "vofirm-mmapio anon - $((300 << 20)) 6" | tee work2.out
grep -q "wrote and verified 300 MiB" work2.out || fail "a workload after the kills failed"
"$CTL" shrink --qmp vm1/qmp.sock --id dimm1
[ "$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")" = "$base" ] || fail "the guest did not give the DIMM back"
for _ in $(seq 30); do [ "$(stat_of "$URL" slabs_granted)" = 0 ] && break; sleep 0.1; done
[ "$(stat_of "$URL" slabs_granted)" = 0 ] || fail "memd still has slabs granted after the shrink"
kill -0 "$QEMU_PID" || fail "QEMU is gone"
