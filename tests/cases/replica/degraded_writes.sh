#!/usr/bin/env bash
# Writes while a copy is down and while it is being rebuilt (a slow
# --repair-rate) are not lost: they succeed at once, read back before the
# repair ends, and are in the rebuilt copies.  Each survivor then serves
# every page alone (one briefly stopped, then the other killed), so that
# every rebuilt copy is read as the only copy.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((32 << 20))
EXT=8 # extents of 4 MiB
declare -A P
U=()
for i in 1 2 3; do
	start_memd "m$i" --donate 64M --slab-size 4M --no-auth --lease 5s
	U+=("$URL")
	P[$URL]=$PID
done
start_fs fs mnt --server "${U[0]}" --server "${U[1]}" --server "${U[2]}" --replicas 2 \
	--repair-rate 2M --io-timeout 1s --read-timeout 2s --connect-timeout 1s

step "a 32 MiB file, two copies of each extent"
"$MMAPIO" fill mnt/ram $SIZE 1
victim= vn=0
for u in "${U[@]}"; do
	g=$(granted "$u")
	if [ "$g" -gt "$vn" ]; then victim=$u vn=$g; fi
done
survivors=()
for u in "${U[@]}"; do [ "$u" = "$victim" ] || survivors+=("$u"); done

step "kill -9 $victim ($vn slabs), and write the whole file at once"
kill -KILL "${P[$victim]}"
wait "${P[$victim]}" 2>/dev/null || true
start=$(date +%s)
"$MMAPIO" fill mnt/ram $SIZE 2 || fail "writing with a copy down failed"
took=$(($(date +%s) - start))
[ $took -le 5 ] || fail "writing 32 MiB with a copy down took $took s: waiting on the dead copy?"
# the copies there missed the write: those extents have one good copy left
repl_is degraded_bytes $((vn << 22))
repl_is unprotected_bytes $((vn << 22))
assert_grep "server $victim: the copy in slab [0-9]+ missed a write .*: stale until it is rebuilt" fs.log
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 2

step "past its lease the copies are rebuilt at 2 MiB/s; writes go on meanwhile"
wait_until 20 "no report of the copies to rebuild" \
	grep -q "server $victim: away longer than its lease; every copy there is rebuilt" fs.log
# the whole file written over and over while copies are being filled: at
# least one pass must end before the repair does
rates= met=0 seed=2
while [ $seed -lt 6 ]; do
	seed=$((seed + 1))
	start=$(date +%s%N)
	"$MMAPIO" fill mnt/ram $SIZE $seed || fail "writing during the repair failed"
	ms=$((($(date +%s%N) - start) / 1000000))
	d=$(repl degraded_bytes)
	n=$(($(rebuilt_on "${survivors[0]}" | wc -l) + $(rebuilt_on "${survivors[1]}" | wc -l)))
	echo "(fill $seed took $ms ms; then $n of $vn copies rebuilt, $d bytes degraded)"
	[ "$d" -gt 0 ] || break
	met=$((met + 1))
	rates="$rates $(repl repair_rate_bytes_per_s)"
done
[ $met -ge 1 ] || fail "the repair was over before a write ended: nothing tested (make it slower)"
LAST=$seed
drop_caches
"$MMAPIO" verify mnt/ram $SIZE $LAST

step "the repair ends; the data is the last written"
end=$(($(date +%s) + 60))
while [ "$(repl degraded_bytes)" -gt 0 ]; do
	[ "$(date +%s)" -lt $end ] || fail "the repair did not end within 60 s: $(fsj "d['replication']")"
	rates="$rates $(repl repair_rate_bytes_per_s)"
	sleep 0.5
done
echo "repair rate seen: $rates bytes/s"
for r in $rates; do
	[ "$r" -le $((4 << 20)) ] || fail "the repair ran at $r bytes/s with --repair-rate 2M (a sample over 0.5 s may hold 2 chunks: twice the rate at most)"
done
[ "$(echo $rates | tr ' ' '\n' | sort -n | tail -1)" -gt 0 ] || fail "no repair rate shown during the repair"
repl_is lost_bytes 0
# the rate limit held: $vn copies of 4 MiB at 2 MiB/s take about 2 s each
python3 - "$victim" "$vn" <<'PY' || fail "the repair was faster than --repair-rate allows"
import datetime, re, sys
def t(l):
    return datetime.datetime.strptime(l[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
log = open("fs.log").readlines()
t0 = t([l for l in log if f"server {sys.argv[1]}: away longer than its lease; every" in l][0])
t1 = t([l for l in log if re.search(r"copy on .* rebuilt in", l)][-1])
want = int(sys.argv[2]) * 4 / 2
print(f"repair took {t1 - t0:.1f} s for {sys.argv[2]} copies ({want:.0f} s at 2 MiB/s)")
sys.exit(t1 - t0 < 0.75 * want)
PY
for u in "${survivors[@]}"; do
	[ "$(granted "$u")" = $EXT ] || fail "$u holds $(granted "$u") slabs, not one per extent"
done
drop_caches
"$MMAPIO" verify mnt/ram $SIZE $LAST

# K is killed last; L is first stopped, so that K alone serves every page
K=${survivors[0]} L=${survivors[1]}
echo "rebuilt on $K: $(rebuilt_on "$K" | wc -l); on $L: $(rebuilt_on "$L" | wc -l)"

# (the pause is far shorter than the 5 s lease: L's copies stay)
step "$L stopped for a moment: $K alone has every page"
sigstop "${P[$L]}"
drop_caches
r0=$(memd_read "$K")
"$MMAPIO" verify mnt/ram $SIZE $LAST || { kill -CONT "${P[$L]}"; fail "$K alone does not have every page"; }
r1=$(memd_read "$K")
kill -CONT "${P[$L]}"
[ $((r1 - r0)) -ge $SIZE ] || fail "only $((r1 - r0)) bytes came from $K"
_up() { [ "$(srv_field "$1" state)" = up ]; }
wait_until 10 "$L is not up again" _up "$L"
repl_is degraded_bytes 0

step "kill -9 $K: $L alone has every page"
kill -KILL "${P[$K]}"
wait "${P[$K]}" 2>/dev/null || true
drop_caches
r0=$(memd_read "$L")
"$MMAPIO" verify mnt/ram $SIZE $LAST || fail "$L alone does not have every page"
r1=$(memd_read "$L")
[ $((r1 - r0)) -ge $SIZE ] || fail "only $((r1 - r0)) bytes came from $L"
grep -q 'DATA LOST' fs.log && fail "DATA LOST with a copy left"
stop_fs mnt "$FS_PID"
