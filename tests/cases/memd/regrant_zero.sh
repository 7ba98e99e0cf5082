#!/usr/bin/env bash
# A slab is zeroed before it is granted again: after a free (BYE) and after
# a lease expiry, the next client reads zeros only.  The pool has exactly
# 4 slabs, so the next client necessarily gets the same ones.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

for mode in plain mlock; do
	step "$mode: fill every slab, end the session, grant them again"
	args=(--donate 4M --slab-size 1M --no-auth --lease 1s)
	[ $mode = mlock ] && args+=(--mlock)
	start_memd "memd-$mode" "${args[@]}"
	xt --server "$URL" fill --slabs 4 --byte 0xff >fill.out
	assert_grep 'filled 4 slabs with 0xff' fill.out
	xt --server "$URL" zero --slabs 4 >zero.out || { cat zero.out; fail "$mode: regranted slabs are not zero"; }
	assert_grep 'all 4 slabs read as zeros' zero.out

	step "$mode: fill, drop the connection, let the lease run out, grant again"
	xt --server "$URL" rw --slabs 4 --session s >/dev/null
	for _ in $(seq 100); do
		[ "$(stat_of "$URL" slabs_free)" = 4 ] && break
		sleep 0.1
	done
	[ "$(stat_of "$URL" slabs_free)" = 4 ] || fail "$mode: lease expiry did not free the slabs within 10 s"
	xt --server "$URL" zero --slabs 4 >zero2.out || { cat zero2.out; fail "$mode: slabs not zero after lease expiry"; }
	stop_memd "$PID" "memd-$mode"
done
