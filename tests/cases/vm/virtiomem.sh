#!/usr/bin/env bash
# virtio-mem on vofirm memory: vofirmctl adds a device and the guest plugs
# it, a workload larger than the base RAM verifies its data, then the
# device shrinks to zero: the guest unplugs, QEMU punches the blocks, and
# the punched ranges stay reserved for the device (a later plug can never
# meet an empty pool) until its file shrinks or goes away.
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
require_cmd qemu-system-x86_64

start_memd memd --donate 1G --slab-size 64M --no-auth
start_fs fs mnt --server "$URL"
used() { df --output=used -B1 mnt | tail -1 | tr -d ' '; }
start_vm vm1 --mem 256M --maxmem 4G
base=$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")
gx vm1 "grep -q virtio_mem /proc/modules" || fail "the guest has no virtio_mem driver"

step "grow: a virtio-mem device of 256 MiB, plugged by the guest"
"$CTL" grow --qmp vm1/qmp.sock --mount mnt --size 256M --id vmem0 --model virtio-mem
[ "$(used)" = $((256 << 20)) ] || fail "the pool shows $(used) used"
now=$(gx vm1 "for i in \$(seq 300); do [ \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) -ge $((base + 262144)) ] && break; sleep 0.1; done; awk '/MemTotal/ {print \$2}' /proc/meminfo")
[ "$now" -ge $((base + 262144)) ] || fail "guest MemTotal $now kB: the plugged memory is not online"
"$CTL" list --qmp vm1/qmp.sock --json | tee list.json
python3 -c 'import json,sys; d = json.load(open("list.json"))[0]; assert d["model"] == "virtio-mem" and d["size"] == 256 << 20 and d["vofirm"], d'

step "a workload larger than the base RAM"
gx vm1 "vofirm-mmapio anon - $((320 << 20)) 6" | tee work.out
grep -q 'wrote and verified 320 MiB' work.out || fail "the workload failed"
flush_file mnt/vm1/vmem0
[ "$(stat_of "$URL" bytes_written)" -ge $((100 << 20)) ] || fail "the data did not reach the server"

step "shrink to zero: the guest unplugs, the punched ranges stay reserved for the device"
"$CTL" shrink --qmp vm1/qmp.sock --id vmem0
now=$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")
[ "$now" -le $((base + 4096)) ] || fail "guest MemTotal is $now kB after shrinking to 0"
[ "$(used)" = $((256 << 20)) ] || fail "the pool shows $(used) used: the punched capacity went back"
[ "$(stat_of "$URL" slabs_granted)" = 4 ] || fail "the server has $(stat_of "$URL" slabs_granted) slabs granted, not the device's 4"
dd if=mnt/vm1/vmem0 bs=1M count=256 status=none | cmp - <(head -c 256M /dev/zero) ||
	fail "the unplugged memory does not read as zeros"

step "and grow it again: the same device plugs again, within its reservation"
"$CTL" grow --qmp vm1/qmp.sock --mount mnt --size 128M --id vmem0
gx vm1 "vofirm-mmapio anon - $((200 << 20)) 7" >/dev/null || fail "the workload failed after re-growing"
[ "$(used)" = $((256 << 20)) ] || fail "re-growing the device changed the pool: $(used) used"
