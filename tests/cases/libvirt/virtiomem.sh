#!/usr/bin/env bash
# A libvirt domain's virtio-mem device on vofirm, by virsh alone: attached
# (its memory a file in libvirt's memory_backing_dir on the vofirm mount,
# the whole device reserved in the pool), grown and shrunk with virsh
# update-memory-device --requested-size, a workload larger than the base
# RAM verified, the unplugged memory zeroed; QEMU 7.2 cannot unplug the
# device itself, so its memory goes back to the pool when the domain stops.
# A device larger than the pool fails with libvirt's error, changing nothing.
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
memtotal() { gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo"; }
# wait_current KIB: the device's <current> reaches KIB
wait_current() {
	for _ in $(seq 600); do [ "$(lv_target virtiomem0 current)" = "$1" ] && return 0; sleep 0.1; done
	fail "virtiomem0 is at $(lv_target virtiomem0 current) KiB, not $1"
}
start_libvirtd mnt
lv_start_vm vm1 256
base=$(memtotal)
gx vm1 "grep -q virtio_mem /proc/modules" || fail "the guest has no virtio_mem driver"

step "attach a shared virtio-mem device of 512 MiB, 256 MiB plugged"
cat >vmem.xml <<XML
<memory model='virtio-mem' access='shared'>
  <target><size unit='MiB'>512</size><node>0</node><block unit='MiB'>2</block><requested unit='MiB'>256</requested></target>
</memory>
XML
virsh attach-device "$DOM" vmem.xml --live
path=$(lv_qom_path virtiomem0)
echo "QEMU's backend memvirtiomem0 maps $path"
[ "$path" = "$MNT/libvirt/libvirt/qemu/$DOMID-$DOM/virtiomem0" ] ||
	fail "the device's memory is not on the vofirm mount: mem-path $path"
[ "$(used)" = $((512 << 20)) ] || fail "the pool shows $(used) used, not the device's 512 MiB"
wait_current 262144
now=$(memtotal)
[ "$now" -ge $((base + 262144)) ] || fail "guest MemTotal $now kB: the plugged memory is not online"

step "a workload larger than the base RAM, its data on the server"
gx vm1 "vofirm-mmapio anon - $((320 << 20)) 6" | tee work.out
grep -q 'wrote and verified 320 MiB' work.out || fail "the workload failed"
flush_file "$path"
python3 -c '
import json, sys
f = [f for f in json.load(open(sys.argv[1]))["files"] if f["path"] == sys.argv[2]][0]
print("stats.json:", f["path"], f["bytes_written"], "bytes written")
assert f["bytes_written"] >= 100 << 20' "$MNT/.vofirm/stats.json" "${path#"$MNT"}" ||
	fail "stats.json does not show the data on the servers"

step "grow: update-memory-device --requested-size 384MiB"
virsh update-memory-device "$DOM" --alias virtiomem0 --requested-size 384MiB --live
wait_current 393216
for _ in $(seq 100); do [ "$(memtotal)" -ge $((base + 393216)) ] && break; sleep 0.2; done
[ "$(memtotal)" -ge $((base + 393216)) ] || fail "guest MemTotal $(memtotal) kB after growing to 384 MiB"
[ "$(used)" = $((512 << 20)) ] || fail "growing within the device changed the pool: $(used) used"

step "shrink: update-memory-device --requested-size 0; the guest unplugs, the memory reads as zeros"
virsh update-memory-device "$DOM" --alias virtiomem0 --requested-size 0 --live
wait_current 0
now=$(memtotal)
[ "$now" -le $((base + 4096)) ] || fail "guest MemTotal is $now kB after shrinking to 0"
dd if="$path" bs=1M count=512 status=none | cmp - <(head -c 512M /dev/zero) ||
	fail "the unplugged memory does not read as zeros"
[ "$(used)" = $((512 << 20)) ] || fail "the pool shows $(used): the unplugged ranges stay reserved for the device"

step "a device larger than the pool: libvirt's error, and nothing changes"
sed 's/512/2048/' vmem.xml >big.xml
if virsh attach-device "$DOM" big.xml --live 2>big.err; then fail "a 2 GiB device was attached to a 1 GiB pool"; fi
cat big.err
grep -q "No space left on device" big.err || fail "libvirt's error does not say the pool is short"
[ "$(lv_mems)" = virtiomem0 ] || fail "the domain's memory devices are: $(lv_mems)"
[ "$(used)" = $((512 << 20)) ] || fail "the refused device changed the pool: $(used) used"

step "the domain stops: libvirt removes the file, the memory goes back to the pool"
gx vm1 "vofirm-mmapio anon - $((64 << 20)) 4" >/dev/null || fail "the guest is not healthy"
virsh destroy "$DOM"
for _ in $(seq 100); do [ "$(used)" = 0 ] && break; sleep 0.1; done
[ "$(used)" = 0 ] || fail "the pool shows $(used) used after the domain stopped"
[ "$(stat_of "$URL" slabs_granted)" = 0 ] || fail "the server still has slabs granted"
[ ! -e "$path" ] || fail "libvirt left $path"
