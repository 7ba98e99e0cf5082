#!/usr/bin/env bash
# vofirm-fs killed (kill -9, as a crash or the OOM killer would): what
# vofirm-fs(8) says happens is what happens.  The FUSE connection is
# aborted, a process touching a mapped page the host does not hold gets
# SIGBUS (a guest's QEMU dies), the mount answers "Transport endpoint is
# not connected" until fusermount3 -u, every file is gone, and the servers
# free the memory when the lease runs out.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
require_cmd python3
MAN=$TOP/docs/man/vofirm-fs.8
# the man page as text, one line, without roff's escapes
man_text=$(sed -e '/^\.\\"/d' -e 's/^\.[A-Z][A-Z]* *//' -e 's/\\(em/-/g' -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$MAN" |
	tr '\n' ' ' | tr -s ' ')
man_says() { grep -qiF -- "$1" <<<"$man_text" || fail "vofirm-fs(8) does not say: $1"; }

start_memd memd --donate 64M --slab-size 4M --lease 2s --no-auth
start_fs fs mnt --server "$URL"
mkdir mnt/vm1
head -c 16M /dev/urandom >data
truncate -s 16M mnt/vm1/rm1
dd if=data of=mnt/vm1/rm1 bs=1M conv=notrunc status=none
flush_file mnt/vm1/rm1
[ "$(stat_of "$URL" slabs_granted)" = 4 ] || fail "the server has $(stat_of "$URL" slabs_granted) slabs granted, not 4"
echo 3 >/proc/sys/vm/drop_caches

# a process with the file mapped, as QEMU has guest RAM: it touches a page
# once told to (the page is not in the host's page cache)
mkfifo go
python3 - mnt/vm1/rm1 go >toucher.out 2>&1 <<'PY' &
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

step "kill -9 vofirm-fs"
kill -KILL "$FS_PID"
wait "$FS_PID" 2>/dev/null || true

step "a process touching its mapping gets SIGBUS"
echo go >go
rc=0
wait "$toucher" || rc=$?
cat toucher.out
[ "$rc" = $((128 + 7)) ] || fail "the mapping process exited with $rc, not by SIGBUS (135)"
man_says "SIGBUS"

step "the mount answers 'Transport endpoint is not connected'"
ls mnt >ls.out 2>&1 && fail "ls of the dead mount worked: $(cat ls.out)"
cat ls.out
grep -q "Transport endpoint is not connected" ls.out || fail "ls said: $(cat ls.out)"
df mnt >df.out 2>&1 && fail "df of the dead mount worked: $(cat df.out)"
grep -q "Transport endpoint is not connected" df.out || fail "df said: $(cat df.out)"
grep -q " $(realpath mnt) fuse.vofirm " /proc/mounts || fail "the dead mount is not in /proc/mounts"
man_says "Transport endpoint is not connected"

step "fusermount3 -u cleans up; a new mount starts empty"
fusermount3 -u mnt || fail "fusermount3 -u of the dead mount failed"
grep -q " $(realpath mnt) fuse.vofirm " /proc/mounts && fail "the dead mount is still mounted"
man_says "fusermount3 -u"
start_fs fs2 mnt --server "$URL"
[ -z "$(ls mnt)" ] || fail "a new mount shows files: $(ls mnt)"
man_says "every file is gone"

step "the server frees the dead mount's memory when its lease runs out"
for _ in $(seq 100); do [ "$(stat_of "$URL" slabs_granted)" = 0 ] && break; sleep 0.1; done
[ "$(stat_of "$URL" slabs_granted)" = 0 ] || fail "the server still has $(stat_of "$URL" slabs_granted) slabs granted"
assert_grep "no reconnect within the lease \(2000 ms\): freed its 4 slabs" memd.log
man_says "lease"
stop_fs mnt "$FS_PID"
