#!/usr/bin/env bash
# A file handed from one mount to another without moving its data: two
# memds, two copies of every extent, two vofirm-fs mounts of them.  The
# source exports the file (one grant per server), the destination imports
# it as a new file on the same slabs and reads the source's data; a page
# the source writes after the export reads as zeros on the destination
# until the source's final page bits come ("update"); the import survives
# a worker restart; commit: the source file is gone, its mount holds
# nothing, the memds count the slabs once, for the destination.  Then an
# export aborted (the source keeps everything, the destination can no
# longer reach it), and an import aborted.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd python3

make_key key
MEMD_ARGS="--key-file key"
start_memd m1 --donate 64M --slab-size 4M --key-file key
U1=$URL
start_memd m2 --donate 64M --slab-size 4M --key-file key
U2=$URL
FSARGS=(--server "$U1" --server "$U2" --key-file key --replicas 2)
start_fs a a "${FSARGS[@]}"
A_PID=$FS_PID
start_fs b b "${FSARGS[@]}"
B_PID=$FS_PID

X="python3 $TOP/tests/tools/handoff.py"
held() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]+"/.vofirm/stats.json")); print(sum(s["held"] for s in d["servers"]) >> 22)' "$1"; }

step "a 24 MiB file on mount a: 16 MiB written, the rest never"
truncate -s 24M a/f
"$MMAPIO" fill a/f $((16 << 20)) 5
flush_file a/f
g0=$(( $(granted "$U1") + $(granted "$U2") ))
[ "$g0" = 12 ] || fail "the memds grant $g0 slabs for 6 extents in 2 copies, not 12"

step "export, import as b/g: the same data, through b's own cache"
$X export a/f >h1
$X import b g <h1
cmp <(head -c $((16 << 20)) a/f) <(head -c $((16 << 20)) b/g) || fail "b/g differs from a/f"
cmp <(tail -c $((8 << 20)) b/g) <(head -c $((8 << 20)) /dev/zero) || fail "b/g's unwritten part is not zeros"
[ "$(( $(granted "$U1") + $(granted "$U2") ))" = 12 ] || fail "the import took slabs"
[ "$($X state b/g)" = pending ] || fail "b/g is not a pending import"

step "a page written on a after the export: zeros on b until the update"
printf 'late page' | dd of=a/f bs=1 seek=$((20 << 20)) conv=notrunc status=none
flush_file a/f
got=$(dd if=b/g bs=1 skip=$((20 << 20)) count=9 status=none | tr -d '\0')
[ -z "$got" ] || fail "b/g shows the late page before the update: '$got'"
$X export a/f >h2
$X update b/g <h2
echo 3 >/proc/sys/vm/drop_caches
got=$(dd if=b/g bs=1 skip=$((20 << 20)) count=9 status=none)
[ "$got" = "late page" ] || fail "b/g after the update reads '$got'"

step "b's worker killed: the new worker carries the pending import on"
w=$(pgrep -P "$B_PID" -f vofirm-fs | head -1)
[ -n "$w" ] || fail "no worker of b"
kill -KILL "$w"
for _ in $(seq 100); do
	[ "$($X state b/g 2>/dev/null)" = pending ] && break
	sleep 0.2
done
[ "$($X state b/g)" = pending ] || fail "the import is not pending after the worker restart"
cmp <(head -c $((16 << 20)) a/f) <(head -c $((16 << 20)) b/g) || fail "b/g differs after the restart"

step "commit: a/f is gone, mount a holds nothing, the memds count each slab once"
$X commit-export a/f
[ ! -e a/f ] || fail "a/f is still there after the commit"
$X commit-import b/g
[ "$($X state b/g)" = none ] || fail "b/g is still pending"
[ "$(held a)" = 0 ] || fail "mount a still holds $(held a) slabs"
[ "$(held b)" = 12 ] || fail "mount b holds $(held b) slabs, not 12"
[ "$(( $(granted "$U1") + $(granted "$U2") ))" = 12 ] || fail "the memds grant another count"
"$MMAPIO" verify b/g $((16 << 20)) 5

step "the handoff again (replayed): refused"
expect_exit 1 $X import b g2 <h1
assert_grep "cannot import /g2: server .* refused the grant: no such grant" b.log

step "the handoff changed by a byte (forged): refused by its MAC"
python3 - h2 <<'PY'
import base64, sys
p = sys.argv[1]
pre, b = open(p).read().split(' ', 1)
raw = bytearray(base64.b64decode(b))
raw[40] ^= 1
open(p + '.forged', 'w').write(pre + ' ' + base64.b64encode(bytes(raw)).decode())
PY
expect_exit 1 $X import b g3 <h2.forged
assert_grep "cannot import /g3: the handoff's MAC is wrong" b.log

step "an export aborted: the source keeps it, the destination loses access"
$X export b/g >h3
$X import a back <h3
$X abort-export b/g
"$MMAPIO" verify b/g $((16 << 20)) 5
echo 3 >/proc/sys/vm/drop_caches
expect_exit 1 head -c 4096 a/back
$X abort-import a/back
[ ! -e a/back ] || fail "a/back is still there after the abort"
[ "$(held a)" = 0 ] || fail "mount a holds $(held a) slabs after the abort"

step "an import aborted: the file leaves the destination, the source keeps it"
$X export b/g >h4
$X import a back2 <h4
$X abort-import a/back2
[ ! -e a/back2 ] || fail "a/back2 is still there after the abort"
$X abort-export b/g
"$MMAPIO" verify b/g $((16 << 20)) 5
[ "$(( $(granted "$U1") + $(granted "$U2") ))" = 12 ] || fail "slabs leaked or lost"

stop_fs a "$A_PID"
stop_fs b "$B_PID"
