#!/usr/bin/env bash
# A mount survives any number of restarts of a memory server.  Two servers,
# two copies; A is killed and restarted empty on its port 70 times, more
# than a mount's 64 server entries.  Each time the mount learns that its
# session there is gone (that entry is LOST), A joins the pool again and
# the copies it lost are rebuilt on it.  A lost entry that no copy names
# any more is used again for the server's next instance, so the table does
# not fill up.  Before, every restart took a new entry: after 62 restarts
# the table was full, A never came back, and the mount stayed degraded.
# Half-way the worker is killed: the next one carries on with the entries
# as the state left them.  At the end A is up, a new file grows on it, and
# with B killed every page of the first file reads from A's copies alone.
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
. "$TOP/tests/tools/crash.sh"
require_fuse

RESTARTS=${RESTARTS:-70}
SIZE=$((2 << 20)) # 2 extents of 1 MiB, a copy of each on both servers
make_key key
MEMD_ARGS="--key-file key"
ARGS=(--donate 8M --slab-size 1M --key-file key --lease 5s)
start_memd a "${ARGS[@]}"
A=$URL A_PID=$PID A_PORT=$PORT
start_memd b "${ARGS[@]}"
B=$URL B_PID=$PID
start_fs fs mnt --server "$A" --server "$B" --key-file key --replicas 2 \
	--io-timeout 1s --read-timeout 2s --connect-timeout 1s
"$MMAPIO" fill mnt/ram $SIZE 3

# rejoined N: the mount has learnt of N lost sessions on A, A is up, and
# every extent has its two copies again
rejoined() {
	[ "$(grep -c "server $A: it came back without our session" fs.log)" -ge "$1" ] &&
		[ "$(fsj "[s['state'] for s in d['servers'] if s['url'] == '$A' and s['state'] != 'lost']")" = '["up"]' ] &&
		[ "$(repl degraded_bytes)" = 0 ]
}

t0=$(date +%s)
for i in $(seq "$RESTARTS"); do
	kill -KILL "$A_PID"
	wait "$A_PID" 2>/dev/null || true
	"$MEMD" --listen "tcp://127.0.0.1:$A_PORT" "${ARGS[@]}" >"a.$i.log" 2>&1 &
	A_PID=$!
	_pids+=("$A_PID")
	wait_until 30 "after restart $i of $RESTARTS, $A did not join the pool again (fs.log says why: 'cannot join', 'not added')" \
		rejoined "$i"
	if [ "$i" = $((RESTARTS / 2)) ]; then
		step "after $i restarts: the worker killed"
		kill_worker mnt
		wait_worker mnt "$OLD_WORKER"
		wait_until 30 "the new worker does not see $A up" rejoined "$i"
	fi
done
echo "$RESTARTS restarts in $(($(date +%s) - t0)) s"

step "after $RESTARTS restarts: $A is up and takes new slabs"
entries=$(fsj "len(d['servers'])")
echo "server entries: $entries ($(fsj "[s['state'] for s in d['servers']]"))"
[ "$entries" -le 4 ] || fail "$entries server entries after $RESTARTS restarts: lost entries are not used again"
grep -q "server $A: rejoined in entry" fs.log || fail "the log does not say that a lost entry was used again"
[ "$(srv_field "$A" rejoins)" -ge 1 ] 2>/dev/null ||
	fail "stats.json does not count $A's rejoins: $(fsj "[s for s in d['servers'] if s['url'] == '$A']")"
"$MMAPIO" fill mnt/new $SIZE 7 || fail "a new file does not grow on the restarted $A"
[ "$(granted "$A")" = 4 ] || fail "$A holds $(granted "$A") slabs, not the 4 copies of the two files"
drop_caches
"$MMAPIO" verify mnt/new $SIZE 7 || fail "the new file does not read back"
"$MMAPIO" verify mnt/ram $SIZE 3 || fail "the first file does not read back after the restarts"

step "$B killed: every page reads from the copies on $A"
kill -KILL "$B_PID"
wait "$B_PID" 2>/dev/null || true
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 3 || fail "the copies rebuilt on $A lack pages"
"$MMAPIO" verify mnt/new $SIZE 7 || fail "the new file's copies on $A lack pages"
stop_fs mnt "$FS_PID"
echo ok
