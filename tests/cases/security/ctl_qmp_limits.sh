#!/usr/bin/env bash
# A QMP peer cannot make vofirmctl hold unbounded memory or wait forever: a
# line without end (greeting or reply) fails at 1 MiB, events it does not
# wait for are dropped as they come, more than 1000 of the one it waits for
# fail, and events do not stretch a command's timeout.  Each failure is
# quick and says which socket and which limit.
# TIMEOUT: 240
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

LIMIT_MIB=64 # vofirmctl's own peak (ASan build: about 30 MiB) is far below

# expect_bounded WHAT RC: $RC is RC, and vofirmctl was quick and small
expect_bounded() {
	[ "$RC" = "$2" ] || { echo "$OUT" >&2; fail "$1: exit $RC, not $2"; }
	[ "$RSS_MIB" -lt "$LIMIT_MIB" ] || fail "$1: vofirmctl grew to $RSS_MIB MiB"
	[ "$SECS" -lt 15 ] || fail "$1: vofirmctl took $SECS s"
	echo "ok: $1: exit $RC, $RSS_MIB MiB, $SECS s"
}

step "an endless greeting line (100 MiB, no newline)"
start_fake_qmp greet greeting-flood
measured 60 "$CTL" list --qmp greet.sock --timeout 10s
expect_bounded "endless greeting" 1
assert_out 'QMP .*greet.sock: a message longer than 1 MiB without a newline \(the limit\)'

step "an endless reply line"
start_fake_qmp reply reply-flood
measured 60 "$CTL" list --qmp reply.sock --timeout 10s
expect_bounded "endless reply" 1
assert_out 'QMP .*reply.sock: a message longer than 1 MiB without a newline \(the limit\)'

step "20 MiB of events nobody waits for, before each reply: dropped"
start_fake_qmp flood event-flood
measured 60 "$CTL" list --qmp flood.sock --timeout 20s
expect_bounded "event flood" 0
assert_out '^ID +MODEL'

step "events without end and no reply: the command's timeout holds"
start_fake_qmp stream event-stream
measured 60 "$CTL" list --qmp stream.sock --timeout 3s
expect_bounded "event stream" 1
assert_out 'QMP .*stream.sock: query-memory-devices: no reply: Connection timed out'

step "DEVICE_DELETED of 50000 other devices, then 2000 of the one removed"
start_fake_qmp deleted deleted-flood
measured 60 "$CTL" shrink --qmp deleted.sock --id d1 --timeout 10s
expect_bounded "DEVICE_DELETED flood" 1
assert_out 'QMP .*deleted.sock: more than 1000 DEVICE_DELETED events unread \(the limit\)'
assert_out 'device_del: no reply'
grep -q '"object-del"' deleted.log && fail "vofirmctl went on to object-del after the flood"
true
