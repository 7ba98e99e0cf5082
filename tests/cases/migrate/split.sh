#!/usr/bin/env bash
# The two-host split, driven only by what an operator's tooling runs on
# each host (two mounts of one memd on this machine stand for two hosts):
#   source       vofirmctl migrate-export --out bundle      (mode 0600)
#   destination  vofirmctl migrate-import --in bundle --uri  (waits)
#   source       vofirmctl migrate --handoff bundle --at-pause CMD, CMD a
#                shell line that runs migrate-import --update "$VOFIRM_UPDATE"
# The guest rewrites its data after the export, so that pages first
# written back after it exist: without the update the destination would
# read them as zeros.  It verifies its data on the destination; the source
# mount holds nothing afterwards, memd's slabs are the destination's.
# Proved to see the difference: with the --at-pause command copying the
# update but not applying it, the destination guest's verify failed
# (478208 of 41943040 words differ).
# TIMEOUT: 900
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/migrate.sh"

mig_setup pc-dimm

step "migrate-export on the source"
"$CTL" migrate-export --qmp src/qmp.sock --mount a --out bundle.json
[ "$(stat -c %a bundle.json)" = 600 ] || fail "the bundle's mode is $(stat -c %a bundle.json), not 600"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); d=b["devices"][0]; assert b["kind"]=="export" and d["id"]=="mem1" and d["path"]=="src/mem1" and d["driver"]=="pc-dimm" and d["handoff"].startswith("vofirm-handoff-1 "), b' bundle.json ||
	fail "the bundle does not describe the device"

step "the guest rewrites its data after the export (generation 8)"
gx src "vofirm-mmapio fill /data/blob $((DATA_MIB << 20)) 8" | tee fill2.out
grep -q filled fill2.out || fail "the second fill failed"

step "migrate-import on the destination: it waits for the VM"
"$CTL" migrate-import --qmp dst/qmp.sock --mount b --in bundle.json --uri "unix:$WORK/mig.sock" \
	--json >imp.json 2>imp.err &
IMP=$!
for _ in $(seq 300); do grep -q "listens on" imp.err && break; sleep 0.1; done
grep -q "listens on" imp.err || { cat imp.err; fail "migrate-import did not get ready"; }
[ "$(python3 "$TOP/tests/tools/handoff.py" state b/src/mem1)" = pending ] || fail "b/src/mem1 is not a pending import"

step "migrate on the source; at the pause the update goes over by the --at-pause command"
"$CTL" migrate --qmp src/qmp.sock --mount a --uri "unix:$WORK/mig.sock" --handoff bundle.json \
	--at-pause "cp \"\$VOFIRM_UPDATE\" update.copy && $CTL migrate-import --update \"\$VOFIRM_UPDATE\" --mount b" \
	--json >mig.json
cat mig.json
rc=0
wait "$IMP" || rc=$?
cat imp.err imp.json
[ "$rc" = 0 ] || fail "migrate-import exited $rc"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["committed"] is True' imp.json ||
	fail "migrate-import did not commit"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["kind"]=="update" and len(b["devices"])==1' update.copy ||
	fail "the update file is not an update bundle"
[ ! -e bundle.json.update ] || fail "the update file (secret) was left behind"
sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_sent"])' mig.json)
limit=$(( (BASE_KIB << 10) + DIMM / 10 ))
[ "$sent" -lt "$limit" ] || fail "the stream carried $sent bytes, not less than base RAM + 10 % of the DIMM ($limit)"

step "the guest verifies its data on the destination"
gx dst "vofirm-mmapio verify /data/blob $((DATA_MIB << 20)) 8" | tee verify.out
grep -q verified verify.out || fail "the guest's data is not intact on the destination"

step "the source holds nothing; memd's slabs are the destination's only"
for _ in $(seq 100); do kill -0 "$SRC_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SRC_PID" 2>/dev/null && fail "the source QEMU did not quit"
[ "$(held a)" = 0 ] || fail "the source mount still holds $(held a) slabs"
[ "$(held b)" = 4 ] || fail "the destination mount holds $(held b) slabs, not 4"
[ ! -e a/src/mem1 ] || fail "the source file is still there"
[ "$(stat_of "$URL" slabs_granted $MEMD_ARGS)" = 4 ] || fail "memd grants another count than 4"
[ "$(python3 "$TOP/tests/tools/handoff.py" state b/src/mem1)" = none ] || fail "the import is not committed"
