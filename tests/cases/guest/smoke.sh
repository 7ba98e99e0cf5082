#!/usr/bin/env bash
# The project's own test guest (scripts/guest/): a stock Debian kernel and a
# busybox initramfs with vofirm's programs, booted under QEMU.  Inside it
# Soft-RoCE carries an RDMA CM connection, and vofirm-memd, a client and a
# vofirm-fs mount work.  This is the host the RDMA tests need.
# TIMEOUT: 900
. "$(dirname "$0")/../../lib/common.sh"
require_cmd qemu-system-x86_64

VOFIRM_GUEST_LOG=$WORK/guest.log "$TOP/scripts/guest/run.sh" "$TOP/tests/guest/smoke.sh" >run.out 2>&1 || {
	rc=$?
	tail -40 run.out
	[ $rc = 77 ] && skip "$(grep SKIP: run.out | tail -1)"
	fail "the guest test failed (exit $rc; serial log $WORK/guest.log)"
}
grep -q 'rping: 5 verified round trips' guest.log || fail "no rping result in the guest log"
grep -q 'verified 4 slabs' guest.log || fail "no client result in the guest log"
grep -q 'guest smoke test passed' guest.log || fail "the guest script did not finish"
grep 'VOFIRM-GUEST: booted' guest.log
