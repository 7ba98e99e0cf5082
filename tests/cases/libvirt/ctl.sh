#!/usr/bin/env bash
# vofirmctl grow, shrink and budget --domain: through libvirt (virsh), so
# that libvirt's view of the domain stays right.  A DIMM and a virtio-mem
# device grown onto vofirm and shrunk again, the memory's file checked on
# the mount; a grow the pool cannot cover refused before libvirt is asked;
# a grow whose memory libvirt puts elsewhere than the given mount undone;
# the domain's memory cgroup limit set through libvirt's memtune.
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/libvirt.sh"
require_fuse
require_cmd qemu-system-x86_64
require_libvirt

start_memd memd --donate 1G --slab-size 64M --no-auth
start_fs fs mnt --server "$URL"
start_memd memd2 --donate 256M --slab-size 64M --no-auth
URL2=$URL
start_fs fs2 other --server "$URL2"
MNT=$(realpath mnt)
used() { df --output=used -B1 "${1:-mnt}" | tail -1 | tr -d ' '; }
memtotal() { gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo"; }
start_libvirtd mnt
lv_start_vm vm1 256
base=$(memtotal)

step "grow --domain: a DIMM of 256 MiB"
"$CTL" grow --domain "$DOM" --mount mnt --size 256M | tee grow.out
grep -q "^domain $DOM: dimm0 (pc-dimm, 256 MiB) on vofirm: $MNT/libvirt/libvirt/qemu/$DOMID-$DOM/dimm0\$" grow.out ||
	fail "grow did not report the DIMM's file on the mount"
[ "$(lv_qom_path dimm0)" = "$MNT/libvirt/libvirt/qemu/$DOMID-$DOM/dimm0" ] || fail "QEMU maps $(lv_qom_path dimm0)"
[ "$(used)" = $((256 << 20)) ] || fail "the pool shows $(used) used"
for _ in $(seq 100); do [ "$(memtotal)" -ge $((base + 262144)) ] && break; sleep 0.2; done
[ "$(memtotal)" -ge $((base + 262144)) ] || fail "the guest did not online the DIMM"

step "grow --domain --model virtio-mem: 256 MiB, plugged by the guest"
"$CTL" grow --domain "$DOM" --mount mnt --size 256M --model virtio-mem --connect "$LIBVIRT_DEFAULT_URI" | tee vgrow.out
grep -q "virtiomem0 (virtio-mem, 256 MiB) on vofirm" vgrow.out || fail "grow did not report the virtio-mem device"
[ "$(lv_target virtiomem0 current)" = 262144 ] || fail "the device has $(lv_target virtiomem0 current) KiB plugged"
[ "$(used)" = $((512 << 20)) ] || fail "the pool shows $(used) used"
gx vm1 "vofirm-mmapio anon - $((400 << 20)) 5" | tee work.out
grep -q 'wrote and verified 400 MiB' work.out || fail "the workload failed"

step "shrink --domain --id virtiomem0 --size 64M, then grow it back to 256M"
"$CTL" shrink --domain "$DOM" --id virtiomem0 --size 64M
[ "$(lv_target virtiomem0 current)" = 65536 ] || fail "the device is at $(lv_target virtiomem0 current) KiB"
"$CTL" grow --domain "$DOM" --id virtiomem0 --size 256M
[ "$(lv_target virtiomem0 current)" = 262144 ] || fail "the device is at $(lv_target virtiomem0 current) KiB"

step "shrink --domain --id dimm0: the guest releases it, the memory goes back to the pool"
"$CTL" shrink --domain "$DOM" --id dimm0
[ "$(lv_mems)" = virtiomem0 ] || fail "the domain's memory devices are: $(lv_mems)"
for _ in $(seq 50); do [ "$(used)" = $((256 << 20)) ] && break; sleep 0.1; done
[ "$(used)" = $((256 << 20)) ] || fail "the pool shows $(used) used: the DIMM's memory did not go back"

step "misuse: a grow beyond the pool, an unknown id, a DIMM with --size"
expect_exit 1 "$CTL" grow --domain "$DOM" --mount mnt --size 1G
assert_out "the pool cannot cover 1 GiB: 768 MiB free"
[ "$(lv_mems)" = virtiomem0 ] || fail "a refused grow changed the domain: $(lv_mems)"
expect_exit 1 "$CTL" shrink --domain "$DOM" --id dimm7
assert_out "has no memory device dimm7 \(it has: virtiomem0 \(virtio-mem\)\)"
expect_exit 1 "$CTL" grow --domain nosuch-$$ --mount mnt --size 128M
assert_out "libvirt: .*nosuch-$$"
expect_exit 2 "$CTL" shrink --domain "$DOM"
assert_out "shrink --domain needs --id"

step "a grow whose memory libvirt puts elsewhere than --mount is undone"
expect_exit 1 "$CTL" grow --domain "$DOM" --mount other --size 128M
assert_out "libvirt did not put dimm[0-9]'s memory on other .*memory_backing_dir"
[ "$(lv_mems)" = virtiomem0 ] || fail "the misplaced DIMM is still in the domain: $(lv_mems)"
for _ in $(seq 50); do [ "$(used)" = $((256 << 20)) ] && break; sleep 0.1; done
[ "$(used)" = $((256 << 20)) ] || fail "the misplaced DIMM's memory did not go back: $(used) used"

step "budget --domain: libvirt's memtune sets the hard limit of the domain's memory cgroup"
"$CTL" budget --domain "$DOM" --limit 1G | tee budget.out
grep -q "^domain $DOM: memory hard limit 1 GiB" budget.out || fail "budget did not report the limit"
virsh memtune "$DOM" >memtune.out
grep -q 'hard_limit *: 1048576$' memtune.out || fail "libvirt's memtune: $(cat memtune.out)"
cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3} $2 == "" {v2 = $3} END {if (v2 != "") print v2}' "/proc/$QEMU_PID/cgroup" | head -1)
lim=$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup$cg/memory.max")
echo "QEMU's memory cgroup $cg: limit $lim"
[ "$lim" = $((1 << 30)) ] || fail "QEMU's memory cgroup has limit $lim, not 1 GiB"
gx vm1 "vofirm-mmapio anon - $((256 << 20)) 8" >/dev/null || fail "the guest is not healthy under the budget"
