#!/usr/bin/env bash
# The RDMA transport, end to end, inside the project's Soft-RoCE guest
# (the host has no RDMA): a memd serving rdma:// and tcp:// at once; many
# slabs written and read with one-sided verbs, 64 in flight; a second
# client refused the first one's address and key; vofirm-fs over rdma://
# under a memory cgroup; a file handed to a second mount over rdma://
# (live migration's grants: export, import, commit; an export aborted by
# its issuer cuts the grantee's access); memd killed mid-run and restarted
# (security/rdma_pending: connection requests that never log in).  The server's own counters
# prove that RDMA, not TCP, carried the data.
# TIMEOUT: 900
. "$(dirname "$0")/../../lib/common.sh"
require_cmd qemu-system-x86_64

VOFIRM_GUEST_LOG=$WORK/guest.log "$TOP/scripts/guest/run.sh" "$TOP/tests/guest/rdma.sh" >run.out 2>&1 || {
	rc=$?
	tail -60 run.out
	[ $rc = 77 ] && skip "$(grep SKIP: run.out | tail -1)"
	fail "the guest test failed (exit $rc; serial log $WORK/guest.log)"
}
grep -q 'memd moved no page data itself' guest.log || fail "no proof that RDMA carried the data"
grep -q 'handed over over RDMA: memd moved no page data itself' guest.log ||
	fail "no proof that RDMA carried the handed-over file's data"
grep -q 'an aborted export: the grantee no longer reached the slabs' guest.log ||
	fail "the aborted export's step did not finish"
grep -q 'rdma guest test passed' guest.log || fail "the guest script did not finish"
