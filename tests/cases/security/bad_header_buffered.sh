#!/usr/bin/env bash
# A reply followed, in the same segment, by a header that does not decode,
# and then silence: the client has read the bad header already, with the
# reply before it, and must say so (a protocol error, the connection
# dropped) at once, not wait for the socket to say more: it never will.
# Before the check, the next waiter polled the socket with the bad bytes in
# its buffer, and a read waited for with vf_xport_run() (no deadline: as
# burstwait reads, one at a time) waited for ever.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

start_memd memd --donate 64M --slab-size 4M --no-auth
start_mitm mitm "$PORT"
mitm_mode bad-after-read

step "a READ reply with a bad header behind it, then a stalled connection"
rc=0
start=$(date +%s%N)
timeout 20 "$XTEST" --server "$MITM_URL" --io-size 4K --depth 8 burstwait --slabs 1 >rw.out 2>&1 || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
cat rw.out mitm.log
echo "vofirm-xtest exited $rc after $ms ms"
assert_grep 'sent a READ reply and a bad header behind it' mitm.log
[ "$rc" != 124 ] || fail "the client still waited after 20 s: it polled the socket with a bad header buffered"
[ "$rc" -lt 128 ] || fail "vofirm-xtest died of signal $((rc - 128))"
[ "$rc" != 0 ] || fail "burstwait succeeded through a connection that lied"
assert_grep 'protocol error, dropping the connection' rw.out
[ "$ms" -lt 10000 ] || fail "the protocol error took $ms ms"

step "the memory server is unharmed"
xt --server "$URL" --io-size 64K rw --slabs 2 >rw2.out 2>&1 || { cat rw2.out; fail "rw after the lie failed"; }
