#!/usr/bin/env bash
# vofirmctl migrate with a 256 MiB vofirm virtio-mem device, plugged whole:
# the guest fills 320 MiB of tmpfs (more than its base RAM, so most of it
# is on the device), the VM
# moves to a second QEMU on a second mount of the same memd, and the guest
# verifies its data there.  The migration stream carried less than base
# RAM + 10 % of the DIMM; the source mount holds nothing afterwards; memd
# grants the same 4 slabs, all the destination's; the destination's
# device has every block plugged (its bitmap is device state, migrated).
# TIMEOUT: 900
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/migrate.sh"

mig_setup virtio-mem

step "migrate"
"$CTL" migrate --qmp src/qmp.sock --to-qmp dst/qmp.sock --mount a --to-mount b --json >mig.json
cat mig.json
sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_sent"])' mig.json)
limit=$(( (BASE_KIB << 10) + DIMM / 10 ))
[ "$sent" -lt "$limit" ] || fail "the stream carried $sent bytes, not less than base RAM + 10 % of the DIMM ($limit)"

step "the guest verifies its data on the destination"
gx dst "vofirm-mmapio verify /data/blob $((DATA_MIB << 20)) 7" | tee verify.out
grep -q verified verify.out || fail "the guest's data is not intact on the destination"

step "the source holds nothing; memd's slabs are the destination's only"
for _ in $(seq 100); do kill -0 "$SRC_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SRC_PID" 2>/dev/null && fail "the source QEMU did not quit"
[ "$(held a)" = 0 ] || fail "the source mount still holds $(held a) slabs"
[ "$(held b)" = 4 ] || fail "the destination mount holds $(held b) slabs, not 4"
[ ! -e a/src/mem1 ] || fail "the source file is still there"
[ "$(stat_of "$URL" slabs_granted $MEMD_ARGS)" = 4 ] || fail "memd grants another count than 4"
[ "$(python3 "$TOP/tests/tools/handoff.py" state b/src/mem1)" = none ] || fail "the import is not committed"
gx dst "vofirm-mmapio anon - $((64 << 20)) 4" >/dev/null || fail "the guest is not healthy after the migration"

step "virtio-mem's plugged blocks came with the device state"
python3 - <<'PY'
import json, socket
s = socket.socket(socket.AF_UNIX); s.connect('dst/qmp.sock'); f = s.makefile('rw')
f.readline()
for c in ('qmp_capabilities', 'query-memory-devices'):
    f.write(json.dumps({'execute': c}) + '\n'); f.flush()
    while True:
        r = json.loads(f.readline())
        if 'event' not in r:
            break
d = [x['data'] for x in r['return'] if x['type'] == 'virtio-mem'][0]
print('destination virtio-mem:', d)
assert d['size'] == 256 << 20 and d['requested-size'] == 256 << 20, d
PY
