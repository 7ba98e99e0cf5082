#!/usr/bin/env bash
# The supervisor killed (SIGKILL): it is the one process whose death still
# takes the mount with it, as vofirm-fs(8) says.  Its worker learns of it,
# says so loudly and ends the mount: the mount point is no longer a
# vofirm-fs mount (or answers ENOTCONN, as a dead FUSE daemon's mount does:
# what the kernel has cached of it, a name's attributes, may still be
# seen), a process touching a mapped page
# the host does not hold gets SIGBUS, and the servers keep the session's
# slabs for their lease, then free them.  A new vofirm-fs mounts there again
# (empty), as systemd's Restart= would start it.
# TIMEOUT: 90
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/tools/crash.sh"
require_fuse
require_cmd python3
MAN=$TOP/docs/man/vofirm-fs.8
man_text=$(sed -e '/^\.\\"/d' -e 's/^\.[A-Z][A-Z]* *//' -e 's/\\(em/-/g' -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$MAN" |
	tr '\n' ' ' | tr -s ' ')
man_says() { grep -qiF -- "$1" <<<"$man_text" || fail "vofirm-fs(8) does not say: $1"; }

start_memd memd --donate 64M --slab-size 4M --lease 3s --no-auth
start_fs fs mnt --server "$URL"
SUP=$FS_PID
W=$(worker_of mnt)
"$MMAPIO" fill mnt/a $((16 << 20)) 31
flush_file mnt/a
[ "$(memd_granted "$URL")" = 4 ] || fail "memd has $(memd_granted "$URL") slabs granted, not 4"
echo 3 >/proc/sys/vm/drop_caches

# a process with the file mapped, as QEMU has guest RAM: it touches a page
# the host does not hold once told to
mkfifo go
python3 - mnt/a go >toucher.out 2>&1 <<'PY' &
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 16 << 20, mmap.MAP_SHARED)
print("mapped", flush=True)
open(sys.argv[2]).read()
print("page 1000:", m[1000 * 4096], flush=True)
PY
toucher=$!
for _ in $(seq 50); do grep -q mapped toucher.out && break; sleep 0.1; done
grep -q mapped toucher.out || fail "the mapping process did not start: $(cat toucher.out)"

step "kill -9 of the supervisor"
kill -KILL "$SUP"
wait "$SUP" 2>/dev/null || true

step "its worker says so loudly, and ends the mount"
for _ in $(seq 100); do kill -0 "$W" 2>/dev/null || break; sleep 0.1; done
kill -0 "$W" 2>/dev/null && fail "the worker $W is still running 10 s after its supervisor died"
assert_grep "the supervisor \(PID $SUP\) is gone: the mount $(realpath mnt) ends now" fs.log \
	"the worker did not say that its supervisor is gone"
if grep -q " $(realpath mnt) fuse.vofirm " /proc/mounts; then
	# still listed: it must at least refuse access, as a dead FUSE mount does
	ls mnt >ls.out 2>&1 && fail "ls of the mount worked after the supervisor died: $(cat ls.out)"
	grep -q "Transport endpoint is not connected" ls.out || fail "ls said: $(cat ls.out)"
	echo "the mount is still listed and answers ENOTCONN"
else
	[ -z "$(ls mnt)" ] || fail "mnt is not a mount any more but shows files: $(ls mnt)"
	[ ! -e mnt/a ] || fail "the file is still reachable after the supervisor died"
	echo "the mount is gone from /proc/mounts"
fi

step "a process touching its mapping gets SIGBUS"
echo go >go
rc=0
wait "$toucher" || rc=$?
cat toucher.out
[ "$rc" = $((128 + 7)) ] || fail "the mapping process exited with $rc, not by SIGBUS (135)"

step "memd keeps the slabs for the lease, then frees them"
for _ in $(seq 100); do [ "$(memd_granted "$URL")" = 0 ] && break; sleep 0.1; done
[ "$(memd_granted "$URL")" = 0 ] || fail "memd still has $(memd_granted "$URL") slabs granted"
assert_grep "disconnected; its 4 slabs are kept for 3000 ms" memd.log
assert_grep "no reconnect within the lease \(3000 ms\): freed its 4 slabs" memd.log

step "documented as the remaining single point, with what systemd does"
man_says "single point"
man_says "the supervisor"
man_says "Restart=on-failure"
grep -q '^Restart=on-failure' "$TOP/docs/examples/vofirm-fs.service" ||
	fail "the example unit does not restart the supervisor"

step "a new vofirm-fs mounts there again, empty"
fusermount3 -u mnt 2>/dev/null || true
start_fs fs2 mnt --server "$URL"
[ -z "$(ls mnt)" ] || fail "a new mount shows files: $(ls mnt)"
[ "$(fs_field mnt worker_restarts)" = 0 ] || fail "the new mount counts restarts"
stop_fs mnt "$FS_PID"
