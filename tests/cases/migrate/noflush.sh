#!/usr/bin/env bash
# The negative control of pcdimm.sh, kept as a test: the same migration
# without the flush at the pause (vofirmctl migrate --no-flush; the source
# QEMU is left paused with its dirty pages unwritten) makes the destination
# guest see stale memory.  Proof that the tests can see the difference the
# flush makes.
# TIMEOUT: 900
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/migrate.sh"

mig_setup pc-dimm
step "the data rewritten just before the migration: dirty in the source's page cache"
gx src "vofirm-mmapio fill /data/blob $((DATA_MIB << 20)) 8" | tee fill2.out
grep -q filled fill2.out || fail "the second fill failed"

step "migrate without the flush"
"$CTL" migrate --qmp src/qmp.sock --to-qmp dst/qmp.sock --mount a --to-mount b --no-flush --json | tee mig.json

step "the guest on the destination sees stale memory"
rc=0
gx dst "vofirm-mmapio verify /data/blob $((DATA_MIB << 20)) 8" >verify.out 2>&1 || rc=$?
tail -5 verify.out
if grep -q verified verify.out && [ "$rc" = 0 ]; then
	fail "the destination read every page right without the flush: the test cannot see stale memory"
fi
echo "as expected: the guest's check failed (status $rc)"
