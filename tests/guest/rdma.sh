#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Inside the test guest, over Soft-RoCE: the RDMA transport end to end.
. /vofirm/lib.sh
setup_rxe
A=$RXE_ADDR

step "vofirm-memd serves rdma:// and tcp:// at once"
start_memd m --listen rdma://$A:0 --listen tcp://127.0.0.1:0 --donate 256M --slab-size 4M \
	--no-auth --lease 10s
RPORT=$(sed -n 's/.*listening on rdma:\/\/[0-9.]*:\([0-9]*\)$/\1/p' /tmp/m.log)
TPORT=$(sed -n 's/.*listening on tcp:\/\/[0-9.]*:\([0-9]*\)$/\1/p' /tmp/m.log)
[ -n "$RPORT" ] && [ -n "$TPORT" ] || { cat /tmp/m.log; fail "memd did not listen on both"; }
R=rdma://$A:$RPORT
T=tcp://127.0.0.1:$TPORT
stat_of() { vofirm-xtest --server "$T" stats | sed -n "s/^$1=//p"; }

step "16 slabs written and read back over RDMA, up to 64 operations in flight"
vofirm-xtest --server "$R" --name rdma-a --depth 64 rw --slabs 16 >/tmp/a.out 2>&1 ||
	{ cat /tmp/a.out; fail "RDMA read/write failed"; }
cat /tmp/a.out
grep -q 'verified 16 slabs of 4194304 bytes' /tmp/a.out || fail "not verified"
# rxe runs most work requests inside ibv_post_send, so they finish nearly as
# fast as they are posted; still, operations overlap (more than one out)
grep -q 'wrote .*max_inflight=\([2-9]\|[1-9][0-9]\)$' /tmp/a.out || fail "operations never overlapped"
# the proof that RDMA carried the data: the server's CPU served none of it
grep -q "client 'rdma-a' .*new session over rdma" /tmp/m.log || fail "memd did not see an RDMA session"
[ "$(stat_of bytes_written)" = 0 ] && [ "$(stat_of bytes_read)" = 0 ] ||
	fail "memd served data itself: $(stat_of bytes_written) bytes written through it"
echo "memd moved no page data itself: one-sided verbs did"

step "a thread waiting for its operation polls the CQ itself; with others, all verified"
# vf_xport_run() one at a time (ALLOC, 128 WRITEs, BYE): the waiting thread
# completes its own operation (the counts are logged at --verbose).  Not
# always every one: the completion thread takes the role when it finds it
# free with an operation in flight as it wakes for reasons of its own (when
# it starts, just after connecting; the server's disconnect after BYE)
vofirm-xtest --server "$R" --name waiter --verbose --busy-poll-us 50 fill --slabs 2 \
	>/tmp/w.out 2>&1 || { cat /tmp/w.out; fail "fill over RDMA failed"; }
counts=$(sed -n 's/.*: \([0-9]*\) operations completed by the threads waiting for them, \([0-9]*\) by the completion thread$/\1 \2/p' /tmp/w.out)
echo "completed by the waiting threads, by the completion thread: $counts"
set -- $counts
[ "${1:-0}" -ge 120 ] || { cat /tmp/w.out; fail "the waiting thread did not complete its own operations"; }
# three threads waiting at once, nothing else in flight: one polls, the
# others follow it, and the one that gives the CQ role up hands it to a
# follower whose operation is not done (not to the completion thread, which
# would then wake the follower: two wake-ups per round trip)
vofirm-xtest --server "$R" --name trio --verbose --busy-poll-us 50 --io-size 4K race --slabs 3 \
	--threads 3 >/tmp/trio.out 2>&1 || { cat /tmp/trio.out; fail "three waiting threads over RDMA"; }
grep -q 'race: verified 3 slabs' /tmp/trio.out || { cat /tmp/trio.out; fail "trio not verified"; }
counts=$(sed -n 's/.*: \([0-9]*\) operations completed by the threads waiting for them, \([0-9]*\) by the completion thread$/\1 \2/p' /tmp/trio.out)
echo "three waiting threads: completed by them, by the completion thread: $counts"
set -- $counts
# 6 144 reads and writes, the ALLOC and the BYE, all waited for: the
# completion thread takes the role only for what nobody waits for (before
# this design it took it over from a holder leaving with operations in
# flight: 6 115 / 31 in this test), or at the end of the connection (the
# BYE's completion may come with the server's disconnect: 6 145 / 1)
[ "${1:-0}" -ge 6144 ] && [ "${2:-2}" -le 1 ] ||
	{ cat /tmp/trio.out; fail "the completion thread completed ${2:-?} operations that threads waited for"; }
# threads waiting for their own operations while 16 others are in flight
vofirm-xtest --server "$R" --name racer --depth 16 --busy-poll-us 50 race --slabs 5 --threads 3 \
	>/tmp/race.out 2>&1 || { cat /tmp/race.out; fail "waiting threads and operations in flight"; }
cat /tmp/race.out
grep -q 'race: verified 5 slabs' /tmp/race.out || fail "race not verified"
# and when the connection breaks under them (an abort; replies later than
# a timeout), every operation ends: no thread is left polling or asleep
for how in "--abort-after 300ms" "--op-timeout 2ms"; do
	timeout 120 vofirm-xtest --server "$R" --name racer --depth 16 race --slabs 5 --threads 3 \
		$how >/tmp/race.out 2>&1 || { cat /tmp/race.out; fail "race $how"; }
	grep 'race: .*every operation ended' /tmp/race.out || { cat /tmp/race.out; fail "race $how"; }
done

step "a dropped RDMA connection resumes its session: new keys (LIST), data intact"
vofirm-xtest --server "$R" --name blip reconnect --slabs 3 --pause 500ms >/tmp/r.out 2>&1 ||
	{ cat /tmp/r.out; fail "reconnect over RDMA failed"; }
grep -q 'verified 3 slabs after reconnecting' /tmp/r.out || { cat /tmp/r.out; fail "not verified"; }
grep -q "client 'blip' .*resumed its session over rdma (3 slabs held)" /tmp/m.log ||
	fail "memd did not see the RDMA session resume"
echo "resumed over RDMA and verified"

step "a second client cannot use the first client's slab, address and key"
vofirm-xtest --server "$R" --name owner rw --slabs 2 --seed 77 --session /tmp/owner.sess >/dev/null ||
	fail "owner failed"
k=$(sed -n 's/^keys=\([^,]*\).*/\1/p' /tmp/owner.sess)
id=${k%%:*}; rest=${k#*:}; rkey=${rest%%:*}; addr=${rest#*:}
[ -n "$addr" ] && [ "$rkey" != 0 ] || fail "no key saved: $k"
echo "owner's slab $id at $addr, rkey $rkey"
set +e
vofirm-xtest --server "$R" --name thief poke --slab "$id" --raw-addr "$addr" --raw-rkey "$rkey" >/tmp/t1.out 2>&1
rc1=$?
vofirm-xtest --server "$R" --name thief poke --slab "$id" --raw-addr "$addr" --raw-rkey "$rkey" --write >/tmp/t2.out 2>&1
rc2=$?
vofirm-xtest --server "$R" --name thief poke --slab "$id" >/tmp/t3.out 2>&1
rc3=$?
set -e
cat /tmp/t1.out /tmp/t2.out /tmp/t3.out
[ $rc1 != 0 ] && [ $rc2 != 0 ] && [ $rc3 != 0 ] || fail "the thief got through ($rc1/$rc2/$rc3)"
grep -q 'remote access error\|the server refused the address or key\|Permission denied' /tmp/t1.out ||
	fail "the refused RDMA READ did not say why"
vofirm-xtest --server "$R" --name owner verify --session /tmp/owner.sess >/tmp/o.out 2>&1 ||
	{ cat /tmp/o.out; fail "the owner's data was touched"; }
cat /tmp/o.out

step "vofirm-fs over rdma://: a 96 MiB mapping written and verified from a 24 MiB memory cgroup"
mount -t cgroup2 none /sys/fs/cgroup
echo +memory >/sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/w
echo $((24 << 20)) >/sys/fs/cgroup/w/memory.max
modprobe fuse
mkdir -p /mnt/v
vofirm-fs /mnt/v -f --server "$R" --no-mlock --read-timeout 2s --io-timeout 1s \
	--connect-timeout 1s >/tmp/fs.log 2>&1 &
for _ in $(seq 50); do grep -q ' /mnt/v fuse.vofirm ' /proc/mounts && break; sleep 0.1; done
grep -q ' /mnt/v fuse.vofirm ' /proc/mounts || { cat /tmp/fs.log; fail "no mount"; }
# the supervisor mounts; its worker then connects: wait for it to serve
for _ in $(seq 50); do grep -q 'mounted at /mnt/v' /tmp/fs.log && break; sleep 0.1; done
grep -q 'connected over RDMA' /tmp/fs.log || { cat /tmp/fs.log; fail "vofirm-fs is not on RDMA"; }
incg() { sh -c 'echo $$ > /sys/fs/cgroup/w/cgroup.procs && exec "$@"' sh "$@"; }
incg vofirm-mmapio fill /mnt/v/ram $((96 << 20)) 5 || fail "fill"
incg vofirm-mmapio verify /mnt/v/ram $((96 << 20)) 5 || fail "verify"
python_free_stats() { sed -n 's/.*"bytes_read": \([0-9]*\), "bytes_written": \([0-9]*\).*/\1 \2/p' /mnt/v/.vofirm/stats.json | head -1; }
set -- $(python_free_stats)
echo "vofirm-fs moved $2 bytes to the server and $1 back, over RDMA"
[ "$2" -ge $((96 << 20)) ] || fail "only $2 bytes written to the server"
[ "$1" -ge $((48 << 20)) ] || fail "only $1 bytes came back: the cgroup did not evict"
[ "$(stat_of bytes_written)" = 0 ] || fail "memd served page data itself"

step "a file handed from /mnt/v to a second mount /mnt/w (grants): one-sided verbs on the accepted slabs"
# as tests/cases/migrate/handoff.sh on the host over TCP, here over rdma://
# with one memd: ACCEPT registers the granted slabs in /mnt/w's connection,
# GIVE makes them its session's, REVOKE by the issuer kicks the grantee's
# connection so that its registrations go
mkdir -p /mnt/w
vofirm-fs /mnt/w -f --server "$R" --no-mlock --read-timeout 2s --io-timeout 1s \
	--connect-timeout 1s >/tmp/fsw.log 2>&1 &
W_PID=$!
for _ in $(seq 100); do grep -q 'mounted at /mnt/w' /tmp/fsw.log && break; sleep 0.1; done
grep -q ' /mnt/w fuse.vofirm ' /proc/mounts || { cat /tmp/fsw.log; fail "no mount at /mnt/w"; }
grep -q 'connected over RDMA' /tmp/fsw.log || { cat /tmp/fsw.log; fail "/mnt/w is not on RDMA"; }
X=vofirm-mmapio
# a mount's first server: the bytes it read and wrote, the bytes of slabs it holds
fs_io() { sed -n 's/.*"bytes_read": \([0-9]*\), "bytes_written": \([0-9]*\).*/\1 \2/p' "$1/.vofirm/stats.json" | head -1; }
held() { sed -n 's/.*"held": \([0-9]*\).*/\1/p' "$1/.vofirm/stats.json" | head -1; }
state() { $X xattr-get "$1" user.vofirm.import 2>/dev/null || echo none; }
handoff_of() { # FILE: export it, print the handoff
	$X xattr-set "$1" user.vofirm.export </dev/null || fail "cannot export $1"
	$X xattr-get "$1" user.vofirm.export
}
$X fill /mnt/v/f $((16 << 20)) 7 || fail "fill /mnt/v/f"
$X fsync /mnt/v/f || fail "fsync /mnt/v/f"
g0=$(stat_of slabs_granted)
vheld=$(held /mnt/v)
echo "memd grants $g0 slabs; /mnt/v holds $vheld bytes of them, /mnt/w $(held /mnt/w)"
[ "$(held /mnt/w)" = 0 ] || fail "/mnt/w holds slabs before any import"
handoff_of /mnt/v/f >/tmp/h1
grep -q '^vofirm-handoff-1 ' /tmp/h1 || { cat /tmp/h1; fail "no handoff read from /mnt/v/f"; }
{ echo g; cat /tmp/h1; } | $X xattr-set /mnt/w/.vofirm user.vofirm.import ||
	{ tail -5 /tmp/fsw.log; fail "/mnt/w refused the import"; }
[ "$(state /mnt/w/g)" = pending ] || fail "/mnt/w/g is not a pending import: $(state /mnt/w/g)"
grep -q "session [0-9]* '[^']*' shares 4 slab(s) of session" /tmp/m.log ||
	{ tail -5 /tmp/m.log; fail "memd did not log the ACCEPT of 4 slabs"; }
set -- $(fs_io /mnt/w)
wr0=$1
$X check /mnt/w/g $((16 << 20)) 7 || fail "/mnt/w/g does not read as /mnt/v/f was written (pread)"
$X verify /mnt/w/g $((16 << 20)) 7 || fail "/mnt/w/g does not read as /mnt/v/f was written (mapped)"
set -- $(fs_io /mnt/w)
echo "/mnt/w read $(($1 - wr0)) bytes of the imported file from memd"
[ $(($1 - wr0)) -ge $((16 << 20)) ] || fail "/mnt/w read only $(($1 - wr0)) bytes: not from the server"
[ "$(stat_of bytes_read)" = 0 ] && [ "$(stat_of bytes_written)" = 0 ] ||
	fail "memd served the handoff's data itself: $(stat_of bytes_read) bytes read through it"
[ "$(stat_of slabs_granted)" = "$g0" ] || fail "the import took slabs: $(stat_of slabs_granted), not $g0"
echo commit | $X xattr-set /mnt/v/f user.vofirm.export || fail "the source's commit was refused"
[ ! -e /mnt/v/f ] || fail "/mnt/v/f is still there after the commit"
grep -q "grant [0-9]*: session [0-9]* '[^']*' gives its 4 slab(s) to session" /tmp/m.log ||
	{ tail -5 /tmp/m.log; fail "memd did not log the GIVE"; }
echo commit | $X xattr-set /mnt/w/g user.vofirm.import || fail "the destination's commit was refused"
[ "$(state /mnt/w/g)" = none ] || fail "/mnt/w/g is still pending after its commit"
[ "$(held /mnt/v)" = $((vheld - (16 << 20))) ] ||
	fail "/mnt/v holds $(held /mnt/v) bytes, not $((vheld - (16 << 20)))"
[ "$(held /mnt/w)" = $((16 << 20)) ] || fail "/mnt/w holds $(held /mnt/w) bytes, not 16 MiB"
[ "$(stat_of slabs_granted)" = "$g0" ] || fail "memd grants $(stat_of slabs_granted) slabs, not $g0"
echo 3 >/proc/sys/vm/drop_caches
$X check /mnt/w/g $((16 << 20)) 7 || fail "/mnt/w/g after the commit"
$X verify /mnt/w/g $((16 << 20)) 7 || fail "/mnt/w/g after the commit (mapped)"
[ "$(stat_of bytes_read)" = 0 ] && [ "$(stat_of bytes_written)" = 0 ] ||
	fail "memd served the handoff's data itself"
echo "handed over over RDMA: memd moved no page data itself"

step "an export aborted by its issuer (REVOKE): the grantee's RDMA connection is cut"
handoff_of /mnt/w/g >/tmp/h3
{ echo back; cat /tmp/h3; } | $X xattr-set /mnt/v/.vofirm user.vofirm.import ||
	{ tail -5 /tmp/fs.log; fail "/mnt/v refused the import"; }
# reachable until the abort: the abort is what takes it away
$X check /mnt/v/back $((16 << 20)) 7 || fail "/mnt/v/back does not read as /mnt/w/g"
n0=$(grep -c 'resumed its session over rdma' /tmp/m.log || true)
echo abort | $X xattr-set /mnt/w/g user.vofirm.export || fail "the source's abort was refused"
grep -q "grant [0-9]* of session [0-9]* '[^']*' (4 slab(s)) revoked by its issuer" /tmp/m.log ||
	{ tail -5 /tmp/m.log; fail "memd did not log the REVOKE"; }
$X check /mnt/w/g $((16 << 20)) 7 || fail "/mnt/w/g after its export was aborted"
echo 3 >/proc/sys/vm/drop_caches
if $X pread /mnt/v/back 0 4096 >/tmp/p.out 2>&1; then
	tail -20 /tmp/fs.log
	fail "/mnt/v still reads the revoked slabs: $(cat /tmp/p.out)"
fi
cat /tmp/p.out
if $X pread /mnt/v/back $((12 << 20)) 4096 >/tmp/p.out 2>&1; then
	fail "/mnt/v still reads the revoked slabs at 12 MiB: $(cat /tmp/p.out)"
fi
# the kick: /mnt/v's connection went, and it resumed its session
for _ in $(seq 100); do
	[ "$(grep -c 'resumed its session over rdma' /tmp/m.log || true)" -gt "$n0" ] && break
	sleep 0.1
done
[ "$(grep -c 'resumed its session over rdma' /tmp/m.log || true)" -gt "$n0" ] ||
	fail "the grantee's RDMA connection was not kicked (no session resumed after the REVOKE)"
grep 'resumed its session over rdma' /tmp/m.log | tail -1
echo abort | $X xattr-set /mnt/v/back user.vofirm.import || fail "the destination's abort was refused"
[ ! -e /mnt/v/back ] || fail "/mnt/v/back is still there after the abort"
[ "$(held /mnt/v)" = $((vheld - (16 << 20))) ] || fail "/mnt/v holds $(held /mnt/v) bytes after the abort"
[ "$(held /mnt/w)" = $((16 << 20)) ] || fail "/mnt/w holds $(held /mnt/w) bytes after the abort"
$X verify /mnt/w/g $((16 << 20)) 7 || fail "/mnt/w/g after the abort (mapped)"
[ "$(stat_of slabs_granted)" = "$g0" ] || fail "slabs leaked or lost: $(stat_of slabs_granted), not $g0"
# the kicked mount resumed: its own file is still there
incg vofirm-mmapio verify /mnt/v/ram $((96 << 20)) 5 || fail "/mnt/v/ram after the kick"
[ "$(stat_of bytes_written)" = 0 ] || fail "memd served page data itself"
# an import aborted by the destination: it leaves /mnt/v, the source keeps it
handoff_of /mnt/w/g >/tmp/h4
{ echo back2; cat /tmp/h4; } | $X xattr-set /mnt/v/.vofirm user.vofirm.import ||
	fail "/mnt/v refused the second import"
echo abort | $X xattr-set /mnt/v/back2 user.vofirm.import || fail "the destination's abort was refused"
[ ! -e /mnt/v/back2 ] || fail "/mnt/v/back2 is still there after the abort"
echo abort | $X xattr-set /mnt/w/g user.vofirm.export || fail "the source's abort was refused"
$X check /mnt/w/g $((16 << 20)) 7 || fail "/mnt/w/g after an aborted import"
[ "$(stat_of slabs_granted)" = "$g0" ] || fail "slabs leaked or lost: $(stat_of slabs_granted), not $g0"
umount /mnt/w
for _ in $(seq 100); do kill -0 $W_PID 2>/dev/null || break; sleep 0.1; done
kill -0 $W_PID 2>/dev/null && fail "vofirm-fs of /mnt/w did not exit after the unmount"
echo "an aborted export: the grantee no longer reached the slabs"

step "killing memd mid-run: errors within the timeout; down, not lost, past its lease"
kill -9 "$PID"
t0=$(date +%s)
if vofirm-mmapio pread /mnt/v/ram $((40 << 20)) 4096 >/tmp/p.out 2>&1; then
	fail "a read after the server died succeeded: $(cat /tmp/p.out)"
fi
cat /tmp/p.out
[ $(($(date +%s) - t0)) -le 6 ] || fail "the error took more than 6 s"
# only the server can say the data is gone: past its lease (10 s) it is
# still tried
for _ in $(seq 250); do grep -q 'longer than its lease' /tmp/fs.log && break; sleep 0.1; done
grep 'longer than its lease' /tmp/fs.log || { cat /tmp/fs.log; fail "not noted past the lease"; }
grep 'DATA LOST' /tmp/fs.log && fail "declared lost by the client's clock"

step "memd restarted on the same address: a new instance, the loss logged"
vofirm-memd --listen rdma://$A:$RPORT --listen tcp://127.0.0.1:$TPORT --donate 256M \
	--slab-size 4M --no-auth --lease 10s >/tmp/m2.log 2>&1 &
for _ in $(seq 300); do grep -q 'DATA LOST' /tmp/fs.log && break; sleep 0.1; done
grep 'DATA LOST' /tmp/fs.log || { cat /tmp/fs.log /tmp/m2.log; fail "the loss was not logged"; }
umount /mnt/v
echo "rdma guest test passed"
