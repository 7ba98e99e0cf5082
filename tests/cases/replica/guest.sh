#!/usr/bin/env bash
# A real guest on two copies: a TCG VM grown with a pc-dimm whose memory
# is kept twice (vofirmctl grow --replicas 2), QEMU in a memory cgroup so
# that the guest's pages really come back from the servers, and a workload
# larger than its base RAM.  One memory server is killed mid-workload: the
# workload finishes and verifies every byte, QEMU and the guest keep
# running, vofirmctl status says degraded, then healthy once the copies
# are rebuilt, and a second workload runs on the rebuilt copies.
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd qemu-system-x86_64

U=()
declare -A P
for i in 1 2 3; do
	start_memd "m$i" --donate 768M --slab-size 64M --no-auth --lease 3s
	U+=("$URL")
	P[$URL]=$PID
done
start_fs fs mnt --server "${U[0]}" --server "${U[1]}" --server "${U[2]}" \
	--io-timeout 1s --read-timeout 2s --repair-rate 64M
start_vm vm1 --mem 256M --slots 4 --maxmem 4G
base=$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")
status() { "$CTL" status --mount mnt 2>&1; }

step "grow by a 512 MiB pc-dimm with 2 copies"
"$CTL" grow --qmp vm1/qmp.sock --mount mnt --size 512M --id dimm1 --replicas 2
[ "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.vofirm.replicas").decode())' mnt/vm1/dimm1)" = 2 ] ||
	fail "the DIMM's file does not ask for 2 copies"
[ "$(file_field /vm1/dimm1 replicas)" = 2 ] || fail "stats.json does not show 2 copies for the DIMM"
total=0
for u in "${U[@]}"; do total=$((total + $(granted "$u"))); done
[ $total = 16 ] || fail "the servers hold $total slabs for 8 extents of 2 copies"
gx vm1 "for i in \$(seq 300); do [ \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) -ge $((base + 524288)) ] && break; sleep 0.1; done; grep MemTotal /proc/meminfo" | tee online.out
[ "$(awk '/MemTotal/ {print $2}' online.out)" -ge $((base + 524288)) ] || fail "the guest did not online the DIMM"
status | tee status0.out
grep -q '^replication: healthy' status0.out || fail "status does not say healthy"

step "QEMU in a memory cgroup: its own memory plus 96 MiB of page cache"
anon=$(awk '/^RssAnon/ {print $2}' /proc/$QEMU_PID/status)
name=test-$$
"$CTL" budget --pid "$QEMU_PID" --limit $(((anon + 96 * 1024) * 1024)) --id "$name"
if [ -d /sys/fs/cgroup/memory ]; then
	_cgroups+=("/sys/fs/cgroup/memory/vofirm-$name")
else
	_cgroups+=("/sys/fs/cgroup/vofirm-$name")
fi

step "a 480 MiB workload; the server holding most copies killed in the middle"
victim= vn=0
for u in "${U[@]}"; do
	g=$(granted "$u")
	if [ "$g" -gt "$vn" ]; then victim=$u vn=$g; fi
done
survivors=()
for u in "${U[@]}"; do [ "$u" = "$victim" ] || survivors+=("$u"); done
read0=$(($(memd_read "${survivors[0]}") + $(memd_read "${survivors[1]}")))
gx vm1 "vofirm-mmapio anon - $((480 << 20)) 11" >work.out 2>&1 &
WPID=$!
_written() { [ "$(file_field /vm1/dimm1 bytes_written)" -ge $((96 << 20)) ]; }
wait_until 120 "the workload wrote nothing to the DIMM" _written
kill -0 $WPID 2>/dev/null || { cat work.out; fail "the workload ended before the kill: nothing tested"; }
echo "killing $victim ($vn slabs) with $(($(file_field /vm1/dimm1 bytes_written) >> 20)) MiB written"
kill -KILL "${P[$victim]}"
wait "${P[$victim]}" 2>/dev/null || true
_degraded() { status | tee status1.out | grep -q '^replication: degraded: [0-9.]* MiB to rebuild'; }
wait_until 30 "status never said degraded" _degraded
cat status1.out
wait $WPID || { cat work.out; fail "the workload failed with a server killed"; }
cat work.out
grep -q 'wrote and verified 480 MiB' work.out || fail "the workload did not verify"
kill -0 "$QEMU_PID" || fail "QEMU died"
read1=$(($(memd_read "${survivors[0]}") + $(memd_read "${survivors[1]}")))
echo "pages fetched back from the survivors: $(((read1 - read0) >> 20)) MiB"
[ $((read1 - read0)) -ge $((64 << 20)) ] || fail "only $((read1 - read0)) bytes came back: the guest's pages were never read remotely"
grep -E 'file /vm1/dimm1: (read|write).* failed' fs.log && fail "a request of the guest's memory failed"

step "the copies are rebuilt: status healthy"
_healthy() { status | tee status2.out | grep -q '^replication: healthy'; }
wait_until 120 "status never said healthy again" _healthy
cat status2.out
grep -E "file /vm1/dimm1 \[[0-9]+M, [0-9]+M\): copy on .* rebuilt" fs.log || fail "the log names no rebuilt copy"
for u in "${survivors[@]}"; do
	[ "$(granted "$u")" = 8 ] || fail "$u holds $(granted "$u") slabs, not one per extent"
done
repl_is lost_bytes 0

step "the VM keeps running: a second workload on the rebuilt copies"
gx vm1 "vofirm-mmapio anon - $((480 << 20)) 12" | tee work2.out
grep -q 'wrote and verified 480 MiB' work2.out || fail "the second workload failed"
gx vm1 "dmesg" >dmesg.out
grep -iE 'memory failure|machine check|hardware error|I/O error' dmesg.out && fail "the guest saw a memory error"
kill -0 "$QEMU_PID" || fail "QEMU died"
