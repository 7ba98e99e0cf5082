#!/usr/bin/env bash
# vofirmctl's progress on a long wait (a virtio-mem device the guest does
# not shrink, from a fake QMP peer): on a terminal one line redrawn in place
# (carriage returns, the rest of the line erased, no line feed between
# updates); otherwise plain lines, one for a message that does not change
# within 5 s; stdout untouched either way.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_cmd script

python3 -c 'import json, sys; print(json.dumps(dict(a.split("=", 1) for a in sys.argv[1:])))' \
	'query-memory-devices=[{"type": "virtio-mem", "data": {"id": "vm0", "memdev": "/objects/vm0-mem", "size": 268435456, "requested-size": 268435456, "max-size": 1073741824, "block-size": 2097152, "node": 0, "memaddr": 4294967296}}]' \
	'qom-get vm0 block-size=2097152' 'qom-get vm0 size=268435456' >replies.json
start_fake_qmp qmp script replies.json
shrink=("$CTL" shrink --qmp "$WORK/qmp.sock" --id vm0 --size 0 --timeout 3s)

step "not a terminal: plain lines"
rc=0
"${shrink[@]}" >plain.out 2>plain.err || rc=$?
cat plain.err
[ "$rc" = 1 ] || fail "shrink of a device the guest keeps exited $rc, not 1"
[ "$(grep -c 'waiting for the guest: vm0 is at 256 MiB of 0 B' plain.err)" = 1 ] ||
	fail "expected one plain progress line for 3 s of the same wait"
grep -q $'\r' plain.err && fail "carriage returns in plain output"
[ ! -s plain.out ] || fail "progress reached stdout: $(cat plain.out)"

step "a terminal: one line redrawn in place"
# script(1) gives vofirmctl a terminal; what it wrote is in tty.out
script -qec "${shrink[*]} 2>&1" tty.out >/dev/null </dev/null || true
n=$(grep -o $'\rvofirmctl: waiting for the guest: vm0 is at 256 MiB of 0 B ([0-9]* s)\e\[K' tty.out | wc -l)
echo "$n updates drawn in place"
[ "$n" -ge 5 ] || { cat -A tty.out >&2; fail "the progress line was not redrawn in place"; }
# between the first and the last update no line feed
awk 'BEGIN { RS = "\n" } /waiting for the guest/ { n++ } END { exit n == 1 ? 0 : 1 }' tty.out ||
	{ cat -A tty.out >&2; fail "the updates are on more than one line"; }
grep -q 'error: vm0: the guest gave back only down to 256 MiB' tty.out || fail "the error is not there"
# the error starts a line of its own: the progress line was ended first
grep -q $'\e\[K\r*$' <(grep -a 'waiting for the guest' tty.out | tail -1) ||
	{ cat -A tty.out >&2; fail "the progress line was not ended before what followed"; }
