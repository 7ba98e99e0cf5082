#!/usr/bin/env bash
# Grants survive a dropped connection for the lease: a client that comes
# back with its session in time finds its slabs and data intact; after
# the lease they are freed.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

make_key key
start_memd memd --donate 64M --slab-size 1M --key-file key --lease 3s

step "in-process: write, drop the connection, reconnect after 1 s, verify"
xt --server "$URL" --key-file key reconnect --slabs 4 --pause 1s >rc.out
assert_grep 'verified 4 slabs after reconnecting' rc.out
assert_grep 'disconnected; its 4 slabs are kept for 3000 ms' memd.log
assert_grep 'resumed its session over tcp \(4 slabs held\)' memd.log

step "a client process killed with SIGKILL: its slabs stay granted"
"$XTEST" --server "$URL" --key-file key --name victim hold --slabs 5 --seconds 60 >hold.out &
hold=$!
for _ in $(seq 50); do grep -q holding hold.out && break; sleep 0.1; done
kill -KILL $hold
wait $hold 2>/dev/null || true
sleep 0.5
[ "$(stat_of "$URL" slabs_granted --key-file key)" = 5 ] || fail "slabs freed at once instead of kept for the lease"

step "another process resumes a saved session within the lease"
xt --server "$URL" --key-file key rw --slabs 3 --seed 99 --session s.sess >/dev/null
sleep 1
xt --server "$URL" --key-file key verify --session s.sess --keep >v1.out
assert_grep 'verified 3 slabs after resuming the session' v1.out

step "after the lease the slabs are free and the session is gone"
# the lease (3 s) starts when memd sees the connection close
for _ in $(seq 100); do
	[ "$(stat_of "$URL" slabs_granted --key-file key)" = 0 ] && break
	sleep 0.1
done
[ "$(stat_of "$URL" slabs_granted --key-file key)" = 0 ] || fail "slabs still granted 10 s after the lease began"
[ "$(stat_of "$URL" slabs_free --key-file key)" = 64 ] || fail "not all slabs free after the lease"
expect_exit 4 xt --server "$URL" --key-file key verify --session s.sess
assert_out "our session is gone, and the slabs it held with it"
assert_grep "'victim' .*no reconnect within the lease \(3000 ms\): freed its 5 slabs" memd.log
stop_memd "$PID"
