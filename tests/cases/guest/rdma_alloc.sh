#!/usr/bin/env bash
# A large ALLOC over RDMA on a fresh memd, inside the project's Soft-RoCE
# guest: memd registers each granted slab, which faults in memory never
# touched, and one request for 320 MiB takes longer than vofirm-fs's
# --io-timeout 1s there.  vofirm-fs asks in pieces that each fit within it:
# the file is written and verified, memd's log shows each piece's time, no
# server is marked down; and a memd stopped with SIGSTOP is still noticed
# within the timeout (tests/guest/rdma_alloc.sh).
# TIMEOUT: 900
. "$(dirname "$0")/../../lib/common.sh"
require_cmd qemu-system-x86_64

VOFIRM_GUEST_LOG=$WORK/guest.log "$TOP/scripts/guest/run.sh" "$TOP/tests/guest/rdma_alloc.sh" >run.out 2>&1 || {
	rc=$?
	tail -40 run.out
	[ $rc = 77 ] && skip "$(grep SKIP: run.out | tail -1)"
	fail "the guest test failed (exit $rc; serial log $WORK/guest.log)"
}
grep -q 'a 320 MiB file written and verified over RDMA: its ALLOC came in [0-9]* pieces' guest.log ||
	fail "no proof that the large file was written in pieces"
grep -q 'rdma alloc guest test passed' guest.log || fail "the guest script did not finish"
