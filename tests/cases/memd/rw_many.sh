#!/usr/bin/env bash
# Many slabs written and read back with many requests in flight, by two
# clients at once; the server's counters show the traffic.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"

make_key key
start_memd memd --donate 512M --slab-size 16M --key-file key

step "two clients, 12 slabs each, 64 requests in flight, 64 KiB and 4 KiB pieces"
"$XTEST" --server "$URL" --key-file key --name a --depth 64 rw --slabs 12 --seed 1 >a.out 2>&1 &
a=$!
"$XTEST" --server "$URL" --key-file key --name b --depth 64 --io-size 4K rw --slabs 12 --seed 2 >b.out 2>&1 &
b=$!
wait $a || { cat a.out; fail "client a failed"; }
wait $b || { cat b.out; fail "client b failed"; }
assert_grep 'verified 12 slabs of 16777216 bytes' a.out
assert_grep 'verified 12 slabs of 16777216 bytes' b.out
# the pipeline really was full: more than one request in flight
assert_grep 'wrote 3072 requests of 65536 bytes over 12 slabs, max_inflight=64' a.out
assert_grep 'read 49152 requests of 4096 bytes over 12 slabs, max_inflight=64' b.out

step "server counters"
written=$(stat_of "$URL" bytes_written --key-file key)
read=$(stat_of "$URL" bytes_read --key-file key)
[ "$written" = $((2 * 12 * 16 * 1024 * 1024)) ] || fail "bytes_written is $written"
[ "$read" = $((2 * 12 * 16 * 1024 * 1024)) ] || fail "bytes_read is $read"
[ "$(stat_of "$URL" writes --key-file key)" = $((3072 + 49152)) ] || fail "writes count"
# both sessions ended with BYE: everything is free again
[ "$(stat_of "$URL" slabs_granted --key-file key)" = 0 ] || fail "slabs still granted"
[ "$(stat_of "$URL" slabs_free --key-file key)" = 32 ] || fail "slabs_free is not 32"

stop_memd "$PID"
