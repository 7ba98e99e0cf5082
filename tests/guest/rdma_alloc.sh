#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Inside the test guest, over Soft-RoCE: a large ALLOC on a fresh memd.
# memd registers every granted slab for RDMA, and registering memory never
# touched faults it in (3 to 6 ms per MiB here): an ALLOC of 320 MiB in one
# request went past a 1 s --io-timeout, the server was marked DOWN and the
# size change failed.  vofirm-fs now asks in pieces that each fit well
# within the timeout; a memd that really stalls is still noticed within it.
. /vofirm/lib.sh
setup_rxe
A=$RXE_ADDR
SIZE=$((320 << 20)) # 80 slabs of 4 MiB, none touched yet

step "a fresh vofirm-memd over rdma:// (nothing of its pool touched)"
start_memd m --listen rdma://$A:0 --listen tcp://127.0.0.1:0 --donate 384M --slab-size 4M \
	--no-auth --lease 30s
RPORT=$(sed -n 's/.*listening on rdma:\/\/[0-9.]*:\([0-9]*\)$/\1/p' /tmp/m.log)
TPORT=$(sed -n 's/.*listening on tcp:\/\/[0-9.]*:\([0-9]*\)$/\1/p' /tmp/m.log)
[ -n "$RPORT" ] && [ -n "$TPORT" ] || { cat /tmp/m.log; fail "memd did not listen on both"; }
R=rdma://$A:$RPORT
T=tcp://127.0.0.1:$TPORT
stat_of() { vofirm-xtest --server "$T" stats | sed -n "s/^$1=//p"; }
echo "memd holds $(awk '/VmRSS/ {print $2}' /proc/$PID/status) kB resident"

step "vofirm-fs over rdma:// with --io-timeout 1s: a 320 MiB file gets its size, written and verified"
mount -t cgroup2 none /sys/fs/cgroup
echo +memory >/sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/w
echo $((64 << 20)) >/sys/fs/cgroup/w/memory.max
incg() { sh -c 'echo $$ > /sys/fs/cgroup/w/cgroup.procs && exec "$@"' sh "$@"; }
modprobe fuse
mkdir -p /mnt/v
vofirm-fs /mnt/v -f --server "$R" --no-mlock --read-timeout 2s --io-timeout 1s \
	--connect-timeout 1s >/tmp/fs.log 2>&1 &
for _ in $(seq 100); do grep -q 'mounted at /mnt/v' /tmp/fs.log && break; sleep 0.1; done
grep -q ' /mnt/v fuse.vofirm ' /proc/mounts || { cat /tmp/fs.log; fail "no mount"; }
grep -q 'connected over RDMA' /tmp/fs.log || { cat /tmp/fs.log; fail "vofirm-fs is not on RDMA"; }
t0=$(cut -d' ' -f1 /proc/uptime)
incg vofirm-mmapio fill /mnt/v/big $SIZE 9 >/tmp/fill.out 2>&1 || {
	cat /tmp/fill.out
	grep 'not answering\|allocation\|timed out' /tmp/fs.log
	fail "a 320 MiB file on a fresh memd could not be written over rdma:// with --io-timeout 1s"
}
t1=$(cut -d' ' -f1 /proc/uptime)
echo "written in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s"
grep 'granted [0-9]* slabs* (first [0-9]*) in [0-9]* ms' /tmp/m.log | sed 's/.*: granted/granted/'
n=$(sed -n 's/.*granted \([0-9]*\) slabs* (first [0-9]*) in [0-9]* ms$/\1/p' /tmp/m.log |
	awk '{s += $1} END {print s + 0}')
worst=$(sed -n 's/.*granted [0-9]* slabs* (first [0-9]*) in \([0-9]*\) ms$/\1/p' /tmp/m.log |
	sort -n | tail -1)
pieces=$(grep -c 'granted [0-9]* slabs* (first [0-9]*) in [0-9]* ms' /tmp/m.log || true)
echo "memd granted $n slabs in $pieces ALLOC(s), the slowest registered in $worst ms"
[ "$n" = 80 ] || fail "memd granted $n slabs, not 80"
[ "$pieces" -gt 1 ] || fail "the 80 slabs came in one ALLOC"
[ "$worst" -lt 1000 ] || fail "an ALLOC took $worst ms, past --io-timeout"
grep 'not answering\|connection lost' /tmp/fs.log && fail "the server was marked down"
echo 3 >/proc/sys/vm/drop_caches
incg vofirm-mmapio verify /mnt/v/big $SIZE 9 || fail "the 320 MiB file does not read back"
[ "$(stat_of bytes_written)" = 0 ] && [ "$(stat_of bytes_read)" = 0 ] ||
	fail "memd served page data itself: RDMA did not carry it"
[ "$(stat_of slabs_granted)" = 80 ] || fail "memd grants $(stat_of slabs_granted) slabs, not 80"
echo "a 320 MiB file written and verified over RDMA: its ALLOC came in $pieces pieces"

step "a memd that stalls is still noticed within --io-timeout"
sigstop "$PID"
t0=$(cut -d' ' -f1 /proc/uptime)
if vofirm-mmapio fill /mnt/v/small $((8 << 20)) 3 >/tmp/s.out 2>&1; then
	kill -CONT "$PID"
	fail "a size change succeeded on a stopped memd"
fi
t1=$(cut -d' ' -f1 /proc/uptime)
kill -CONT "$PID"
cat /tmp/s.out
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", (b - a) * 1000}')
echo "the size change failed after $took ms"
[ "$took" -le 3000 ] || fail "a stalled memd took $took ms to notice (--io-timeout 1s)"
grep 'not answering (a request waited 1000 ms)' /tmp/fs.log || fail "not marked down for the timeout"
for _ in $(seq 100); do grep -q 'back after' /tmp/fs.log && break; sleep 0.1; done
grep 'back after' /tmp/fs.log || { tail -20 /tmp/fs.log; fail "memd not resumed after SIGCONT"; }
echo 3 >/proc/sys/vm/drop_caches
incg vofirm-mmapio verify /mnt/v/big $SIZE 9 || fail "the 320 MiB file after the stall"
umount /mnt/v
echo "rdma alloc guest test passed"
