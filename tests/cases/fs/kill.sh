#!/usr/bin/env bash
# A server killed mid-run: reads of its pages fail with EIO within the read
# timeout (never a hang).  Away longer than its lease it is still not
# declared lost by our clock (only the server can say that): it stays
# down, reads fail at once, and it is tried again.  When it is restarted
# it is a new instance that does not know our session, and says so with
# the key: that is DATA LOST, logged with the file and ranges.  The mount
# goes on.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

make_key key
start_memd doomed --donate 64M --slab-size 4M --key-file key --lease 3s
DOOMED=$PID
DPORT=$PORT
U1=$URL
start_fs fs mnt --server "$U1" --key-file key --io-timeout 1s --read-timeout 2s \
	--connect-timeout 1s
"$MMAPIO" fill mnt/ram $((32 << 20)) 4

step "kill -9 the server"
kill -KILL "$DOOMED"
wait "$DOOMED" 2>/dev/null || true
start=$(date +%s)
expect_exit 5 "$MMAPIO" pread mnt/ram $((8 << 20)) 4096
took=$(($(date +%s) - start))
echo "$OUT (${took} s)"
[ $took -le 6 ] || fail "EIO took $took s with a 2 s read timeout"

step "away longer than its lease: down, not lost; reads fail at once"
for _ in $(seq 100); do grep -q 'longer than its lease' fs.log && break; sleep 0.1; done
assert_grep "server $U1: unreachable for [0-9]+ ms, longer than its lease: .* tried every [0-9]+ ms" fs.log
grep 'DATA LOST' fs.log && fail "declared lost by the client's clock"
python3 -c 'import json; d = json.load(open("mnt/.vofirm/stats.json")); assert d["servers"][0]["state"] == "down", d'
start=$(date +%s)
expect_exit 3 "$MMAPIO" verify mnt/ram $((32 << 20)) 4
[ $(($(date +%s) - start)) -le 2 ] || fail "a server away that long still makes readers wait"
assert_out 'SIGBUS at offset'

step "restarted: a new instance, which says with the key that our session is gone"
"$MEMD" --listen "tcp://127.0.0.1:$DPORT" --donate 64M --slab-size 4M --key-file key \
	--lease 3s >restarted.log 2>&1 &
_pids+=("$!")
for _ in $(seq 100); do grep -q 'DATA LOST' fs.log && break; sleep 0.1; done
assert_grep "server $U1: DATA LOST: it came back without our session \(it restarted, or its lease ran out\); the data of this mount's 8 slab\(s\) there is gone; files affected: /ram at \[0M, 32M\)" fs.log
assert_grep "$U1: our session is gone, and the slabs it held with it \(the server restarted\)" fs.log
start=$(date +%s)
expect_exit 3 "$MMAPIO" verify mnt/ram $((32 << 20)) 4
[ $(($(date +%s) - start)) -le 2 ] || fail "a lost server still makes readers wait"
assert_out 'SIGBUS at offset'
python3 -c 'import json; d = json.load(open("mnt/.vofirm/stats.json")); assert d["servers"][0]["state"] == "lost", d'

step "the mount goes on"
touch mnt/other 2>/dev/null || fail "the mount stopped working"
stop_fs mnt "$FS_PID"
