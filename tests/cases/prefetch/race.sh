#!/usr/bin/env bash
# Prefetch never shows stale data.  Scanners whose sequential misses keep
# the prefetcher reading ahead race with (1) a writer storing through a
# shared mapping into the same pages (dirty pages the server has not seen
# yet: a prefetch that overwrote the page cache would lose them), and
# (2) holes punched into the ranges being prefetched.  Afterwards every
# byte is what was written last, through the page cache and, after the
# cache is dropped, from the server.
# TIMEOUT: 400
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/prefetch.sh"
require_fuse
require_cmd fallocate

SIZE=$((192 << 20)) # cgroups of 64 MiB
PAGES=$((SIZE / 4096))
start_memd memd --donate 512M --slab-size 16M --no-auth
start_fs fs mnt --server "$URL"
truncate -s $SIZE mnt/ram
"$MMAPIO" fill mnt/ram $SIZE 1 >/dev/null
flush_file mnt/ram
echo 3 >/proc/sys/vm/drop_caches

scanners() { # PASSES: two sequential scanners in a cgroup of a third of the file
	local s1 s2
	in_memcg $((SIZE / 3)) "$MMAPIO" scan mnt/ram $SIZE 1 seq $((PAGES * $1)) >scan1.out 2>&1 &
	s1=$!
	in_memcg $((SIZE / 3)) "$MMAPIO" scan mnt/ram $SIZE 1 rev $((PAGES * $1)) >scan2.out 2>&1 &
	s2=$!
	SCANNERS="$s1 $s2"
}

step "a writer stores into every 3rd page while the scanners prefetch"
b=$(pf_snap mnt /ram)
scanners 3
for round in 1 2 3; do
	# the same pages each round, each time through a new shared mapping:
	# dirty in the page cache until written back
	"$MMAPIO" stamp mnt/ram $SIZE $((10 + round)) 3 >/dev/null
done
wait $SCANNERS || true # the scanners expect the old data: what they say does not matter
a=$(pf_snap mnt /ram)
echo "  $(pf_delta "$b" "$a" 'f"{d.prefetched_pages} pages prefetched, {d.used} used, {d.demand_misses} misses"')"
[ "$(pf_delta "$b" "$a" 'd.prefetched_pages > 1000')" = True ] || fail "the scanners did not make the prefetcher read"
"$MMAPIO" verifymod mnt/ram $SIZE 1 13 3 || fail "the page cache lost a store (a stale prefetch?)"
flush_file mnt/ram
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verifymod mnt/ram $SIZE 1 13 3 || fail "the server lost a store"

step "holes punched into the ranges being prefetched"
HOLES=""
scanners 2
for i in $(seq 0 11); do
	off=$(( (i * 7 % 48) * 4 << 20 ))
	fallocate -p -o $off -l $((1 << 20)) mnt/ram
	HOLES="$HOLES${HOLES:+,}$off:$((1 << 20))"
	sleep 0.1
done
wait $SCANNERS || true
VOFIRM_MMAPIO_HOLES=$HOLES "$MMAPIO" verifymod mnt/ram $SIZE 1 13 3 || fail "a punched range shows data (a stale prefetch?)"
echo 3 >/proc/sys/vm/drop_caches
VOFIRM_MMAPIO_HOLES=$HOLES in_memcg $((SIZE / 3)) "$MMAPIO" verifymod mnt/ram $SIZE 1 13 3 ||
	fail "after dropping the cache: wrong data"

step "a file shrunk and grown again while prefetched: the cut reads as zeros"
scanners 1
sleep 0.3
truncate -s $((SIZE / 2)) mnt/ram
truncate -s $SIZE mnt/ram
wait $SCANNERS || true
HOLES="$HOLES,$((SIZE / 2)):$((SIZE / 2))"
VOFIRM_MMAPIO_HOLES=$HOLES "$MMAPIO" verifymod mnt/ram $SIZE 1 13 3 || fail "wrong data after the resize"
grep -q 'Sanitizer\|ERROR' fs.log && fail "errors in the log"
stop_fs mnt "$FS_PID"
