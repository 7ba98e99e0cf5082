#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The main job, as far as vofirm goes today: installs what is missing,
# builds, starts a memory server (vofirm-memd) on loopback, and exercises
# it with a client over the TCP transport: slabs granted, written and read
# back with many requests in flight, a dropped connection survived within
# the lease, a wrong key refused.  Then it mounts vofirm-fs on the server
# and uses a memory file the way QEMU does (MAP_SHARED), from a process
# whose memory cgroup holds only a quarter of the file, so pages go to the
# server and come back.  Finally it boots a small VM under QEMU (KVM when
# it works, TCG otherwise), grows it with vofirmctl onto the remote memory,
# runs a workload in the guest larger than its base RAM, shows the pool
# and the stats, and shrinks the VM back.  Everything it starts is stopped
# when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "Installing missing Debian packages and building"
scripts/install-deps.sh
make -j"$(nproc)" all >build.log 2>&1 || { tail -30 build.log; exit 1; }
MEMD=$TOP/build/vofirm-memd
CLIENT=$TOP/build/tests/vofirm-xtest

DIR=$(mktemp -d /tmp/vofirm-demo.XXXXXX)
MEMD_PID=
FS_PID=
CG=
VM=
cleanup() {
	[ -n "$VM" ] && python3 "$TOP/tests/tools/vm.py" stop "$VM" 2>/dev/null
	[ -n "$FS_PID" ] && fusermount3 -u "$DIR/mnt" 2>/dev/null && wait "$FS_PID" 2>/dev/null
	[ -n "$CG" ] && rmdir "$CG" 2>/dev/null
	[ -n "$MEMD_PID" ] && kill "$MEMD_PID" 2>/dev/null && wait "$MEMD_PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

say "Making a pre-shared key ($DIR/key, mode 0600)"
head -c 32 /dev/urandom | base64 >"$DIR/key"
chmod 600 "$DIR/key"

say "Starting vofirm-memd: donating 1 GiB in 64 MiB slabs on 127.0.0.1, lease 5 s"
"$MEMD" --listen tcp://127.0.0.1:0 --donate 1G --slab-size 64M --key-file "$DIR/key" \
	--lease 5s 2>"$DIR/memd.log" &
MEMD_PID=$!
for _ in $(seq 50); do
	PORT=$(sed -n 's/.*listening on tcp:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$DIR/memd.log")
	[ -n "$PORT" ] && break
	sleep 0.1
done
[ -n "$PORT" ] || { cat "$DIR/memd.log"; echo "vofirm-memd did not start"; exit 1; }
URL=tcp://127.0.0.1:$PORT
sed 's/^/    memd | /' "$DIR/memd.log"
C=("$CLIENT" --server "$URL" --key-file "$DIR/key")

say "A client writes a pattern over 8 slabs (512 MiB), 64 requests in flight, reads it back and verifies"
"${C[@]}" --name demo-client rw --slabs 8 | sed 's/^/    client | /'

say "A client stores data and drops its connection; another process resumes the session within the lease"
"${C[@]}" --name vm-host rw --slabs 4 --seed 42 --session "$DIR/session" | sed 's/^/    client | /'
sleep 1
"${C[@]}" --name vm-host verify --session "$DIR/session" | sed 's/^/    client | /'

say "A client with the wrong key is refused"
head -c 32 /dev/urandom | base64 >"$DIR/wrong"
chmod 600 "$DIR/wrong"
if "$CLIENT" --server "$URL" --key-file "$DIR/wrong" --name intruder stats 2>&1 | sed 's/^/    client | /'; then
	echo "the wrong key was accepted" >&2
	exit 1
fi

say "Mounting vofirm-fs on $DIR/mnt, backed by the server"
mkdir "$DIR/mnt"
"$TOP/build/vofirm-fs" "$DIR/mnt" -f --server "$URL" --key-file "$DIR/key" 2>"$DIR/fs.log" &
FS_PID=$!
for _ in $(seq 50); do grep -q " $DIR/mnt fuse.vofirm " /proc/mounts && break; sleep 0.1; done
grep -q " $DIR/mnt fuse.vofirm " /proc/mounts || { cat "$DIR/fs.log"; exit 1; }
df -h "$DIR/mnt" | sed 's/^/    df | /'

say "A 256 MiB memory file: its remote memory is reserved when it gets its size"
mkdir "$DIR/mnt/vm1"
truncate -s 256M "$DIR/mnt/vm1/ram"
df -h "$DIR/mnt" | sed 's/^/    df | /'

say "Too big for the pool: refused now (ENOSPC), not when a guest touches it"
truncate -s 2G "$DIR/mnt/vm1/big" 2>&1 | sed 's/^/    truncate | /' || true
grep 'refused' "$DIR/fs.log" | tail -1 | sed 's/^.*error: /    vofirm-fs | /'
rm -f "$DIR/mnt/vm1/big"

MMAPIO=$TOP/build/tests/vofirm-mmapio
if [ -d /sys/fs/cgroup/memory ] && mkdir /sys/fs/cgroup/memory/vofirm-demo-$$ 2>/dev/null; then
	CG=/sys/fs/cgroup/memory/vofirm-demo-$$
	echo $((64 << 20)) >"$CG/memory.limit_in_bytes"
	say "Mapping it MAP_SHARED from a memory cgroup of 64 MiB: write every page, then verify every byte"
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG" "$MMAPIO" fill "$DIR/mnt/vm1/ram" $((256 << 20)) 7 | sed 's/^/    guest-ish | /'
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG" "$MMAPIO" verify "$DIR/mnt/vm1/ram" $((256 << 20)) 7 | sed 's/^/    guest-ish | /'
else
	say "Mapping it MAP_SHARED: write every page, drop the page cache, verify every byte"
	"$MMAPIO" fill "$DIR/mnt/vm1/ram" $((256 << 20)) 7 | sed 's/^/    guest-ish | /'
	echo 3 >/proc/sys/vm/drop_caches
	"$MMAPIO" verify "$DIR/mnt/vm1/ram" $((256 << 20)) 7 | sed 's/^/    guest-ish | /'
fi

say "What the mount says about the pool and the file ($DIR/mnt/.vofirm/stats.json)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["servers"][0]; f=d["files"][0]
print("    stats | server %s: %s, holds %d MiB for this mount; %d MiB written, %d MiB read back; read p50 %.0f us, write p50 %.0f us" % (s["url"], s["state"], s["held"]>>20, s["bytes_written"]>>20, s["bytes_read"]>>20, s["read_latency_us"]["p50"], s["write_latency_us"]["p50"]))
print("    stats | file %s: %d MiB, %d MiB reserved" % (f["path"], f["size"]>>20, f["reserved"]>>20))' "$DIR/mnt/.vofirm/stats.json"

say "Removing the file: its memory goes back to the pool"
rm "$DIR/mnt/vm1/ram"
df -h "$DIR/mnt" | sed 's/^/    df | /'

say "Booting a VM: 256 MiB of RAM, room for hot-plugged memory (QEMU with vofirm's companion, the project's guest)"
VM=$DIR/vm
python3 "$TOP/tests/tools/vm.py" start "$VM" --name vm1 --mem 256M --maxmem 4G \
	--preload "$TOP/build/libvofirm-qemu.so" | sed 's/^/    vm | /'
G() { python3 "$TOP/tests/tools/vm.py" run "$VM" "$1"; }
CTL=$TOP/build/vofirmctl
G "grep MemTotal /proc/meminfo" | sed 's/^/    guest | /'

say "vofirmctl grow: 512 MiB of remote memory as a pc-dimm (file, object-add, device_add)"
"$CTL" grow --qmp "$VM/qmp.sock" --mount "$DIR/mnt" --size 512M --id dimm1 2>&1 | sed 's/^/    vofirmctl | /'
G "for i in \$(seq 300); do [ \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) -ge 600000 ] && break; sleep 0.1; done; grep MemTotal /proc/meminfo" | sed 's/^/    guest | /'
"$CTL" list --qmp "$VM/qmp.sock" | sed 's/^/    vofirmctl | /'

say "In the guest: a workload of 600 MiB, more than the VM's base RAM, written and verified"
G "vofirm-mmapio anon - \$((600 << 20)) 42" | sed 's/^/    guest | /'
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$DIR/mnt/vm1/dimm1"

say "The pool and the stats (vofirmctl status)"
"$CTL" status --mount "$DIR/mnt" | sed 's/^/    status | /'
df -h "$DIR/mnt" | sed 's/^/    df | /'

say "vofirmctl shrink: the guest releases the DIMM, its memory goes back to the pool"
"$CTL" shrink --qmp "$VM/qmp.sock" --id dimm1 2>&1 | sed 's/^/    vofirmctl | /'
G "grep MemTotal /proc/meminfo" | sed 's/^/    guest | /'
df -h "$DIR/mnt" | sed 's/^/    df | /'
python3 "$TOP/tests/tools/vm.py" stop "$VM"
VM=

say "Unmounting vofirm-fs"
fusermount3 -u "$DIR/mnt"
wait "$FS_PID"
FS_PID=

say "The pool's stats, from the server"
"${C[@]}" stats | sed 's/^/    stats | /'

say "Stopping vofirm-memd with SIGTERM"
kill -TERM "$MEMD_PID"
wait "$MEMD_PID"
MEMD_PID=
echo "    vofirm-memd exited with status 0; its log:"
sed 's/^/    memd | /' "$DIR/memd.log" | tail -n +3

say "Done: a VM grew onto remote memory and shrank back; nothing was left running"
