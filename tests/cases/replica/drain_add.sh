#!/usr/bin/env bash
# Servers come and go at run time, while a writer runs all along.  With two
# servers and two copies a drain has nowhere to go (it says so, and nothing
# moves); SIGHUP adds the server the config file has gained; then the
# drain moves every copy off the drained server, which then holds nothing
# (its own count), and can be killed with nothing lost: every page reads,
# from the moved copies too.
# TIMEOUT: 150
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((32 << 20))
EXT=8 # extents of 4 MiB
start_memd m1 --donate 64M --slab-size 4M --no-auth --lease 5s
U1=$URL P1=$PID
start_memd m2 --donate 64M --slab-size 4M --no-auth --lease 5s
U2=$URL P2=$PID
conf() {
	printf '[fs]\nserver = %s\nreplicas = 2\nrepair-rate = 4M\nio-timeout = 1s\nread-timeout = 2s\nconnect-timeout = 1s\n' \
		"$1" >fs.conf.tmp
	mv fs.conf.tmp fs.conf
}
conf "$U1;$U2"
start_fs fs mnt -c fs.conf
"$MMAPIO" fill mnt/ram $SIZE 10
[ "$(granted "$U1")" = $EXT ] && [ "$(granted "$U2")" = $EXT ] || fail "two servers, two copies: each should hold $EXT slabs"

step "a writer runs from now on"
rm -f stop.flag writer.done
(
	seed=10
	while [ ! -e stop.flag ]; do
		seed=$((seed + 1))
		"$MMAPIO" fill mnt/ram $SIZE $seed >/dev/null || { echo "fill $seed failed" >&2; exit 1; }
		echo $seed >writer.done
		echo "$seed $(date +%s.%N)" >>writer.log
	done
) 2>writer.err &
WRITER=$!
stop_writer() {
	touch stop.flag
	wait $WRITER || { cat writer.err; fail "the writer failed"; }
	LAST=$(cat writer.done)
}
wait_until 10 "the writer did not write" test -s writer.done

step "drain $U1 with nowhere to go: it says so, and nothing moves"
expect_exit 1 "$CTL" drain --mount mnt --server "$U1" --timeout 8s
echo "$OUT"
assert_out "draining $U1: .*NO ROOM for $EXT extents"
assert_out "$U1 is not drained after 8 s: 32 MiB left on it"
[ "$(srv_field "$U1" draining)" = true ] || fail "stats.json does not show $U1 draining"
[ "$(granted "$U1")" = $EXT ] || fail "$U1 lost copies with nowhere to put them"
repl_is degraded_bytes 0

step "SIGHUP: the server added to the config file joins"
start_memd m3 --donate 64M --slab-size 4M --no-auth --lease 5s
U3=$URL P3=$PID
conf "$U1;$U2;$U3"
kill -HUP "$FS_PID"
wait_until 10 "$U3 was not added" grep -q "server $U3 added" fs.log
[ "$(fsj "len(d['servers'])")" = 3 ] || fail "stats.json does not show 3 servers"
[ "$(srv_field "$U3" state)" = up ] || fail "$U3 is not up"
kill -HUP "$FS_PID" # nothing new: nothing added twice
sleep 0.5
[ "$(grep -c "server $U3 added" fs.log)" = 1 ] || fail "a second SIGHUP added $U3 again"

step "the drain completes while the writer runs"
"$CTL" drain --mount mnt --server "$U1" --timeout 60s | tee drain.out
grep -qE "^$U1: drained \([0-9]+ MiB moved in [0-9]+ s\); it holds nothing of mnt" drain.out ||
	fail "drain did not say it was done"
stop_writer
# how many times the writer wrote the whole file while copies moved
during=$(python3 - "$U3" <<'PY'
import datetime, sys
def t(l):
    return datetime.datetime.strptime(l[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
moves = [t(l) for l in open("fs.log") if f"copy on {sys.argv[1]} rebuilt" in l]
ends = [float(l.split()[1]) for l in open("writer.log")]
print(sum(moves[0] < e < moves[-1] for e in ends))
PY
)
echo "the writer wrote the whole file $during times while copies moved; last seed $LAST"
[ "$during" -ge 1 ] || fail "no write went on while the copies moved: nothing tested"
[ "$(srv_field "$U1" held)" = 0 ] || fail "stats.json shows $(srv_field "$U1" held) bytes held on $U1"
[ "$(granted "$U1")" = 0 ] || fail "$U1 still has $(granted "$U1") slabs granted, by its own count"
[ "$(granted "$U2")" = $EXT ] || fail "$U2 holds $(granted "$U2") slabs"
[ "$(granted "$U3")" = $EXT ] || fail "$U3 holds $(granted "$U3") slabs: not every copy moved there"
repl_is degraded_bytes 0
repl_is lost_bytes 0
wait_repl repair_blocked_extents -eq 0 10
assert_grep "copy on $U3 rebuilt" fs.log

step "kill -9 the drained server: nothing lost"
kill -KILL "$P1"
wait "$P1" 2>/dev/null || true
drop_caches
"$MMAPIO" verify mnt/ram $SIZE "$LAST"

step "$U2 stopped for a moment: the moved copies on $U3 have every page"
sigstop "$P2"
drop_caches
r0=$(memd_read "$U3")
rc=0
"$MMAPIO" verify mnt/ram $SIZE "$LAST" || rc=$?
r1=$(memd_read "$U3")
kill -CONT "$P2"
[ $rc = 0 ] || fail "the copies moved to $U3 do not hold the last data written"
[ $((r1 - r0)) -ge $SIZE ] || fail "only $((r1 - r0)) bytes came from $U3"

step "past the drained server's lease, nothing is degraded"
wait_until 15 "no report on $U1" grep -q "server $U1: unreachable for [0-9]* ms, longer than its lease" fs.log
sleep 1
repl_is degraded_bytes 0
grep -q 'DATA LOST' fs.log && fail "DATA LOST after a drain"
stop_fs mnt "$FS_PID"
