#!/usr/bin/env bash
# migrate and migrate-import with --json print one JSON object whatever
# happens: a failure too, with "error" (the first error: what failed and
# why) and "errors" (all of them), and a non-zero exit.  Bad command lines
# (exit 2), a QMP socket nobody listens on, a bundle that is not there, a
# VM whose memory is not on the mount, a destination QEMU that refuses
# (after the import: the command's own object, committed false, with the
# error).  No guest: fake QMP peers; the export and the import are real,
# on two mounts of one memory server.
# TIMEOUT: 90
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd python3

# failed RC 'ERROR REGEX' ARGS...: exit RC, one JSON object on stdout whose
# error matches; its other members in out.json
failed() {
	local want=$1 msg=$2 rc=0; shift 2
	"$CTL" "$@" >out.json 2>err.txt || rc=$?
	cat err.txt out.json
	[ $rc = "$want" ] || fail "exit $rc, not $want, from: vofirmctl $*"
	[ "$(wc -l <out.json)" = 1 ] || fail "vofirmctl $*: not one line on stdout"
	python3 -c 'import json, re, sys
o = json.load(open("out.json"))
assert isinstance(o, dict), o
assert re.search(sys.argv[1], o["error"]), o
assert o["errors"] and o["errors"][0] == o["error"], o' "$msg" ||
		fail "vofirmctl $*: the JSON object has no error matching '$msg'"
}
jfield() {
	python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$1" "$2"
}

make_key key
MEMD_ARGS="--key-file key"
start_memd m1 --donate 64M --slab-size 4M --key-file key
start_fs a mnt --server "$URL" --key-file key
A_PID=$FS_PID
start_fs b mnt2 --server "$URL" --key-file key
B_PID=$FS_PID
mkdir -p mnt/vm1 elsewhere
truncate -s 16M mnt/vm1/mem1 elsewhere/mem1
"$MMAPIO" fill mnt/vm1/mem1 $((16 << 20)) 3
dimm() { # dimm FILE: the replies of a VM with one pc-dimm backed by FILE
	python3 -c 'import json, sys; print(json.dumps(dict(a.split("=", 1) for a in sys.argv[1:])))' \
		'query-memory-devices=[{"type": "dimm", "data": {"id": "mem1", "memdev": "/objects/mem1-mem", "size": 16777216, "addr": 4294967296, "node": 0, "slot": 0, "hotplugged": true, "hotpluggable": true}}]' \
		"qom-get /objects/mem1-mem mem-path=\"$(realpath "$1")\""
}
dimm mnt/vm1/mem1 >src.json
dimm elsewhere/mem1 >other.json
start_fake_qmp src script src.json
start_fake_qmp other script other.json
start_fake_qmp dst script
NOSOCK=$WORK/nobody.sock

step "migrate: bad command lines"
failed 2 "migrate needs --qmp SOCKET --to-qmp SOCKET" migrate --qmp "$WORK/src.sock" --mount mnt --json
[ "$(jfield out.json command)" = '"migrate"' ] || fail "the object does not name migrate"
failed 2 "max-bandwidth '0'" migrate --json --qmp "$WORK/src.sock" --to-qmp "$WORK/dst.sock" --mount mnt --to-mount mnt2 --max-bandwidth 0
failed 2 "migrate \(the source of the two-host split\) needs" migrate --qmp "$WORK/src.sock" --mount mnt --handoff b.json --json

step "migrate: a QMP socket nobody listens on"
failed 1 "cannot connect to QMP socket $NOSOCK" migrate --qmp "$NOSOCK" --to-qmp "$WORK/dst.sock" --mount mnt --to-mount mnt2 --json
failed 1 "cannot connect to QMP socket $NOSOCK" migrate --qmp "$WORK/src.sock" --to-qmp "$NOSOCK" --mount mnt --to-mount mnt2 --json

step "migrate: a VM whose memory is not on the mount"
failed 1 "memory device mem1: its backend .* is not a file on mnt" migrate --qmp "$WORK/other.sock" --to-qmp "$WORK/dst.sock" --mount mnt --to-mount mnt2 --json
grep -q '"object-add"' "$WORK/dst.log" && fail "the destination was changed"

step "migrate --handoff: a bundle that is not there"
failed 1 "cannot read the bundle missing.json" migrate --qmp "$WORK/src.sock" --mount mnt --uri unix:"$WORK/m.sock" --handoff missing.json --at-pause true --json

step "migrate-import: a bundle that is not there, an update that is not there"
failed 1 "cannot read the bundle missing.json" migrate-import --qmp "$WORK/dst.sock" --mount mnt2 --in missing.json --uri unix:"$WORK/m.sock" --json
[ "$(jfield out.json command)" = '"migrate-import"' ] || fail "the object does not name migrate-import"
failed 1 "cannot read the bundle missing.update" migrate-import --update missing.update --mount mnt2 --json
failed 2 "migrate-import needs --qmp SOCKET --mount DIR --in FILE --uri URI" migrate-import --mount mnt2 --in missing.json --json

step "migrate-import: a real bundle, a QMP socket nobody listens on"
"$CTL" migrate-export --qmp "$WORK/src.sock" --mount mnt --out bundle.json
failed 1 "cannot connect to QMP socket $NOSOCK" migrate-import --qmp "$NOSOCK" --mount mnt2 --in bundle.json --uri unix:"$WORK/m.sock" --json
[ ! -e mnt2/vm1/mem1 ] || fail "the import left mnt2/vm1/mem1"

step "migrate-import: the destination QEMU refuses: the import's own object, with the error"
failed 1 "migrate-set-capabilities" migrate-import --qmp "$WORK/dst.sock" --mount mnt2 --in bundle.json --uri unix:"$WORK/m.sock" --json
[ "$(jfield out.json committed)" = false ] || fail "--json: committed is not false"
[ "$(jfield out.json devices)" = 1 ] || fail "--json: devices is not 1"
[ ! -e mnt2/vm1/mem1 ] || fail "the failed import left mnt2/vm1/mem1"
"$CTL" migrate-export --abort --in bundle.json --mount mnt
"$MMAPIO" verify mnt/vm1/mem1 $((16 << 20)) 3

step "without --json: nothing on stdout"
"$CTL" migrate --qmp "$NOSOCK" --to-qmp "$WORK/dst.sock" --mount mnt --to-mount mnt2 >plain.out 2>/dev/null && fail "migrate succeeded"
[ ! -s plain.out ] || fail "stdout is not empty: $(cat plain.out)"
stop_fs mnt2 "$B_PID"
stop_fs mnt "$A_PID"
