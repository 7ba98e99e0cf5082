# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by tests/cases/migrate/*.sh after common.sh: one memd, a source
# mount a and a destination mount b of it, a source VM "src" whose memory
# device (vofirmctl grow) holds a workload larger than its base RAM, and a
# destination QEMU "dst" waiting with -incoming defer.
#   mig_setup MODEL                  all of that; MODEL pc-dimm or virtio-mem
#   held MOUNT                       slabs the mount holds (stats.json)
# Base RAM is 262016K, not 256M: QEMU 7.2 under TCG loses updates to base
# RAM during a live migration when its size is a multiple of 256 KiB (fixed
# in QEMU 9.0, commit 03bfc2188f); that would fail these cases for QEMU's
# reasons.
require_fuse
require_cmd qemu-system-x86_64
require_cmd python3

DIMM=$((256 << 20))
DATA_MIB=320
BASE_KIB=262016
held() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1]+"/.vofirm/stats.json")); print(sum(s["held"] for s in d["servers"]) >> 26)' "$1"
}

mig_setup() {
	local model=$1
	make_key key
	MEMD_ARGS="--key-file key"
	start_memd memd --donate 1G --slab-size 64M --key-file key
	start_fs a a --server "$URL" --key-file key
	A_PID=$FS_PID
	start_fs b b --server "$URL" --key-file key
	B_PID=$FS_PID
	start_vm src --mem ${BASE_KIB}K --slots 4 --maxmem 4G
	SRC_PID=$QEMU_PID
	base=$(gx src "awk '/MemTotal/ {print \$2}' /proc/meminfo")
	step "the source grows by 256 MiB ($model) and fills $DATA_MIB MiB of tmpfs"
	"$CTL" grow --qmp src/qmp.sock --mount a --size 256M --id mem1 --model "$model"
	gx src "for i in \$(seq 600); do [ \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) -ge $((base + 262144)) ] && break; sleep 0.1; done; grep MemTotal /proc/meminfo"
	gx src "mkdir -p /data && mount -t tmpfs -o size=400m data /data && vofirm-mmapio fill /data/blob $((DATA_MIB << 20)) 7" | tee fill.out
	grep -q filled fill.out || fail "the workload did not fill its data"
	GRANTED0=$(stat_of "$URL" slabs_granted $MEMD_ARGS)
	[ "$GRANTED0" = 4 ] || fail "memd grants $GRANTED0 slabs for a 256 MiB device, not 4"
	start_vm dst --mem ${BASE_KIB}K --slots 4 --maxmem 4G --incoming
	DST_PID=$QEMU_PID
}
