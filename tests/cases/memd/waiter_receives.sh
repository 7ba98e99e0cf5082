#!/usr/bin/env bash
# A thread that waits for its own operation receives the reply itself
# (one wake-up per round trip), also right after a burst of operations in
# flight: the transport's receiver thread, which took the burst's replies
# and lingers with the receive role for more, hands the role over instead
# of making the waiter follow it (two wake-ups per round trip, for as long
# as the waiter's requests keep it lingering).  The data is verified, and
# the same with three threads waiting at once (they hand the role to each
# other), with threads waiting while operations are in flight, and when
# the connection breaks under them.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"

start_memd memd --donate 64M --slab-size 4M --no-auth

step "a burst of 64 writes in flight, then 2048 reads one at a time"
xt --server "$URL" --verbose --busy-poll-us 50 --depth 64 --io-size 4K burstwait --slabs 2 >bw.out 2>&1 ||
	{ cat bw.out; fail "burstwait failed"; }
assert_grep 'burstwait: verified 2 slabs: written with up to 64 in flight, then 2048 reads one at a time' bw.out
counts=$(sed -n 's/.*: \([0-9]*\) replies received by the threads waiting for them, \([0-9]*\) by the receiver thread$/\1 \2/p' bw.out)
[ -n "$counts" ] || { cat bw.out; fail "the transport did not log who received the replies"; }
set -- $counts
echo "replies received by the waiting thread: $1, by the receiver thread: $2"
# the 2048 reads (the ALLOC and the BYE are waited for too); the first
# may still go to the receiver thread, receiving the burst's last replies
[ "$1" -ge 2000 ] || fail "the waiting thread received $1 replies of its 2048 reads: it followed the receiver thread"
# the 2048 writes of the burst went to the receiver thread
[ "$2" -ge 1024 ] || fail "the receiver thread received only $2 replies: the burst was not in flight"

step "a waiter held up on its way to wait(): its reply is left to it, and right"
# 64 reads, each waited for only after its reply came or 50 ms passed: the
# receiver thread does not receive a reply its submitter is on the way to
# wait for (that would make it follow, woken twice); nobody else waits for
# it, and the submitter gets it, verified, when it comes
xt --server "$URL" --io-size 128K latewait --slabs 2 >lw.out 2>&1 ||
	{ cat lw.out; fail "latewait failed"; }
cat lw.out
left=$(sed -n 's/^latewait: verified 2 slabs: 64 reads, \([0-9]*\) left to their submitter for 50 ms, .*/\1/p' lw.out)
[ -n "$left" ] || fail "latewait did not verify 64 reads"
# the first may still go to the receiver thread, lingering after the writes
[ "$left" -ge 63 ] || fail "the receiver thread took $((64 - left)) replies their submitter was on the way to wait for"

step "three threads waiting at once: each is woken once, for its reply or for the role"
# one receives, the others follow it; the one that gives the role up hands
# it to a follower whose reply has not come (not to the receiver thread,
# which would then wake the follower: two wake-ups per round trip)
xt --server "$URL" --verbose --busy-poll-us 50 --io-size 4K race --slabs 3 --threads 3 >rw.out 2>&1 ||
	{ cat rw.out; fail "three waiting threads"; }
assert_grep 'race: verified 3 slabs' rw.out
counts=$(sed -n 's/.*: \([0-9]*\) replies received by the threads waiting for them, \([0-9]*\) by the receiver thread$/\1 \2/p' rw.out)
[ -n "$counts" ] || { cat rw.out; fail "the transport did not log who received the replies"; }
set -- $counts
echo "replies received by the waiting threads: $1, by the receiver thread: $2"
# 6 144 reads and writes, the ALLOC and the BYE, all waited for: the
# receiver thread takes the role only for what nobody waits for (or, at
# most, the BYE's reply that comes with the server's close)
[ "$1" -ge 6144 ] && [ "$2" -le 1 ] || fail "the receiver thread received $2 replies that threads waited for"

step "threads waiting while 16 operations are in flight, verified"
xt --server "$URL" --depth 16 --busy-poll-us 50 race --slabs 5 --threads 3 >race.out 2>&1 ||
	{ cat race.out; fail "waiting threads and operations in flight"; }
assert_grep 'race: verified 5 slabs' race.out

step "the connection breaks under them: every operation ends"
for how in "--abort-after 300ms" "--op-timeout 2ms"; do
	timeout 120 "$XTEST" --server "$URL" --depth 16 race --slabs 5 --threads 3 $how >race.out 2>&1 ||
		{ cat race.out; fail "race $how"; }
	grep 'race: .*every operation ended' race.out || { cat race.out; fail "race $how"; }
done
stop_memd "$PID" memd
