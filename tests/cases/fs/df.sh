#!/usr/bin/env bash
# df shows the pool: a size reserves, unlink frees (when the last handle
# closes), punching a hole keeps the capacity until the file shrinks, and a
# size the pool cannot cover fails with ENOSPC and changes nothing.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

start_memd memd --donate 256M --slab-size 4M --no-auth
start_fs fs mnt --server "$URL"
used() { df --output=used -B1 mnt | tail -1 | tr -d ' '; }
avail() { df --output=avail -B1 mnt | tail -1 | tr -d ' '; }

[ "$(df --output=size -B1 mnt | tail -1 | tr -d ' ')" = $((256 << 20)) ] || fail "df size is not the pool's"
[ "$(used)" = 0 ] || fail "a fresh pool is in use"

step "ftruncate reserves"
truncate -s 100M mnt/a
[ "$(used)" = $((100 << 20)) ] || fail "used is $(used) after a 100M file"
truncate -s 101M mnt/a
[ "$(used)" = $((104 << 20)) ] || fail "used is $(used): slabs are 4M"

step "a size the pool cannot cover: ENOSPC, nothing changes"
before=$(used)
truncate -s 1G mnt/b 2>err && fail "a 1G file on a 256M pool"
grep -q "No space left on device" err || fail "truncate said: $(cat err)"
[ "$(used)" = "$before" ] || fail "the refused truncate changed df"
[ "$(stat -c %s mnt/b)" = 0 ] || fail "the refused truncate changed the size"
assert_grep "file /b: growing to 1 GiB refused: needs 256 slab\(s\) \(1 GiB\), the servers that are up have 38 free \(152 MiB\): short by 218 \(872 MiB\)" fs.log
truncate -s 300M mnt/a 2>/dev/null && fail "growing past the pool succeeded"
[ "$(stat -c %s mnt/a)" = $((101 << 20)) ] || fail "a refused grow changed the size"
fallocate -l 1G mnt/b 2>/dev/null && fail "fallocate past the pool succeeded"
[ "$(used)" = "$before" ] || fail "the refused fallocate changed df"

step "fallocate reserves, punching a hole keeps the capacity"
fallocate -l 40M mnt/b
[ "$(used)" = $((144 << 20)) ] || fail "used is $(used) after fallocate 40M"
"$MMAPIO" fill mnt/b $((40 << 20)) 5
fallocate -p -o 8M -l 16M mnt/b
[ "$(used)" = $((144 << 20)) ] || fail "used is $(used) after punching 16M"
[ "$(stat -c %s mnt/b)" = $((40 << 20)) ] || fail "punch changed the size"
echo 3 >/proc/sys/vm/drop_caches
dd if=mnt/b bs=1M skip=8 count=16 status=none | cmp - <(head -c 16M /dev/zero) || fail "the hole is not zeros"
# a partial-page punch zeroes just that range
fallocate -p -o 100 -l 1000 mnt/b
dd if=mnt/b bs=1 skip=100 count=1000 status=none | cmp - <(head -c 1000 /dev/zero) || fail "partial punch"
[ "$(dd if=mnt/b bs=1 skip=1100 count=8 status=none | od -An -tx1 | tr -d ' ')" != 0000000000000000 ] || fail "the punch went too far"
# writing into the hole again uses the slabs it kept
"$MMAPIO" fill mnt/b $((40 << 20)) 6
"$MMAPIO" verify mnt/b $((40 << 20)) 6
[ "$(used)" = $((144 << 20)) ] || fail "used is $(used) after refilling the hole"

step "a file punched block by block (as virtio-mem unplugs) gives its capacity back when it shrinks"
fallocate -l 16M mnt/v
"$MMAPIO" fill mnt/v $((16 << 20)) 8
before=$(used)
for off in 0 2 4 6 8 10 12 14; do fallocate -p -o ${off}M -l 2M mnt/v; done
[ "$(used)" = "$before" ] || fail "used is $(used) after punching 16M in 2M blocks: the punch freed capacity"
dd if=mnt/v bs=1M count=16 status=none | cmp - <(head -c 16M /dev/zero) || fail "punched blocks are not zeros"
truncate -s 4M mnt/v
[ "$(used)" = $((before - (12 << 20))) ] || fail "used is $(used) after shrinking the punched file to 4M"
truncate -s 16M mnt/v
[ "$(used)" = "$before" ] || fail "used is $(used) after growing it back to 16M"
"$MMAPIO" zero mnt/v $((16 << 20)) >/dev/null || fail "the punched, shrunk and regrown file is not zeros"
rm mnt/v
for _ in $(seq 20); do [ "$(used)" = $((144 << 20)) ] && break; sleep 0.1; done

step "unlink frees when the last handle closes"
exec 7<mnt/a
rm mnt/a
[ "$(used)" = $((144 << 20)) ] || fail "unlink of an open file freed it early"
exec 7<&-
for _ in $(seq 20); do [ "$(used)" = $((40 << 20)) ] && break; sleep 0.1; done
[ "$(used)" = $((40 << 20)) ] || fail "used is $(used) after the last close"
rm mnt/b
for _ in $(seq 20); do [ "$(used)" = 0 ] && break; sleep 0.1; done
[ "$(used)" = 0 ] || fail "used is $(used) with no files"
[ "$(stat_of "$URL" slabs_granted)" = 0 ] || fail "the server still has slabs granted"
stop_fs mnt "$FS_PID"
