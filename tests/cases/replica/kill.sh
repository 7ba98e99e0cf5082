#!/usr/bin/env bash
# Two copies of every extent on three servers: one server killed (SIGKILL),
# and every page still reads, from the network (the page cache evicted),
# with no EIO; the lost copies are rebuilt elsewhere (the log names the
# file and ranges, the servers' own counts show two copies again); then a
# second original server killed, and every page still reads from the one
# left, which holds a copy of every extent.  With nowhere to put a second
# copy, the log and stats say so and the mount keeps serving.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((48 << 20))
EXT=12 # extents of 4 MiB
make_key key
MEMD_ARGS="--key-file key"
declare -A P
U=()
for i in 1 2 3; do
	start_memd "m$i" --donate 64M --slab-size 4M --key-file key --lease 3s
	U+=("$URL")
	P[$URL]=$PID
done
start_fs fs mnt --server "${U[0]}" --server "${U[1]}" --server "${U[2]}" --key-file key \
	--replicas 2 --io-timeout 1s --read-timeout 2s --connect-timeout 1s

step "a 48 MiB file written through a shared mapping, two copies of each extent"
"$MMAPIO" fill mnt/ram $SIZE 7
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 7
repl_is replicas 2
repl_is degraded_bytes 0
total=0 victim= vn=0
for u in "${U[@]}"; do
	g=$(granted "$u")
	echo "$u holds $g slabs"
	[ "$g" -le $EXT ] || fail "$u holds $g slabs for $EXT extents: two copies share it"
	total=$((total + g))
	if [ "$g" -gt "$vn" ]; then victim=$u vn=$g; fi
done
[ $total = $((2 * EXT)) ] || fail "the servers hold $total slabs, not 2 x $EXT"
survivors=()
for u in "${U[@]}"; do [ "$u" = "$victim" ] || survivors+=("$u"); done

step "kill -9 $victim ($vn slabs): every page reads from the other copies"
kill -KILL "${P[$victim]}"
wait "${P[$victim]}" 2>/dev/null || true
drop_caches
r0=$(($(memd_read "${survivors[0]}") + $(memd_read "${survivors[1]}")))
start=$(date +%s)
"$MMAPIO" verify mnt/ram $SIZE 7 || fail "reading after the kill failed (exit $?)"
took=$(($(date +%s) - start))
r1=$(($(memd_read "${survivors[0]}") + $(memd_read "${survivors[1]}")))
echo "read $(((r1 - r0) >> 20)) MiB from the survivors in ${took} s"
[ $((r1 - r0)) -ge $SIZE ] || fail "only $((r1 - r0)) bytes came from the servers: not every page was read remotely"
[ $took -le 10 ] || fail "reading 48 MiB with a copy down took $took s"
for off in 0 $((4 << 20)) $((20 << 20)) $((44 << 20)); do
	"$MMAPIO" pread mnt/ram $off $((1 << 20)) || fail "pread at $off failed"
done

step "past its lease: its copies are rebuilt on the survivors"
wait_until 20 "no report of the copies to rebuild" \
	grep -q "server $victim: away longer than its lease; every copy there is rebuilt from another copy: /ram at" fs.log
grep "every copy there is rebuilt" fs.log
wait_repl degraded_bytes -eq 0 60
repl_is lost_bytes 0
repl_is unprotected_bytes 0
done_b=$(repl repair_done_bytes)
[ "$done_b" -ge $((vn << 22)) ] || fail "repair_done_bytes is $done_b, less than the $vn slabs rebuilt"
[ "$(file_field /ram degraded_bytes)" = 0 ] || fail "the file still shows degraded bytes"
[ "$(file_field /ram replicas)" = 2 ] || fail "the file does not show 2 replicas"
# the log names every extent that lost its copy, and each one rebuilt, once
rebuilt=$( (rebuilt_on "${survivors[0]}"; rebuilt_on "${survivors[1]}") | sort)
echo "$rebuilt"
[ "$(echo "$rebuilt" | grep -c '^file /ram ')" = "$vn" ] ||
	fail "the log shows $(echo "$rebuilt" | grep -c .) copies rebuilt, $vn were lost"
[ "$(echo "$rebuilt" | uniq | wc -l)" = "$vn" ] || fail "an extent rebuilt twice"
python3 - "$victim" "$rebuilt" <<'PY' || fail "the loss report and the rebuilt copies do not name the same ranges"
import re, sys
victim, rebuilt = sys.argv[1], sys.argv[2]
line = [l for l in open("fs.log") if f"server {victim}: away longer than its lease; every copy" in l][0]
named = set()
for a, b in re.findall(r"\[(\d+)M, (\d+)M\)", line.split("/ram at", 1)[1]):
    named.update(range(int(a), int(b), 4))
done = {int(a) for a in re.findall(r"\[(\d+)M, \d+M\)", rebuilt)}
print("reported:", sorted(named), "rebuilt:", sorted(done))
sys.exit(named != done)
PY
for u in "${survivors[@]}"; do
	[ "$(granted "$u")" = $EXT ] || fail "$u holds $(granted "$u") slabs: every extent should have a copy on each survivor"
done
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 7
grep -q 'DATA LOST' fs.log && fail "a loss with a copy left was reported as DATA LOST"

step "kill -9 a second original server (${survivors[0]}): the last one has every page"
last=${survivors[1]}
kill -KILL "${P[${survivors[0]}]}"
drop_caches
r0=$(memd_read "$last")
"$MMAPIO" verify mnt/ram $SIZE 7 || fail "reading after the second kill failed (exit $?)"
r1=$(memd_read "$last")
[ $((r1 - r0)) -ge $SIZE ] || fail "only $((r1 - r0)) bytes came from $last"

step "nowhere to put a second copy: said loudly, and the mount keeps serving"
wait_repl repair_blocked_extents -eq $EXT 30
wait_repl unprotected_bytes -eq $SIZE 5
repl_is degraded_bytes $SIZE
repl_is lost_bytes 0
assert_grep "file /ram \[[0-9]+M, [0-9]+M\): NO ROOM for a new copy .*1 up-to-date copies of 2 asked" fs.log
"$MMAPIO" fill mnt/ram2 $((8 << 20)) 9 && fail "a new file got 2 copies with one server left"
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 7
stop_fs mnt "$FS_PID"
