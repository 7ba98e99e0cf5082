#!/usr/bin/env bash
# The local memory budget: QEMU in a memory cgroup (vofirmctl budget) whose
# limit leaves room for only a small part of the VM's remote memory in the
# host's page cache.  A workload in the guest bigger than that still
# verifies every byte, and the server's counters show pages fetched back.
# TIMEOUT: 900
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
require_cmd qemu-system-x86_64

start_memd memd --donate 1G --slab-size 64M --no-auth
start_fs fs mnt --server "$URL"
start_vm vm1 --mem 256M --maxmem 4G
"$CTL" grow --qmp vm1/qmp.sock --mount mnt --size 512M --id dimm1
gx vm1 "for i in \$(seq 300); do [ \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) -ge 700000 ] && break; sleep 0.1; done; grep MemTotal /proc/meminfo"

step "QEMU in a memory cgroup: its own memory plus 96 MiB of page cache"
anon=$(awk '/^RssAnon/ {print $2}' /proc/$QEMU_PID/status)
limit=$(( (anon + 96 * 1024) * 1024 ))
name=test-$$
"$CTL" budget --pid "$QEMU_PID" --limit "$limit" --id "$name"
if [ -d /sys/fs/cgroup/memory ]; then
	_cgroups+=("/sys/fs/cgroup/memory/vofirm-$name")
	grep -qx "$QEMU_PID" "/sys/fs/cgroup/memory/vofirm-$name/cgroup.procs" || fail "QEMU is not in the cgroup"
else
	_cgroups+=("/sys/fs/cgroup/vofirm-$name")
fi

step "a 480 MiB workload: most of it on the DIMM, far more than the budget caches"
read0=$(stat_of "$URL" bytes_read)
gx vm1 "vofirm-mmapio anon - $((480 << 20)) 11" | tee work.out
grep -q 'wrote and verified 480 MiB' work.out || fail "the workload failed under the budget"
read1=$(stat_of "$URL" bytes_read)
echo "pages fetched back from the server: $(((read1 - read0) >> 20)) MiB"
[ $((read1 - read0)) -ge $((64 << 20)) ] || fail "only $((read1 - read0)) bytes came back: nothing was evicted"
kill -0 "$QEMU_PID" || fail "QEMU died under the budget"

step "the VM is intact: the shrink still works"
"$CTL" shrink --qmp vm1/qmp.sock --id dimm1
