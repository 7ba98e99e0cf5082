#!/usr/bin/env bash
# A lost server's entry stays while copies name it, and the log says so
# when that leaves no entry for a restarted server.  One server, one copy:
# before each restart a new file gets a slab there, so each lost instance
# keeps one file's only copy (its data is lost; the file keeps naming the
# lost entry until it is removed) and every restart takes a new entry.
# Once the mount's 64 entries are all in use, the restarted server cannot
# join the pool, and the log says by what; the files removed, their
# entries are free and the server comes back in one of them, where a new
# file grows and reads back.
# TIMEOUT: 300
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

make_key key
MEMD_ARGS="--key-file key"
ARGS=(--donate 80M --slab-size 1M --key-file key --lease 5s)
start_memd a "${ARGS[@]}"
A=$URL A_PID=$PID A_PORT=$PORT
start_fs fs mnt --server "$A" --key-file key --replicas 1 \
	--io-timeout 1s --read-timeout 2s --connect-timeout 1s

up() { [ "$(fsj "[s['state'] for s in d['servers'] if s['url'] == '$A' and s['state'] != 'lost']")" = '["up"]' ]; }
joined_or_full() { grep -q "server $A cannot join the pool" fs.log || up; }
lost_seen() { [ "$(grep -c "server $A: .*it came back without our session" fs.log)" -ge "$1" ]; }

i=0
while ! grep -q "server $A cannot join the pool" fs.log; do
	i=$((i + 1))
	[ "$i" -le 70 ] || fail "after 70 restarts, each leaving a file's only copy on a lost entry, the table is not full"
	"$MMAPIO" fill "mnt/f$i" $((1 << 20)) "$i" >/dev/null || fail "file f$i does not grow on $A"
	kill -KILL "$A_PID"
	wait "$A_PID" 2>/dev/null || true
	"$MEMD" --listen "tcp://127.0.0.1:$A_PORT" "${ARGS[@]}" >"a.$i.log" 2>&1 &
	A_PID=$!
	_pids+=("$A_PID")
	wait_until 30 "restart $i of $A not noticed" lost_seen "$i"
	wait_until 30 "after restart $i, $A neither joined again nor said why not" joined_or_full
done
echo "the table is full after $i restarts"
[ "$i" -ge 63 ] || fail "the table is full after $i restarts, not 63: $(grep "cannot join" fs.log)"
msg=$(grep "server $A cannot join the pool" fs.log | tail -1)
echo "$msg"
echo "$msg" | grep -q "64 server entries are all in use: 0 by servers in the pool, 64 by lost servers whose copies still name them" ||
	fail "the log does not say that copies on lost servers hold every entry"
up && fail "$A is up with no entry free"

step "the files removed: $A takes one of their entries again"
rm -f mnt/f*
wait_until 30 "$A did not join again once its lost entries were free" up
grep -q "server $A: rejoined in entry" fs.log || fail "the log does not say which entry $A took"
entries=$(fsj "len(d['servers'])")
[ "$entries" = 64 ] || fail "$entries entries, not 64"
"$MMAPIO" fill mnt/new $((2 << 20)) 9 || fail "a new file does not grow on $A"
drop_caches
"$MMAPIO" verify mnt/new $((2 << 20)) 9 || fail "the new file does not read back"
stop_fs mnt "$FS_PID"
echo ok
