#!/usr/bin/env bash
# migrate-export, migrate-export --abort and migrate-import --update take
# --json like their siblings: one object on stdout with what the text says
# (progress and errors stay on stderr); migrate-export --json with --out -
# (the bundle itself on stdout) is a bad command line.  No guest: a fake
# QMP peer describes a VM with one pc-dimm whose backend is a file on a
# real mount; the export and its abort are real.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd python3

make_key key
MEMD_ARGS="--key-file key"
start_memd m1 --donate 64M --slab-size 4M --key-file key
start_fs a mnt --server "$URL" --key-file key
mkdir -p mnt/vm1
truncate -s 16M mnt/vm1/mem1
"$MMAPIO" fill mnt/vm1/mem1 $((16 << 20)) 3
python3 -c 'import json, sys; print(json.dumps(dict(a.split("=", 1) for a in sys.argv[1:])))' \
	'query-memory-devices=[{"type": "dimm", "data": {"id": "mem1", "memdev": "/objects/mem1-mem", "size": 16777216, "addr": 4294967296, "node": 0, "slot": 0, "hotplugged": true, "hotpluggable": true}}]' \
	"qom-get /objects/mem1-mem mem-path=\"$(realpath mnt/vm1/mem1)\"" >replies.json
start_fake_qmp src script replies.json
# jfield FILE KEY: KEY of the one JSON object in FILE, printed as JSON
jfield() {
	python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$1" "$2"
}
# run WANT_RC CMD...: stdout in out.json (one line), stderr in err
run() {
	local want=$1 rc=0; shift
	"$@" >out.json 2>err || rc=$?
	cat err out.json
	[ $rc = "$want" ] || fail "exit $rc, not $want, from: $*"
	[ "$(wc -l <out.json)" = 1 ] || fail "not one line on stdout from: $*"
}

step "migrate-export --json --out -: refused, nothing exported"
expect_exit 2 "$CTL" migrate-export --qmp "$WORK/src.sock" --mount mnt --out - --json
assert_out "migrate-export --json needs --out FILE: with --out - the bundle itself is the standard output"
grep -q "query-memory-devices" "$WORK/src.log" && fail "QEMU was asked before the command line was checked"

step "migrate-export --json: the bundle in its file, one object on stdout"
run 0 "$CTL" migrate-export --qmp "$WORK/src.sock" --mount mnt --out bundle.json --json
assert_grep "1 device exported into bundle.json" err
[ "$(jfield out.json bundle)" = '"bundle.json"' ] || fail "--json: bundle is not bundle.json"
[ "$(jfield out.json devices)" = 1 ] || fail "--json: devices is not 1"
[ "$(jfield out.json exported)" = true ] || fail "--json: exported is not true"
[ "$(jfield bundle.json kind)" = '"export"' ] || fail "bundle.json is not an export bundle"
[ "$(stat -c %a bundle.json)" = 600 ] || fail "bundle.json has mode $(stat -c %a bundle.json)"

step "migrate-export --abort --json: the export given up, then refused the second time"
run 0 "$CTL" migrate-export --abort --in bundle.json --mount mnt --json
assert_grep "export of .*mnt/vm1/mem1 aborted: it stays the source's" err
[ "$(jfield out.json devices)" = 1 ] && [ "$(jfield out.json aborted)" = 1 ] &&
	[ "$(jfield out.json failed)" = 0 ] || fail "--json: not 1 device, 1 aborted, 0 failed"
run 1 "$CTL" migrate-export --abort --in bundle.json --mount mnt --json
assert_grep "1 of 1 export not aborted" err
[ "$(jfield out.json aborted)" = 0 ] && [ "$(jfield out.json failed)" = 1 ] ||
	fail "--json: a second abort is not 0 aborted, 1 failed"
"$MMAPIO" verify mnt/vm1/mem1 $((16 << 20)) 3

step "without --json: nothing on stdout, as before"
"$CTL" migrate-export --abort --in bundle.json --mount mnt >plain.out 2>/dev/null && fail "a third abort succeeded"
[ ! -s plain.out ] || fail "text output reached stdout: $(cat plain.out)"
stop_fs mnt "$FS_PID"
