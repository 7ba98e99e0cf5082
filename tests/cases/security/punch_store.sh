#!/usr/bin/env bash
# A store through a shared mapping into a punched range, while the pool is
# full, is never lost: punching keeps the file's slabs (the range reads as
# zeros), so the later write-back needs no memory the pool may no longer
# have.  A write(2) there works too.  Capacity goes back when the file
# shrinks or goes away.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

start_memd memd --donate 64M --slab-size 4M --no-auth
start_fs fs mnt --server "$URL"
used() { df --output=used -B1 mnt | tail -1 | tr -d ' '; }
avail() { df --output=avail -B1 mnt | tail -1 | tr -d ' '; }

step "a 32M file written through a shared mapping"
truncate -s 32M mnt/a
"$MMAPIO" fill mnt/a $((32 << 20)) 1
flush_file mnt/a

step "punch [8M, 16M) in 2M blocks, as virtio-mem unplugs: zeros"
for off in 8 10 12 14; do fallocate -p -o ${off}M -l 2M mnt/a; done
used_after_punch=$(used)
[ "$(stat -c %s mnt/a)" = $((32 << 20)) ] || fail "the punch changed the size"
echo 3 >/proc/sys/vm/drop_caches
dd if=mnt/a bs=1M skip=8 count=8 status=none | cmp - <(head -c 8M /dev/zero) || fail "the hole is not zeros"

step "another file takes the rest of the pool"
truncate -s "$(avail)" mnt/b
[ "$(avail)" = 0 ] || fail "the pool still has $(avail) free"
truncate -s +4M mnt/b 2>/dev/null && fail "the pool is not full"

step "stores through a shared mapping into the punched range, written back with the pool full"
rc=0
"$MMAPIO" fill mnt/a $((32 << 20)) 2 >fill.out || rc=$?
cat fill.out
flushed=ok
flush_file mnt/a 2>flush.err || flushed="failed: $(tail -1 flush.err)"
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/a $((32 << 20)) 2 >verify.out || { cat verify.out; fail "the stores into the punched range read back wrong: they were lost"; }
[ "$rc" = 0 ] || fail "the stores through the mapping failed (exit $rc)"
[ "$flushed" = ok ] || fail "fsync after the stores $flushed"
if grep -E 'write.*failed|lost' fs.log; then fail "vofirm-fs logged a failed or lost write"; fi
# what made it safe: the punch kept the file's capacity
[ "$used_after_punch" = $((32 << 20)) ] || fail "used was $used_after_punch after the punch: the punched capacity went back"

step "write(2) into a punched range with the pool full"
fallocate -p -o 20M -l 4M mnt/a
head -c 4M /dev/urandom >data
dd if=data of=mnt/a bs=1M seek=20 conv=notrunc status=none || fail "write(2) into the punched range failed"
flush_file mnt/a
echo 3 >/proc/sys/vm/drop_caches
dd if=mnt/a bs=1M skip=20 count=4 status=none | cmp - data || fail "the written range reads back wrong"

step "capacity goes back when the file shrinks, and when it goes away"
before=$(used)
truncate -s 8M mnt/a
[ "$(used)" = $((before - (24 << 20))) ] || fail "used is $(used) after shrinking by 24M from $before"
"$MMAPIO" verify mnt/a $((8 << 20)) 2 >/dev/null || fail "the shrink damaged what stays"
rm mnt/a mnt/b
for _ in $(seq 20); do [ "$(used)" = 0 ] && break; sleep 0.1; done
[ "$(used)" = 0 ] || fail "used is $(used) with no files"
[ "$(stat_of "$URL" slabs_granted)" = 0 ] || fail "the server still has slabs granted"
stop_fs mnt "$FS_PID"
