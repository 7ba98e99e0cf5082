#!/usr/bin/env bash
# A running VM grown with a pc-dimm on vofirm memory and shrunk again, by
# vofirmctl over QMP: the guest onlines the memory, a workload larger than
# the guest's base RAM writes and verifies its data, the data is on the
# memory server, and after the shrink the pool's use is back where it was.
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
require_cmd qemu-system-x86_64

start_memd memd --donate 1G --slab-size 64M --no-auth
start_fs fs mnt --server "$URL"
used() { df --output=used -B1 mnt | tail -1 | tr -d ' '; }
start_vm vm1 --mem 256M --slots 4 --maxmem 4G
base=$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")
echo "guest MemTotal: $base kB"

step "grow by 256 MiB (pc-dimm)"
"$CTL" grow --qmp vm1/qmp.sock --mount mnt --size 256M --id dimm1
[ "$(used)" = $((256 << 20)) ] || fail "the pool shows $(used) used, not the DIMM's 256 MiB"
gx vm1 "for i in \$(seq 300); do [ \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) -ge $((base + 262144)) ] && break; sleep 0.1; done; grep MemTotal /proc/meminfo; cat /sys/devices/system/memory/memory3[23]/valid_zones" >online.out
cat online.out
[ "$(awk '/MemTotal/ {print $2}' online.out)" -ge $((base + 262144)) ] || fail "the guest did not online the DIMM"
"$CTL" list --qmp vm1/qmp.sock | tee list.out
grep -q '^dimm1 .*pc-dimm .*256 MiB.*(vofirm)$' list.out || fail "list does not show the vofirm DIMM"

step "a workload larger than the base RAM: 320 MiB written and verified in the guest"
gx vm1 "vofirm-mmapio anon - $((320 << 20)) 3" | tee work.out
grep -q 'wrote and verified 320 MiB' work.out || fail "the workload failed"

step "the data is on the memory server"
flush_file mnt/vm1/dimm1
written=$(stat_of "$URL" bytes_written)
echo "memd received $written bytes"
[ "$written" -ge $((100 << 20)) ] || fail "only $written bytes of the guest's data reached the server"

step "shrink: the guest releases the DIMM, the memory goes back to the pool"
"$CTL" shrink --qmp vm1/qmp.sock --id dimm1
after=$(gx vm1 "awk '/MemTotal/ {print \$2}' /proc/meminfo")
[ "$after" = "$base" ] || fail "guest MemTotal is $after kB after the shrink, $base before the grow"
for _ in $(seq 30); do [ "$(used)" = 0 ] && break; sleep 0.1; done
[ "$(used)" = 0 ] || fail "the pool shows $(used) used after the shrink"
[ "$(stat_of "$URL" slabs_granted)" = 0 ] || fail "the server still has slabs granted"
[ ! -e mnt/vm1/dimm1 ] || fail "the DIMM's file is still there"
gx vm1 "vofirm-mmapio anon - $((64 << 20)) 4" >/dev/null || fail "the guest is not healthy after the shrink"
