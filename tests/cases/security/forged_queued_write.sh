#!/usr/bin/env bash
# A reply to a request the client has not sent yet (its tag guessed: the
# next slot, one generation on) is a lie, whoever sends it: a server
# cannot answer what it never received.  Here a man in the middle swallows
# every WRITE request and, 300 ms after the first, answers the write-back
# WRITE the client holds back for that first one's reply.  The client must
# drop the connection with a protocol error and fail both writes; before
# the check it believed the second written (it never was), freed its slot
# while the slot was still in the send queue, and crashed on the next send.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

start_memd memd --donate 64M --slab-size 4M --no-auth
start_mitm mitm "$PORT"
mitm_mode forge-queued

step "the second of two write-back WRITEs, held back, answered before it is sent"
rc=0
xt --server "$MITM_URL" --io-size 4K heldwrite --slabs 1 >hw.out 2>&1 || rc=$?
cat hw.out
cat mitm.log
[ "$rc" -lt 128 ] || fail "vofirm-xtest died of signal $((rc - 128))"
# the premise: one WRITE went out, the forged answer was to another
[ "$(grep -c 'swallowed a WRITE request' mitm.log)" = 1 ] ||
	fail "the second write was sent, not held back: the test proves nothing"
assert_grep 'forged a WRITE reply to slot [0-9]* generation [0-9]*, a request not sent' mitm.log
assert_grep 'protocol error, dropping the connection: reply to a request not sent yet' hw.out
assert_grep '^heldwrite: write 2: ' hw.out
! grep -q 'believed done before' hw.out || fail "the client believed a reply to a request it never sent"
! grep -q '^heldwrite: write 2: done$' hw.out || fail "write 2 was believed done"
! grep -q 'no reply within 3 s' hw.out || fail "a write was left unanswered: the connection was not dropped"
[ "$rc" = 0 ] || fail "vofirm-xtest heldwrite exited $rc"

step "the memory server is unharmed"
xt --server "$URL" --io-size 64K rw --slabs 2 >rw.out 2>&1 || { cat rw.out; fail "rw after the lie failed"; }
