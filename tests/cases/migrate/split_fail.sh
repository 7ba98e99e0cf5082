#!/usr/bin/env bash
# The two-host split when the operator's --at-pause command fails (exit 1):
# vofirmctl migrate cancels the migration and aborts the exports, the
# source VM runs on and verifies its memory; on the destination the
# incoming migration fails, migrate-import aborts the imports and exits 1;
# memd grants the same slabs as before, all the source's.
# Proved to fail: a vofirmctl that does not abort the exports when the
# command fails leaves a/src/mem1 exported, and the last checks fail.
# TIMEOUT: 900
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/migrate.sh"

mig_setup pc-dimm
"$CTL" migrate-export --qmp src/qmp.sock --mount a --out bundle.json
"$CTL" migrate-import --qmp dst/qmp.sock --mount b --in bundle.json --uri "unix:$WORK/mig.sock" \
	>imp.out 2>&1 &
IMP=$!
for _ in $(seq 300); do grep -q "listens on" imp.out && break; sleep 0.1; done
grep -q "listens on" imp.out || { cat imp.out; fail "migrate-import did not get ready"; }

step "migrate; the --at-pause command fails"
rc=0
"$CTL" migrate --qmp src/qmp.sock --mount a --uri "unix:$WORK/mig.sock" --handoff bundle.json \
	--at-pause "echo the operator tooling fails >&2; exit 1" >mig.out 2>&1 || rc=$?
cat mig.out
[ "$rc" = 1 ] || fail "vofirmctl migrate exited $rc, not 1"
grep -q "the --at-pause command exited 1" mig.out || fail "vofirmctl did not say the command failed"
grep -q "the source VM keeps all its memory" mig.out || fail "vofirmctl did not say what happened"
rc=0
wait "$IMP" || rc=$?
cat imp.out
[ "$rc" = 1 ] || fail "migrate-import exited $rc, not 1"
grep -q "import of .*/src/mem1 aborted" imp.out || fail "migrate-import did not abort the import"

step "the source runs on with all its memory; nothing leaked"
gx src "vofirm-mmapio verify /data/blob $((DATA_MIB << 20)) 7" | tee verify.out
grep -q verified verify.out || fail "the source's data is not intact"
[ "$(stat_of "$URL" slabs_granted $MEMD_ARGS)" = "$GRANTED0" ] || fail "memd grants another count"
[ "$(held a)" = 4 ] || fail "the source mount holds $(held a) slabs, not 4"
[ "$(held b)" = 0 ] || fail "the destination mount holds $(held b) slabs"
[ ! -e b/src/mem1 ] || fail "the destination's import is still there"
[ "$(python3 "$TOP/tests/tools/handoff.py" state a/src/mem1)" = none ] || fail "the source file is not its own again"
expect_exit 1 getfattr -n user.vofirm.export a/src/mem1
gx src "vofirm-mmapio anon - $((64 << 20)) 4" >/dev/null || fail "the source guest is not healthy"
