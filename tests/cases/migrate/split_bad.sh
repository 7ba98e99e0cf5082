#!/usr/bin/env bash
# Bad bundles for the two-host split are refused with a clear error and
# change nothing: a bundle whose handoff was changed by one bit (its MAC),
# a bundle from a mount of another cluster key, an update bundle changed
# by one bit, a bundle of the wrong kind, text that is not a bundle.
# Nothing is imported, the destination QEMU (a QMP peer that logs what it
# is sent) gets no command, the source's export stays usable (the good
# bundle is then imported), memd grants the same slabs.  Then
# `migrate-export --abort`: a bundle's exports given up cut the import
# that had redeemed them off, the source keeps its data, a second abort
# is refused by name.  Host level: the guest side is split.sh's.
# What it would catch: a migrate-import that asks QEMU for anything
# before every import is through (the dst.log check), a bundle check that
# lets another kind or non-bundles through, an abort that is not done.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd python3

make_key key
make_key key2
MEMD_ARGS="--key-file key"
start_memd m1 --donate 64M --slab-size 4M --key-file key
U1=$URL
start_memd m2 --donate 64M --slab-size 4M --key-file key2
U2=$URL
start_fs a a --server "$U1" --key-file key
start_fs b b --server "$U1" --key-file key
start_fs c c --server "$U2" --key-file key2
X="python3 $TOP/tests/tools/handoff.py"
start_fake_qmp dst script

# bundle KIND HANDOFF-FILE > BUNDLE; FLIP=N changes bit 0 of byte N of the handoff
bundle() {
	python3 - "$1" "$2" <<'PY'
import base64, json, os, sys
kind, h = sys.argv[1], open(sys.argv[2]).read().strip()
flip = os.environ.get('FLIP')
if flip:
    pre, b = h.split(' ', 1)
    raw = bytearray(base64.b64decode(b))
    raw[int(flip)] ^= 1
    h = pre + ' ' + base64.b64encode(bytes(raw)).decode()
print(json.dumps({'vofirm-migrate': 1, 'kind': kind, 'devices': [
    {'id': 'mem1', 'memdev': 'mem1-mem', 'driver': 'pc-dimm', 'node': 0,
     'addr': 4294967296, 'size': 16 << 20, 'path': 'src/f', 'handoff': h}]}))
PY
}
import_b() {
	"$CTL" migrate-import --qmp "$WORK/dst.sock" --mount b --in "$1" --uri "unix:$WORK/mig.sock"
}

step "a 16 MiB file on a (src/f), exported; one on c, of another key"
mkdir -p a/src c/src
truncate -s 16M a/src/f c/src/f
"$MMAPIO" fill a/src/f $((16 << 20)) 3
"$MMAPIO" fill c/src/f $((16 << 20)) 4
flush_file a/src/f
flush_file c/src/f
$X export a/src/f >h
$X export c/src/f >hc
g0=$(granted "$U1")
FLIP=40 bundle export h >tampered.json
bundle export hc >otherkey.json
bundle export h >good.json

step "a bundle whose handoff changed by one bit: refused, nothing changes"
expect_exit 1 import_b tampered.json
echo "$OUT"
assert_out "cannot import into .*b/.vofirm: Permission denied \(see vofirm-fs's log\)"
assert_out "import failed: the destination holds nothing of it, the source keeps it all"
assert_grep "cannot import /src/f: the handoff's MAC is wrong: it was changed, or made with another key" b.log

step "a bundle from a mount of another key: refused"
expect_exit 1 import_b otherkey.json
assert_grep "cannot import /src/f: the handoff's MAC is wrong" b.log

step "a bundle of the wrong kind, and no bundle at all: refused before anything"
expect_exit 1 "$CTL" migrate-import --update good.json --mount b
assert_out "bundle good.json refused: it is of kind 'export', this wants 'update' .*nothing was changed"
echo '{"devices": []}' >notone.json
expect_exit 1 import_b notone.json
assert_out "bundle notone.json refused: not a vofirm migration bundle"
echo 'vofirm-handoff-1 AAAA' >raw.txt
expect_exit 1 import_b raw.txt
assert_out "bundle raw.txt refused: not a JSON object"

step "nothing changed: no import, no QMP command, the export still pending and usable"
[ ! -e b/src/f ] || fail "b/src/f is there after refused imports"
[ "$(granted "$U1")" = "$g0" ] || fail "memd grants another count"
if grep -v qmp_capabilities "$WORK/dst.log" | grep -q execute; then
	cat "$WORK/dst.log"
	fail "the destination QEMU was sent commands for a refused bundle"
fi
getfattr -n user.vofirm.export a/src/f >/dev/null || fail "the export of a/src/f is gone"
$X import b src/f <h
cmp a/src/f b/src/f || fail "b/src/f differs from a/src/f"

step "an update bundle changed by one bit: refused, the import unchanged"
$X export a/src/f >h2
FLIP=41 bundle update h2 >upd-bad.json
expect_exit 1 "$CTL" migrate-import --update upd-bad.json --mount b
assert_out "cannot update the import .*b/src/f: Permission denied"
assert_grep "file /src/f: update of the import refused: the handoff's MAC is wrong" b.log
[ "$($X state b/src/f)" = pending ] || fail "b/src/f is no longer a pending import"
bundle update h2 >upd.json
"$CTL" migrate-import --update upd.json --mount b
$X commit-export a/src/f
$X commit-import b/src/f
"$MMAPIO" verify b/src/f $((16 << 20)) 3

step "migrate-export --abort: a bundle's exports given up, the import cut off, the file the source's"
$X export b/src/f >h3
bundle export h3 >given-up.json
$X import a src/g <h3
"$MMAPIO" verify a/src/g $((16 << 20)) 3
expect_exit 0 "$CTL" migrate-export --abort --in given-up.json --mount b
assert_out "export of .*b/src/f aborted: it stays the source's"
echo 3 >/proc/sys/vm/drop_caches
expect_exit 1 head -c 4096 a/src/g
$X abort-import a/src/g
[ ! -e a/src/g ] || fail "a/src/g is still there after the abort"
"$MMAPIO" verify b/src/f $((16 << 20)) 3
expect_exit 1 "$CTL" migrate-export --abort --in given-up.json --mount b
assert_out "cannot abort the export of .*b/src/f"
assert_out "1 of 1 export not aborted"
expect_exit 2 "$CTL" migrate-export --abort --in given-up.json --mount b --qmp "$WORK/dst.sock"
assert_out "migrate-export --abort needs --in FILE --mount DIR \(and no --qmp\)"
