#!/usr/bin/env bash
# QEMU maps a vofirm file as guest RAM: on a paused machine (-S, no guest)
# object-add memory-backend-file (share=on, in the mount) and device_add
# pc-dimm succeed, and device_del is accepted; object-add/object-del of an
# unplugged backend succeed and QEMU lets go of the file.
#
# A backend larger than the pool: vofirm-fs refuses the size (ENOSPC, the
# shortfall in its log), QEMU's object-add fails with "No space left on
# device", and the pool is unchanged.  QEMU runs with vofirm's companion
# (LD_PRELOAD=libvofirm-qemu.so): QEMU 7.2 ignores a failed ftruncate of a
# new backing file and would map it anyway.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
require_cmd qemu-system-x86_64
QMP="python3 $TOP/tests/tools/qmp.py"

start_memd memd --donate 512M --slab-size 16M --no-auth
start_fs fs mnt --server "$URL"
mkdir mnt/vm1
used() { df --output=used -B1 mnt | tail -1 | tr -d ' '; }

SHIM=$TOP/build/libvofirm-qemu.so
[ -f "$SHIM" ] || fail "$SHIM is not built"
LD_PRELOAD=$SHIM qemu-system-x86_64 -S -M pc -m 128M,slots=4,maxmem=4G -nodefaults -no-user-config \
	-display none -qmp "unix:$WORK/qmp.sock,server=on,wait=off" >qemu.log 2>&1 &
QEMU=$!
_pids+=("$QEMU")
for _ in $(seq 50); do [ -S qmp.sock ] && break; sleep 0.1; done
[ -S qmp.sock ] || { cat qemu.log; fail "QEMU did not start"; }

step "object-add + device_add pc-dimm of 256 MiB on the mount"
$QMP qmp.sock object-add '{"qom-type": "memory-backend-file", "id": "rm1", "size": 268435456, "share": true, "mem-path": "'"$WORK"'/mnt/vm1/rm1"}' \
	device_add '{"driver": "pc-dimm", "id": "dimm1", "memdev": "rm1"}' \
	query-memory-devices >plug.out || { cat plug.out; fail "hot-plug failed"; }
grep -q '"id": "dimm1"' plug.out || fail "the DIMM is not listed"
[ "$(used)" = $((256 << 20)) ] || fail "the pool does not show the DIMM's 256 MiB: $(used)"
[ "$(stat_of "$URL" slabs_granted)" = 16 ] || fail "the server did not grant 16 slabs"

step "the companion keeps QEMU's MADV_HUGEPAGE off the DIMM's mapping (and only there)"
smaps=/proc/$QEMU/smaps
awk -v f="$WORK/mnt/vm1/rm1" '$NF == f {on = 1; next} /^[0-9a-f]+-[0-9a-f]+ / {on = 0} on && /^VmFlags/' "$smaps" >dimm.flags
[ -s dimm.flags ] || fail "no mapping of the DIMM's file in QEMU"
grep -q ' sh ' dimm.flags || fail "the DIMM is not a shared mapping: $(cat dimm.flags)"
grep -q ' hg' dimm.flags && fail "the DIMM's mapping is marked MADV_HUGEPAGE: $(cat dimm.flags)"
grep -q '^VmFlags:.* hg' "$smaps" || fail "no mapping of QEMU kept MADV_HUGEPAGE: the companion went too far"

step "device_del is accepted (the unplug itself needs a guest to eject the DIMM)"
$QMP qmp.sock device_del '{"id": "dimm1"}' >del.out || { cat del.out; fail "device_del refused"; }

step "object-add + object-del of a backend that is not plugged"
$QMP qmp.sock object-add '{"qom-type": "memory-backend-file", "id": "rm2", "size": 134217728, "share": true, "mem-path": "'"$WORK"'/mnt/vm1/rm2"}' \
	object-del '{"id": "rm2"}' >objdel.out || { cat objdel.out; fail "object-add/object-del failed"; }
rm mnt/vm1/rm2
for _ in $(seq 20); do [ "$(used)" = $((256 << 20)) ] && break; sleep 0.1; done
[ "$(used)" = $((256 << 20)) ] || fail "rm2's memory did not return to the pool: $(used)"

step "a backend larger than the pool: object-add fails, saying so, and the pool is unchanged"
before=$(used)
$QMP qmp.sock object-add '{"qom-type": "memory-backend-file", "id": "big", "size": 1073741824, "share": true, "mem-path": "'"$WORK"'/mnt/vm1/big"}' >big.out &&
	fail "QEMU accepted a 1 GiB backend on a 512 MiB pool: $(cat big.out)"
cat big.out
grep -q 'No space left on device' big.out || fail "object-add did not say the pool is short: $(cat big.out)"
assert_grep 'file /vm1/big: growing to 1 GiB refused: needs 64 slab\(s\)' fs.log
assert_grep 'libvofirm-qemu: refusing to map 1073741824 bytes' qemu.log
[ "$(used)" = "$before" ] || fail "the refused backend changed the pool"
[ ! -e mnt/vm1/big ] || [ "$(stat -c %s mnt/vm1/big)" = 0 ] || fail "the refused file has a size"
rm -f mnt/vm1/big

step "sized first, as vofirmctl does: the size fails up front; QEMU checks the size too"
truncate -s 1G mnt/vm1/big2 2>err && fail "a 1 GiB file on a 512 MiB pool"
grep -q 'No space left on device' err || fail "truncate said: $(cat err)"
rm -f mnt/vm1/big2
truncate -s 128M mnt/vm1/ok && truncate -s 96M mnt/vm1/short
$QMP qmp.sock object-add '{"qom-type": "memory-backend-file", "id": "rm3", "size": 134217728, "share": true, "mem-path": "'"$WORK"'/mnt/vm1/short"}' >short.out && fail "QEMU took a file smaller than the backend"
grep -q 'does not match' short.out || fail "QEMU said: $(cat short.out)"
$QMP qmp.sock object-add '{"qom-type": "memory-backend-file", "id": "rm4", "size": 134217728, "share": true, "mem-path": "'"$WORK"'/mnt/vm1/ok"}' >ok.out || { cat ok.out; fail "a sized file was refused"; }

step "QEMU quits and lets go of the files; removing them empties the pool"
$QMP qmp.sock quit >/dev/null || true
for _ in $(seq 50); do kill -0 $QEMU 2>/dev/null || break; sleep 0.1; done
rm -f mnt/vm1/*
for _ in $(seq 30); do [ "$(used)" = 0 ] && break; sleep 0.1; done
[ "$(used)" = 0 ] || fail "the pool is not empty after QEMU quit: $(used)"
stop_fs mnt "$FS_PID"
