#!/usr/bin/env bash
# A WRITE that waits for a lock held long gives its FUSE thread's place
# among the readers of /dev/fuse to a parked thread before it waits
# (src/fs/loop.c keeps the place of a thread that took a WRITE, for a
# write-back answered asynchronously is back in microseconds): while
# write-back waits for a rebuild's chunk, whose new copy's server is
# paused, other requests are still served. Two WRITEs take both readers'
# places (fusectl counts them waiting); a LOOKUP then needs a third
# thread. Nothing is lost.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((4 << 20)) # one extent of 4 MiB, 4 chunks of 1 MiB
IOT=4             # --io-timeout: how long the paused chunk holds the lock
conf() {
	printf '[fs]\nserver = %s\nreplicas = 2\nio-timeout = %ss\nread-timeout = 20s\n' "$1" $IOT >fs.conf.tmp
	printf 'connect-timeout = 1s\nrepair-rate = 1M\n' >>fs.conf.tmp
	mv fs.conf.tmp fs.conf
}

start_memd a --donate 64M --slab-size 4M --no-auth --lease 60s
A=$URL
start_memd b --donate 64M --slab-size 4M --no-auth --lease 60s
B=$URL
conf "$A;$B"
start_fs fs mnt -c fs.conf
FUSECTL=/sys/fs/fuse/connections
if ! mountpoint -q $FUSECTL; then
	mount -t fusectl fusectl $FUSECTL || skip "cannot mount fusectl on $FUSECTL (requests waiting are counted there)"
	_mounts+=("$FUSECTL")
fi
CONN=$(mountpoint -d mnt | cut -d: -f2) # the connection's directory: the minor
[ -r "$FUSECTL/$CONN/waiting" ] || fail "no $FUSECTL/$CONN/waiting for mnt ($(mountpoint -d mnt))"
"$MMAPIO" fill mnt/h $SIZE 5
start_memd c --donate 64M --slab-size 4M --no-auth --lease 60s
C=$URL C_PID=$PID
conf "$A;$B;$C"
kill -HUP "$FS_PID"
wait_until 10 "$C was not added" grep -q "server $C added" fs.log

step "$A drained at 1 MiB/s: its copy is rebuilt on $C; $C paused after the first chunk"
cat mnt/h >/dev/null # resident: the stores below need no READ
"$CTL" drain --mount mnt --server "$A" --timeout 90s >drain.out 2>&1 &
DPID=$!
wait_repl repair_done_bytes -ge $((1 << 20)) 20
sigstop "$C_PID"
# the next chunk starts within the second (1 MiB at 1 MiB/s), takes the
# extent's lock and waits for $C until --io-timeout
sleep 1.5

step "two pages written back wait for the chunk; a LOOKUP is still answered"
"$MMAPIO" stamp mnt/h $SIZE 9 512 >stamp.out 2>&1 & # pages 0 and 512: two WRITEs
SPID=$!
# both WRITEs unanswered before the LOOKUP: fusectl's count of the
# connection's requests waiting for an answer
_two_waiting() { [ "$(cat "$FUSECTL/$CONN/waiting")" -ge 2 ]; }
wait_until 2 "the two WRITEs were not both waiting" _two_waiting
t0=$(date +%s%N)
rc=0
timeout 2 stat mnt/no-such-file >/dev/null 2>&1 || rc=$?
took=$((($(date +%s%N) - t0) / 1000000))
echo "LOOKUP answered in $took ms (exit $rc)"
[ $rc != 124 ] || fail "a LOOKUP waited 2 s while two WRITEs waited for a rebuild's chunk"
[ $rc = 1 ] || fail "stat of a file that does not exist exited $rc"
stopped "$C_PID" || fail "$C is not stopped any more: the test proved nothing"
kill -0 "$SPID" 2>/dev/null || fail "the write-back ended before the LOOKUP: it did not wait for the chunk ($(cat stamp.out))"

step "$C back: the write-back ends, the drain finishes, every page holds what it should"
kill -CONT "$C_PID"
wait "$SPID" || fail "the write-back failed: $(cat stamp.out)"
wait "$DPID" || fail "the drain failed: $(cat drain.out)"
[ "$(granted "$A")" = 0 ] || fail "$A still holds $(granted "$A") slabs after its drain"
drop_caches
"$MMAPIO" verifymod mnt/h $SIZE 5 9 512
stop_fs mnt "$FS_PID"
