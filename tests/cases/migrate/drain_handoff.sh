#!/usr/bin/env bash
# A drain whose copies belong to a file with a pending handoff (exported
# for a live migration, neither committed nor aborted) says so: the copies
# wait for the migration, not for room.  vofirm-fs counts those extents
# apart (replication.repair_handoff_extents and its metric), not in
# repair_blocked_extents; vofirmctl drain (line, --timeout error, --json)
# and status name the handoff.  Once the export is aborted the drain
# finishes and the count is back to 0.  No guest: handoff.py exports.
# TIMEOUT: 150
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd python3

SIZE=$((8 << 20)) # 2 extents of 4 MiB
EXT=2
X="python3 $TOP/tests/tools/handoff.py"
WHY="$EXT extents of files handed to another mount \(a live migration pending: they move once it is committed or aborted\)"
conf() {
	printf '[fs]\nserver = %s\nreplicas = 1\nio-timeout = 1s\nread-timeout = 2s\nconnect-timeout = 1s\n' \
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
# every extent on A: B comes after the file is written
conf "$A"
start_fs fs mnt -c fs.conf
"$MMAPIO" fill mnt/h $SIZE 5
flush_file mnt/h
conf "$A;$B"
kill -HUP "$FS_PID"
wait_until 10 "$B was not added" grep -q "server $B added" fs.log
[ "$(granted "$A")" = $EXT ] || fail "$A grants $(granted "$A") slabs, not $EXT"

step "mnt/h exported and left pending, $A drained: the copies wait for the handoff"
$X export mnt/h >h1
drain 1 5s "$A"
assert_grep "draining $A: 8 MiB left.*; waiting: $WHY" drain.err
assert_grep "$A is not drained after 5 s: 8 MiB left on it, .*; waiting: $WHY" drain.err
grep "NO ROOM" drain.err && fail "the drain blames room while a handoff is pending"
[ "$(jfield drain.json drained)" = false ] || fail "--json does not say drained: false"
jfield drain.json waiting | grep -q "handed to another mount" || fail "--json does not name the handoff"
[ "$(jfield drain.json repair_handoff_extents)" = $EXT ] || fail "--json: repair_handoff_extents is not $EXT"
[ "$(jfield drain.json repair_blocked_extents)" = 0 ] || fail "--json: repair_blocked_extents is not 0"
assert_grep "file /h \[[0-9]+M, [0-9]+M\): its copies wait: a handoff to another mount is pending" fs.log
repl_is repair_handoff_extents $EXT
repl_is repair_blocked_extents 0
[ "$(metric vofirm_replication_repair_handoff_extents)" = $EXT ] ||
	fail "vofirm_replication_repair_handoff_extents is not $EXT"
[ "$(metric vofirm_replication_repair_blocked_extents)" = 0 ] ||
	fail "vofirm_replication_repair_blocked_extents is not 0"
"$CTL" status --mount mnt >status.out
grep -qE "^replication: .*, $WHY" status.out || fail "status does not say what waits: $(cat status.out)"
grep "NO ROOM" status.out && fail "status blames room while a handoff is pending"
[ "$(granted "$A")" = $EXT ] || fail "$A lost copies while the handoff is pending"

step "the export aborted: the drain finishes, and the count is back to 0"
$X abort-export mnt/h
drain 0 60s "$A"
[ "$(jfield drain.json drained)" = true ] || fail "--json does not say drained: true"
[ "$(jfield drain.json waiting)" = null ] || fail "--json: a drained server still waits: $(jfield drain.json waiting)"
[ "$(granted "$A")" = 0 ] || fail "$A still holds $(granted "$A") slabs"
[ "$(granted "$B")" = $EXT ] || fail "$B holds $(granted "$B") slabs: not every copy moved there"
wait_repl repair_handoff_extents -eq 0 10
repl_is repair_blocked_extents 0
[ "$(metric vofirm_replication_repair_handoff_extents)" = 0 ] ||
	fail "vofirm_replication_repair_handoff_extents is not 0"
drop_caches
"$MMAPIO" verify mnt/h $SIZE 5
stop_fs mnt "$FS_PID"
