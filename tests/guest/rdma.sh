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
