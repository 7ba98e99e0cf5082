#!/usr/bin/env bash
# Asking for more than the pool has fails cleanly: a clear error, nothing
# half-granted, the pool unchanged.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

start_memd memd --donate 4M --slab-size 1M --no-auth

xt --server "$URL" --name A alloc --slabs 3 --session A.sess >a.out
assert_grep '^granted( [0-9]+){3}$' a.out

step "B asks for 2 slabs when 1 is free"
expect_exit 3 xt --server "$URL" --name B alloc --slabs 2
assert_out "pool has 1 free slab of 4, 2 asked for"
assert_out "No space left on device"
[ "$(stat_of "$URL" slabs_granted)" = 3 ] || fail "the refused request changed slabs_granted"
[ "$(stat_of "$URL" slabs_free)" = 1 ] || fail "the refused request changed slabs_free"

step "more than the whole pool"
expect_exit 3 xt --server "$URL" --name B alloc --slabs 5
assert_out "pool has 1 free slab of 4, 5 asked for"

step "what is free can still be had"
xt --server "$URL" --name B alloc --slabs 1 >b.out
assert_grep '^granted [0-9]+$' b.out
[ "$(stat_of "$URL" slabs_free)" = 1 ] || fail "B's BYE did not free its slab"
assert_grep "allocation of 2 slabs refused: pool has 1 free slab of 4, 2 asked for" memd.log

step "A's 3 slabs are still granted to A"
[ "$(stat_of "$URL" slabs_granted)" = 3 ] || fail "A's slabs changed"
stop_memd "$PID"
