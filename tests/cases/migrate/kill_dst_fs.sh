#!/usr/bin/env bash
# The destination's vofirm-fs killed (supervisor and worker) during the
# migration, before the commit: vofirmctl migrate fails before the
# switchover, the export is aborted, the source VM keeps running and
# verifies its memory, and nothing leaked on memd.
# TIMEOUT: 900
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/migrate.sh"

mig_setup pc-dimm
step "migrate (slowly), and the destination's vofirm-fs killed once it runs"
rc=0
"$CTL" migrate --qmp src/qmp.sock --to-qmp dst/qmp.sock --mount a --to-mount b \
	--max-bandwidth 16M >mig.out 2>&1 &
MIG=$!
for _ in $(seq 600); do grep -q "migrating to" mig.out && break; sleep 0.1; done
grep -q "migrating to" mig.out || { cat mig.out; fail "the migration did not start"; }
sleep 1
kill -KILL $(pgrep -P "$B_PID") "$B_PID"
wait "$MIG" || rc=$?
cat mig.out
[ "$rc" = 1 ] || fail "vofirmctl migrate exited $rc, not 1"
grep -q "the source VM keeps all its memory" mig.out || fail "vofirmctl did not say what happened"

step "the source runs on with all its memory; nothing leaked"
gx src "vofirm-mmapio verify /data/blob $((DATA_MIB << 20)) 7" | tee verify.out
grep -q verified verify.out || fail "the source's data is not intact"
[ "$(stat_of "$URL" slabs_granted $MEMD_ARGS)" = "$GRANTED0" ] || fail "memd grants another count"
[ "$(held a)" = 4 ] || fail "the source mount holds $(held a) slabs, not 4"
[ "$(python3 "$TOP/tests/tools/handoff.py" state a/src/mem1)" = none ] || fail "the source file is not its own again"
grep -q "revoked by its issuer" memd.log || fail "memd did not revoke the destination's access"
