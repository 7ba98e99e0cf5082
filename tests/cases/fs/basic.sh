#!/usr/bin/env bash
# The file semantics QEMU and an operator need, on a real mount against a
# real vofirm-memd: create, ftruncate, mmap MAP_SHARED write and verify,
# write(2) at odd offsets, stat, readdir, rename, subdirectories, unlink,
# fsync, and the control files.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

make_key key
start_memd memd --donate 256M --slab-size 4M --key-file key
start_fs fs mnt --server "$URL" --key-file key

step "mkdir, create, ftruncate, mmap MAP_SHARED: pattern over the whole file, verified"
mkdir mnt/vm1
"$MMAPIO" fill mnt/vm1/ram 33554432 7
"$MMAPIO" verify mnt/vm1/ram 33554432 7
[ "$(stat -c %s mnt/vm1/ram)" = 33554432 ] || fail "size is not 32 MiB"
# st_blocks counts the reserved remote memory
[ "$(stat -c %b mnt/vm1/ram)" = $((32 * 1024 * 2)) ] || fail "st_blocks is $(stat -c %b mnt/vm1/ram)"

step "the data is on the server: drop the page cache and read it back"
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/vm1/ram 33554432 7
[ "$(stat_of "$URL" bytes_read --key-file key)" -ge 33554432 ] || fail "the server did not serve the re-read"

step "write(2) at odd offsets and sizes, read back byte for byte"
head -c 3000000 /dev/urandom >src
dd if=src of=mnt/odd bs=777 seek=13 conv=notrunc status=none
dd if=src bs=777 count=1 status=none >first
head -c $((13 * 777)) /dev/zero >expect
cat src >>expect
cmp expect mnt/odd || fail "unaligned writes did not read back"
echo 3 >/proc/sys/vm/drop_caches
cmp expect mnt/odd || fail "unaligned writes did not read back from the server"
printf 'abc' | dd of=mnt/odd bs=1 seek=5000 conv=notrunc status=none
printf 'abc' | dd of=expect bs=1 seek=5000 conv=notrunc status=none
echo 3 >/proc/sys/vm/drop_caches
cmp expect mnt/odd || fail "a 3-byte overwrite inside a written page was lost"

step "shrink and grow: what was cut reads as zeros"
truncate -s 10000 mnt/odd
truncate -s 20000 mnt/odd
head -c 10000 expect >e2
head -c 10000 /dev/zero >>e2
echo 3 >/proc/sys/vm/drop_caches
cmp e2 mnt/odd || fail "bytes past a shrink came back after growing"

step "rename, readdir, subdirectories, unlink, rmdir"
mv mnt/vm1/ram mnt/vm1/ram2
ls mnt/vm1 | grep -qx ram2 || fail "rename did not show in readdir"
[ ! -e mnt/vm1/ram ] || fail "the old name still exists"
"$MMAPIO" verify mnt/vm1/ram2 33554432 7
mkdir -p mnt/a/b
mv mnt/odd mnt/a/b/odd
cmp e2 mnt/a/b/odd
rmdir mnt/a 2>err && fail "rmdir of a non-empty directory succeeded"
grep -q "not empty" err || fail "rmdir said: $(cat err)"
mv mnt/a mnt/a/b/c 2>err && fail "moved a directory into itself"
rm mnt/a/b/odd
rmdir mnt/a/b mnt/a
ls -a mnt | sort | tr '\n' ' ' | grep -qx '. .. .vofirm vm1 ' || fail "root lists: $(ls -a mnt)"

step "fsync and the control files"
python3 -c 'import os; fd = os.open("mnt/vm1/ram2", os.O_RDWR); os.write(fd, b"x" * 4096); os.fsync(fd); os.close(fd)'
python3 -c 'import json,sys; d = json.load(open("mnt/.vofirm/stats.json")); assert d["files"][0]["path"] == "/vm1/ram2", d; assert d["servers"][0]["state"] == "up"'
grep -q '^vofirm_server_up{server="tcp://127.0.0.1:[0-9]*"} 1$' mnt/.vofirm/metrics || fail "metrics: no server_up"
echo x >mnt/.vofirm/stats.json 2>err && fail "writing a control file succeeded"
touch mnt/.vofirm/new 2>err && fail "creating in the control directory succeeded"

step "a file whose memory went back cannot be reopened through an old handle"
truncate -s 8M mnt/gone
python3 - <<'PY' || fail "reopening a freed file"
import errno, os
fd = os.open("mnt/gone", os.O_PATH)
os.unlink("mnt/gone")
try:
    os.open("/proc/self/fd/%d" % fd, os.O_RDWR)
    raise SystemExit("reopened a file whose slabs were freed")
except OSError as e:
    assert e.errno == errno.ENOENT, e
PY
kill -0 "$FS_PID" || fail "vofirm-fs died"

step "unmount: every slab goes back to the server"
[ "$(stat_of "$URL" slabs_granted --key-file key)" -gt 0 ] || fail "nothing granted while mounted"
stop_fs mnt "$FS_PID"
[ "$(stat_of "$URL" slabs_granted --key-file key)" = 0 ] || fail "slabs still granted after the unmount"
assert_grep 'giving every file.s memory back' fs.log
