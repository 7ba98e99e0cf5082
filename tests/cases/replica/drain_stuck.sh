#!/usr/bin/env bash
# A drain that cannot go on says why, in its progress line, its --json
# object and its error after --timeout: no other server has room (NO ROOM,
# replication.repair_blocked_extents), or the only server the copies could
# go to is down (replication.repair_waiting_extents, the server named).
# Once the server is back the drain finishes, and says nothing is waited for.
# TIMEOUT: 150
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((8 << 20)) # 2 extents of 4 MiB
EXT=2
conf() {
	printf '[fs]\nserver = %s\nreplicas = 2\nio-timeout = 1s\nread-timeout = 2s\nconnect-timeout = 1s\n' \
		"$1" >fs.conf.tmp
	mv fs.conf.tmp fs.conf
}
# jfield FILE KEY: KEY of the JSON object in FILE, printed as JSON
jfield() {
	python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$1" "$2"
}
# drain WANT_RC TIMEOUT URL: vofirmctl drain --json; drain.json, drain.err
drain() {
	local rc=0
	"$CTL" drain --mount mnt --server "$3" --timeout "$2" --json >drain.json 2>drain.err || rc=$?
	cat drain.err drain.json
	[ $rc = "$1" ] || fail "drain exited $rc, not $1"
}
metric() { grep -E "^$1\{" mnt/.vofirm/metrics | awk '{print $2}'; }

start_memd a --donate 64M --slab-size 4M --no-auth --lease 60s
A=$URL
start_memd b --donate 64M --slab-size 4M --no-auth --lease 60s
B=$URL
conf "$A;$B"
start_fs fs mnt -c fs.conf
"$MMAPIO" fill mnt/h $SIZE 5

start_memd c --donate 64M --slab-size 4M --no-auth --lease 60s
C=$URL C_PID=$PID
step "$C added and paused, $A drained: the copies wait for $C, and the drain names it"
conf "$A;$B;$C"
kill -HUP "$FS_PID"
wait_until 10 "$C was not added" grep -q "server $C added" fs.log
# every extent has a copy on B: the copies on A can only go to C
sigstop "$C_PID"
drain 1 8s "$A"
assert_grep "draining $A: 8 MiB left; waiting: server $C is down \($EXT extents wait for it\)" drain.err
assert_grep "$A is not drained after 8 s: 8 MiB left on it, 0 MiB degraded; waiting: server $C is down" drain.err
grep "NO ROOM" drain.err && fail "the drain blames room while $C is down"
[ "$(jfield drain.json drained)" = false ] || fail "--json does not say drained: false"
jfield drain.json waiting | grep -q "server $C is down" || fail "--json does not name $C"
[ "$(jfield drain.json repair_waiting_extents)" = $EXT ] || fail "--json: repair_waiting_extents is not $EXT"
[ "$(jfield drain.json repair_blocked_extents)" = 0 ] || fail "--json: repair_blocked_extents is not 0"
assert_grep "file /h \[[0-9]+M, [0-9]+M\): a new copy waits: server $C .* is down" fs.log
repl_is repair_waiting_extents $EXT
repl_is repair_blocked_extents 0
[ "$(metric vofirm_replication_repair_waiting_extents)" = $EXT ] ||
	fail "vofirm_replication_repair_waiting_extents is not $EXT"
"$CTL" status --mount mnt >status.out
grep -q "^replication: .*, $EXT extents waiting for a server that is down" status.out ||
	fail "status does not say what waits: $(cat status.out)"
[ "$(granted "$A")" = $EXT ] || fail "$A lost copies with nowhere to put them"
stopped "$C_PID" || fail "$C is not stopped any more"

step "$C back: the drain finishes, and waits for nothing"
kill -CONT "$C_PID"
drain 0 60s "$A"
grep -q "^$A: drained" drain.err drain.json && fail "--json printed the text line too"
[ "$(jfield drain.json drained)" = true ] || fail "--json does not say drained: true"
[ "$(jfield drain.json waiting)" = null ] || fail "--json: a drained server still waits: $(jfield drain.json waiting)"
[ "$(granted "$A")" = 0 ] || fail "$A still holds $(granted "$A") slabs"
[ "$(granted "$C")" = $EXT ] || fail "$C holds $(granted "$C") slabs: not every copy moved there"
wait_repl repair_waiting_extents -eq 0 10
[ "$(metric vofirm_replication_repair_waiting_extents)" = 0 ] ||
	fail "vofirm_replication_repair_waiting_extents is not 0"
drop_caches
"$MMAPIO" verify mnt/h $SIZE 5

step "drain $B: $A is drained and $C holds the other copies: no room, and it says so"
drain 1 4s "$B"
assert_grep "draining $B: 8 MiB left; waiting: NO ROOM for $EXT extents: no other server has room \(add a server or free memory\)" drain.err
assert_grep "$B is not drained after 4 s: 8 MiB left on it, 0 MiB degraded; waiting: NO ROOM for $EXT extents: no other server has room" drain.err
grep "is down" drain.err && fail "the drain blames a server that is up"
[ "$(jfield drain.json drained)" = false ] || fail "--json does not say drained: false"
jfield drain.json waiting | grep -q "NO ROOM for $EXT extents" || fail "--json has no waiting reason"
[ "$(jfield drain.json repair_blocked_extents)" = $EXT ] || fail "--json: repair_blocked_extents is not $EXT"
[ "$(jfield drain.json repair_waiting_extents)" = 0 ] || fail "--json: repair_waiting_extents is not 0"
[ "$(granted "$B")" = $EXT ] || fail "$B lost copies with nowhere to put them"
stop_fs mnt "$FS_PID"
