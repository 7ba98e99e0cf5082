#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Inside the test guest, over Soft-RoCE: RDMA connection requests from a
# peer without the key that never say HELLO are counted when they arrive,
# at most 8 from one address, cost memd next to nothing, never keep a real
# client out, and are closed at the 10 s handshake deadline.
. /vofirm/lib.sh
setup_rxe
A=$RXE_ADDR

start_memd m --listen rdma://$A:0 --donate 64M --slab-size 4M --no-auth
RPORT=$(sed -n 's/.*listening on rdma:\/\/[0-9.]*:\([0-9]*\)$/\1/p' /tmp/m.log)
[ -n "$RPORT" ] || { cat /tmp/m.log; fail "memd did not listen"; }
R=rdma://$A:$RPORT
vofirm-xtest --server "$R" --name warm stats >/dev/null || fail "a first client failed"

step "12 RDMA connection requests that never log in, from a second address"
rss() { awk '/^VmRSS:/ { print $2 }' /proc/$PID/status; }
rss0=$(rss)
# from a second address of this guest: a real client (from $A) must get in
ip addr add 192.0.2.2/24 dev dummy0
vofirm-rdma-idle $A $RPORT 12 14 192.0.2.2 >/tmp/idle.out 2>&1 &
IDLE=$!
for _ in $(seq 100); do grep -q '^established=' /tmp/idle.out && break; sleep 0.1; done
cat /tmp/idle.out
grep -q '^established=8 rejected=4$' /tmp/idle.out ||
	fail "one address kept more (or fewer) than 8 connections that never logged in"
rss1=$(rss)
[ -n "$rss0" ] && [ -n "$rss1" ] || fail "cannot read memd's VmRSS"
echo "memd's resident memory grew by $((rss1 - rss0)) kB for 8 pending RDMA connections"
[ $((rss1 - rss0)) -lt 8192 ] || fail "8 pending RDMA connections cost $((rss1 - rss0)) kB"
vofirm-xtest --server "$R" --name real stats >/dev/null || fail "a real client was kept out"
wait $IDLE || { cat /tmp/idle.out; fail "vofirm-rdma-idle failed"; }
cat /tmp/idle.out
grep -q 'closed by the server=8 of 8' /tmp/idle.out || fail "pending RDMA connections outlived the handshake deadline"
grep -q 'handshake not finished in time' /tmp/m.log || fail "memd did not say why it closed them"

echo "rdma pending test passed"
