#!/usr/bin/env bash
# Peers without the key cannot pin vofirm-memd's memory or slots over
# RDMA: connection requests that never log in are admitted (and limited)
# at CONNECT_REQUEST, get two small receive buffers instead of 70 of
# 64 KiB, and are closed at the handshake deadline.  Runs in the
# project's Soft-RoCE guest (tests/guest/rdma_pending.sh).
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
require_cmd qemu-system-x86_64

VOFIRM_GUEST_LOG=$WORK/guest.log "$TOP/scripts/guest/run.sh" "$TOP/tests/guest/rdma_pending.sh" \
	>run.out 2>&1 || {
	rc=$?
	tail -40 run.out
	[ $rc = 77 ] && skip "$(grep SKIP: run.out | tail -1)"
	fail "the guest test failed (exit $rc; serial log $WORK/guest.log)"
}
grep -q 'established=8 rejected=4' guest.log || fail "no admission result in the guest log"
grep -q 'closed by the server=8 of 8' guest.log || fail "no deadline result in the guest log"
grep -q 'rdma pending test passed' guest.log || fail "the guest script did not finish"
