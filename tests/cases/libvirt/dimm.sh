#!/usr/bin/env bash
# A libvirt domain grown and shrunk with a DIMM on vofirm, by virsh alone,
# against a private libvirtd: libvirt 9 puts a shared DIMM's memory in its
# memory_backing_dir (qemu.conf), here a directory on the vofirm mount.
# QEMU's backend maps a file there, the guest onlines it, a workload
# larger than the base RAM verifies its data, the data is on the memory
# server; detach-device gives the memory back to the pool; a DIMM larger
# than the pool fails with libvirt's error and changes nothing.
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/libvirt.sh"
require_fuse
require_cmd qemu-system-x86_64
require_libvirt

start_memd memd --donate 1G --slab-size 64M --no-auth
start_fs fs mnt --server "$URL"
MNT=$(realpath mnt)
used() { df --output=used -B1 mnt | tail -1 | tr -d ' '; }
start_libvirtd mnt
lv_start_vm vm1 256
base=$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")
echo "guest MemTotal: $base kB"

step "grow: virsh attach-device --live of a shared DIMM of 256 MiB"
cat >dimm.xml <<XML
<memory model='dimm' access='shared'>
  <target><size unit='MiB'>256</size><node>0</node></target>
</memory>
XML
virsh attach-device "$DOM" dimm.xml --live
[ "$(lv_mems)" = dimm0 ] || fail "the domain's memory devices are: $(lv_mems)"
path=$(lv_qom_path dimm0)
echo "QEMU's backend memdimm0 maps $path"
[ "$path" = "$MNT/libvirt/libvirt/qemu/$DOMID-$DOM/dimm0" ] ||
	fail "the DIMM's memory is not on the vofirm mount: mem-path $path"
grep -q " $path\$" "/proc/$QEMU_PID/maps" || fail "QEMU has not mapped $path"
[ "$(used)" = $((256 << 20)) ] || fail "the pool shows $(used) used, not the DIMM's 256 MiB"
gx vm1 "for i in \$(seq 300); do [ \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) -ge $((base + 262144)) ] && break; sleep 0.1; done; grep MemTotal /proc/meminfo" >online.out
cat online.out
[ "$(awk '/MemTotal/ {print $2}' online.out)" -ge $((base + 262144)) ] || fail "the guest did not online the DIMM"

step "a workload larger than the base RAM: 320 MiB written and verified in the guest"
gx vm1 "vofirm-mmapio anon - $((320 << 20)) 3" | tee work.out
grep -q 'wrote and verified 320 MiB' work.out || fail "the workload failed"

step "the data is on the memory server (stats.json: the file's writes, and memd's)"
flush_file "$path"
rel=${path#"$MNT"}
python3 - "$MNT/.vofirm/stats.json" "$rel" <<'PY' || fail "stats.json does not show the DIMM's data written to the server"
import json, sys
st = json.load(open(sys.argv[1]))
f = [f for f in st["files"] if f["path"] == sys.argv[2]]
assert f, "no file %s in %s" % (sys.argv[2], [x["path"] for x in st["files"]])
print("stats.json: %s: %d bytes written to the servers" % (f[0]["path"], f[0]["bytes_written"]))
assert f[0]["bytes_written"] >= 100 << 20
assert sum(s["bytes_written"] for s in st["servers"]) >= 100 << 20
PY
[ "$(stat_of "$URL" bytes_written)" -ge $((100 << 20)) ] || fail "the server did not receive the data"

step "shrink: virsh detach-device --live; the memory goes back to the pool"
virsh detach-device "$DOM" dimm.xml --live
for _ in $(seq 300); do [ -z "$(lv_mems)" ] && break; sleep 0.1; done
[ -z "$(lv_mems)" ] || fail "the DIMM is still in the domain: $(lv_mems)"
after=$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")
[ "$after" = "$base" ] || fail "guest MemTotal is $after kB after the shrink, $base before the grow"
for _ in $(seq 50); do [ "$(used)" = 0 ] && break; sleep 0.1; done
[ "$(used)" = 0 ] || fail "the pool shows $(used) used after the shrink"
[ "$(stat_of "$URL" slabs_granted)" = 0 ] || fail "the server still has slabs granted"
[ ! -e "$path" ] || fail "libvirt left the DIMM's file $path"

step "a DIMM larger than the pool: libvirt's error, and nothing changes"
sed 's/256/2048/' dimm.xml >big.xml
if virsh attach-device "$DOM" big.xml --live 2>big.err; then fail "a 2 GiB DIMM was attached to a 1 GiB pool"; fi
cat big.err
grep -q "No space left on device" big.err || fail "libvirt's error does not say the pool is short"
[ -z "$(lv_mems)" ] || fail "the refused DIMM is in the domain: $(lv_mems)"
[ "$(used)" = 0 ] || fail "the refused DIMM left $(used) used in the pool"
[ "$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")" = "$base" ] || fail "the guest's memory changed"
[ -z "$(find "$MNT/libvirt" -type f)" ] || fail "files left: $(find "$MNT/libvirt" -type f)"
gx vm1 "vofirm-mmapio anon - $((64 << 20)) 4" >/dev/null || fail "the guest is not healthy"
