#!/usr/bin/env bash
# status does not call a mount healthy while copies that must move cannot:
# a drain with no room elsewhere (repair_blocked_extents), or whose copies
# wait for the only server that could take them, which is down
# (repair_waiting_extents).  The replication line says STUCK, a line per
# drained server says what is left and why it does not move, and --json
# says the same in its health object; the exit status is 0, as for
# "degraded" (status read the stats: the state is in what it says).  Once
# the server is back, the drain ends and status is healthy again.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd python3

SIZE=$((8 << 20)) # 2 extents of 4 MiB
EXT=2
conf() {
	printf '[fs]\nserver = %s\nreplicas = 2\nio-timeout = 1s\nread-timeout = 2s\nconnect-timeout = 1s\n' \
		"$1" >fs.conf.tmp
	mv fs.conf.tmp fs.conf
}
# health FILE KEY...: health[KEY]... of status --json's object in FILE, as JSON
health() {
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))["health"]
for k in sys.argv[2:]:
    v = v[int(k)] if k.isdigit() else v[k]
print(json.dumps(v))' "$@"
}
# status: the text in status.out, --json in status.json; both exit 0
status() {
	"$CTL" status --mount mnt >status.out || fail "status exited $?"
	cat status.out
	"$CTL" status --mount mnt --json >status.json || fail "status --json exited $?"
	python3 -c 'import json; assert isinstance(json.load(open("status.json")), dict)' ||
		fail "status --json is not one JSON object"
}

start_memd a --donate 64M --slab-size 4M --no-auth --lease 60s
A=$URL
start_memd b --donate 64M --slab-size 4M --no-auth --lease 60s
B=$URL
conf "$A;$B"
start_fs fs mnt -c fs.conf
"$MMAPIO" fill mnt/h $SIZE 5

step "nothing waits: healthy"
status
grep -q "^replication: healthy" status.out || fail "status is not healthy"
grep -q "^draining" status.out && fail "status says a server is being drained"
# the stats themselves are still there
python3 -c 'import json, sys; d = json.load(open("status.json")); assert "pool" in d and "replication" in d and "servers" in d' ||
	fail "--json lost the stats"
python3 -c 'import json; d = json.load(open("status.json"))
assert "health" not in d or d["health"] == {"state": "healthy", "replication": d["health"]["replication"], "waiting": None, "draining": []}, d["health"]' ||
	fail "--json: the health of a healthy mount is not healthy"

start_memd c --donate 64M --slab-size 4M --no-auth --lease 60s
C=$URL C_PID=$PID
step "$C added and paused, $A drained: the copies wait for $C, which is down: stuck"
conf "$A;$B;$C"
kill -HUP "$FS_PID"
wait_until 10 "$C was not added" grep -q "server $C added" fs.log
# every extent has a copy on B: the copies on A can only go to C
sigstop "$C_PID"
"$CTL" drain --mount mnt --server "$A" --timeout 2s 2>drain.err && fail "the drain of $A finished with $C down"
wait_repl repair_waiting_extents -eq $EXT 20
status
grep -q "healthy" status.out && fail "status says healthy while the copies wait for $C"
grep -q "^replication: STUCK: copies that must move cannot .*, $EXT extents waiting for a server that is down" status.out ||
	fail "the replication line does not say it is stuck"
grep -q "^draining $A: 8 MiB left; stuck: server $C is down ($EXT extents wait for it)" status.out ||
	fail "status does not say the drain of $A waits for $C"
[ "$(health status.json state)" = '"stuck"' ] || fail "--json: state is not stuck"
health status.json waiting | grep -q "server $C is down" || fail "--json: waiting does not name $C"
[ "$(health status.json draining 0 server)" = "\"$A\"" ] || fail "--json: draining[0] is not $A"
[ "$(health status.json draining 0 held)" = $SIZE ] || fail "--json: draining[0].held is not $SIZE"
[ "$(health status.json draining 0 stuck)" = true ] || fail "--json: draining[0] is not stuck"
health status.json draining 0 waiting | grep -q "server $C is down" || fail "--json: draining[0].waiting does not name $C"

step "$C back: the drain ends, and status is healthy again"
kill -CONT "$C_PID"
wait_repl repair_waiting_extents -eq 0 30
for _ in $(seq 120); do
	status >/dev/null
	grep -q "^draining $A: drained" status.out && break
	sleep 0.5
done
status
grep -q "^replication: healthy" status.out || fail "status is not healthy after the drain"
grep -q "^draining $A: drained (it holds nothing and can be stopped)" status.out ||
	fail "status does not say $A is drained"
[ "$(health status.json state)" = '"healthy"' ] || fail "--json: state is not healthy"
[ "$(health status.json draining 0 stuck)" = false ] || fail "--json: the drained server is stuck"
[ "$(health status.json draining 0 waiting)" = null ] || fail "--json: the drained server waits"

step "$B drained: $A is drained and $C holds the other copies: NO ROOM: stuck, not healthy"
"$CTL" drain --mount mnt --server "$B" --timeout 2s 2>drain.err && fail "the drain of $B finished with nowhere to go"
wait_repl repair_blocked_extents -eq $EXT 10
status
grep -q "healthy" status.out && fail "status says healthy while the drain of $B is stuck"
grep -q "^replication: STUCK: copies that must move cannot .*, NO ROOM for $EXT extents" status.out ||
	fail "the replication line does not say it is stuck for room"
grep -q "^draining $B: 8 MiB left; stuck: NO ROOM for $EXT extents: no other server has room" status.out ||
	fail "status does not say why the drain of $B is stuck"
[ "$(health status.json state)" = '"stuck"' ] || fail "--json: state is not stuck"
health status.json waiting | grep -q "NO ROOM for $EXT extents" || fail "--json: waiting does not say NO ROOM"
python3 -c 'import json; d = json.load(open("status.json"))["health"]["draining"]
b = [e for e in d if e["server"] == "'"$B"'"][0]
assert b["stuck"] is True and "NO ROOM" in b["waiting"] and b["held"] == '$SIZE', d' ||
	fail "--json: the drain of $B is not stuck for room"
drop_caches
"$MMAPIO" verify mnt/h $SIZE 5
stop_fs mnt "$FS_PID"
