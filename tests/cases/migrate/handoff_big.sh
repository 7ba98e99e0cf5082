#!/usr/bin/env bash
# A handoff longer than one extended attribute (64 KiB): a 2 GiB file
# whose every 16th page is written (each extent's written bits take 128
# bytes whether as run lengths or as a bitmap: about 88 KiB of text).  The single attribute
# refuses it with E2BIG and says to read pieces; read in pieces
# (user.vofirm.export.N) and sent in pieces (user.vofirm.import.N) it
# round-trips: the destination reads the source's data, the unwritten
# pages as zeros; the update goes in pieces too; the commit hands it over.
# Proved to fail: against the vofirm-fs before the pieces (main at
# 29d57c6) it fails: the long handoff cannot be read there (E2BIG whole, no pieces).
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd python3

make_key key
MEMD_ARGS="--key-file key"
start_memd m1 --donate 2200M --slab-size 4M --key-file key
start_fs a a --server "$URL" --key-file key
A_PID=$FS_PID
start_fs b b --server "$URL" --key-file key
B_PID=$FS_PID
X="python3 $TOP/tests/tools/handoff.py"

step "a 2 GiB file on a, every 16th page written (a pattern per page)"
truncate -s 2G a/f
python3 - a/f <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for pg in range(0, 1 << 19, 16):
    os.pwrite(fd, (b'%08d' % pg) * 512, pg * 4096)
os.fsync(fd)
os.close(fd)
PY
flush_file a/f

step "the single attribute refuses the long handoff"
expect_exit 1 $X export-whole a/f
assert_out "Argument list too long"
assert_grep "file /f: no handoff: its handoff takes [0-9]+ bytes, more than an extended attribute holds \(65536\): read it in pieces" a.log

step "read in pieces, imported in pieces as b/g"
$X export a/f >h1
len=$(wc -c <h1)
echo "handoff: $len bytes"
[ "$len" -gt 65536 ] || fail "the handoff takes $len bytes: not more than one attribute, the test proves nothing"
$X import b g <h1
cmp a/f b/g || fail "b/g differs from a/f"
python3 - b/g <<'PY' || fail "b/g's unwritten pages do not read as zeros"
import sys
with open(sys.argv[1], 'rb') as f:
    for pg in range(1, 1 << 19, 997):
        if pg % 16 == 0:
            continue
        f.seek(pg * 4096)
        assert f.read(4096) == bytes(4096), pg
PY

step "a late page on a, the update in pieces: b sees it"
printf 'late page' | dd of=a/f bs=1 seek=$((4096 * 100)) conv=notrunc status=none
flush_file a/f
$X export a/f >h2
$X update b/g <h2
echo 3 >/proc/sys/vm/drop_caches
got=$(dd if=b/g bs=1 skip=$((4096 * 100)) count=9 status=none)
[ "$got" = "late page" ] || fail "b/g after the update reads '$got'"

step "pieces out of order are refused"
python3 - b <<'PY' || fail "a piece 1 without a piece 0 was taken"
import errno, os, sys
try:
    os.setxattr(sys.argv[1] + '/.vofirm', 'user.vofirm.import.1', b'x' * 100)
except OSError as e:
    assert e.errno == errno.EINVAL, e
else:
    sys.exit(1)
PY
assert_grep "user.vofirm.import.1 asked by pid [0-9]+ refused: piece 1 out of order" b.log

step "commit: b/g is b's, a holds nothing"
$X commit-export a/f
$X commit-import b/g
[ ! -e a/f ] || fail "a/f is still there"
cmp <(head -c $((4096 * 100)) b/g) <(python3 -c '
import sys
out = sys.stdout.buffer
for pg in range(100):
    out.write((b"%08d" % pg) * 512 if pg % 16 == 0 else bytes(4096))') || fail "b/g's data changed at the commit"
stop_fs a "$A_PID"
stop_fs b "$B_PID"
