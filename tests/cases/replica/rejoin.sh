#!/usr/bin/env bash
# A server restarted empty joins the pool again.  Two servers, two copies:
# one is killed and restarted on its port (a new instance, which says with
# the key that our session is gone).  What it held is lost (its entry stays
# LOST: copies name it), but the server itself comes back as a new entry
# with the same URL and a new session, so the copies it lost are rebuilt
# on it: with two servers there is nowhere else.  Then the other original
# is killed, and every page still reads, from the rebuilt copies alone.
# Before, a restarted server stayed LOST for the life of the mount, and
# two servers with two copies stayed degraded until someone remounted.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((32 << 20)) # 8 extents of 4 MiB, a copy of each on both servers
make_key key
MEMD_ARGS="--key-file key"
start_memd a --donate 64M --slab-size 4M --key-file key --lease 60s
A=$URL A_PID=$PID A_PORT=$PORT
start_memd b --donate 64M --slab-size 4M --key-file key --lease 60s
B=$URL B_PID=$PID
start_fs fs mnt --server "$A" --server "$B" --key-file key --replicas 2 \
	--io-timeout 1s --read-timeout 2s --connect-timeout 1s
"$MMAPIO" fill mnt/ram $SIZE 3
[ "$(granted "$A")" = 8 ] && [ "$(granted "$B")" = 8 ] ||
	fail "each server should hold a copy of each of the 8 extents: $(granted "$A") and $(granted "$B")"

step "$A killed and restarted empty on its port"
kill -KILL "$A_PID"
wait "$A_PID" 2>/dev/null || true
"$MEMD" --listen "tcp://127.0.0.1:$A_PORT" --donate 64M --slab-size 4M --key-file key \
	--lease 60s >restarted.log 2>&1 &
_pids+=("$!")
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 3 || fail "the pages do not read from $B while $A is gone"
wait_until 30 "the mount did not learn that its session on $A is gone" \
	grep -q "server $A: it came back without our session" fs.log

step "it joins the pool again, and the lost copies are rebuilt on it"
# as a new entry while copies still name the lost instance's, or in that
# entry once none does (servers.c, reusable()): which comes first is a
# race between the reconnection and the copies' release
wait_until 30 "$A did not join the pool again" \
	grep -qE "server $A( added|: rejoined in entry)" fs.log
wait_repl degraded_bytes -eq 0 60
repl_is lost_bytes 0
states=$(fsj "[s['state'] for s in d['servers'] if s['url'] == '$A']")
if grep -q "server $A added" fs.log; then
	[ "$states" = '["lost", "up"]' ] ||
		fail "stats.json should list $A's lost instance, then its new one up: $states"
else
	[ "$states" = '["up"]' ] ||
		fail "stats.json should list $A's new instance up, in its old entry: $states"
fi
[ "$(granted "$A")" = 8 ] || fail "the new instance of $A holds $(granted "$A") slabs, not 8 copies"
grep -E "server $A: DATA LOST: .*files affected" fs.log && fail "the mount reported files lost with a copy left"
# one series per server in the Prometheus text: the live instance's
ups=$(grep -c "^vofirm_server_up{server=\"$A\"}" mnt/.vofirm/metrics)
[ "$ups" = 1 ] || fail "$ups vofirm_server_up series for $A (want the live instance's alone)"
grep -q "^vofirm_server_up{server=\"$A\"} 1$" mnt/.vofirm/metrics ||
	fail "Prometheus does not show $A up: $(grep "server=\"$A\"" mnt/.vofirm/metrics | head -3)"
# the operator's view: drain speaks of the live instance
"$CTL" status --mount mnt >status.out || fail "vofirmctl status failed"
grep -q "healthy" status.out || fail "vofirmctl status is not healthy: $(cat status.out)"

step "$B killed: every page reads from the copies rebuilt on $A"
kill -KILL "$B_PID"
wait "$B_PID" 2>/dev/null || true
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 3 || fail "the copies rebuilt on the new $A lack pages"
"$MMAPIO" fill mnt/ram $SIZE 4 || fail "writing with $A alone failed"
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 4 || fail "what was written with $A alone does not read back"
stop_fs mnt "$FS_PID"
echo ok
