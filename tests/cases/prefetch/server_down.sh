#!/usr/bin/env bash
# Prefetch stops cleanly when a server goes down: a sequential scan keeps
# the prefetcher busy, the server stops answering (SIGSTOP); the scan's
# demand reads fail as the failure policy says (SIGBUS after
# --read-timeout), and the prefetcher asks for nothing more: one log line,
# a bounded number of failed prefetch READs, no storm.  Once the server
# answers again, prefetch resumes and every page reads correctly.
# TIMEOUT: 300
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/prefetch.sh"
require_fuse

SIZE=$((256 << 20)) # a cgroup of 64 MiB
PAGES=$((SIZE / 4096))
start_memd memd --donate 512M --slab-size 16M --no-auth
MEMD_PID=$PID
start_fs fs mnt --server "$URL" --io-timeout 1s --read-timeout 3s --connect-timeout 1s
truncate -s $SIZE mnt/ram
"$MMAPIO" fill mnt/ram $SIZE 5 >/dev/null
flush_file mnt/ram
echo 3 >/proc/sys/vm/drop_caches

step "a scan, and the server stops answering in the middle of it"
b=$(pf_snap mnt /ram)
in_memcg $((SIZE / 4)) "$MMAPIO" scan mnt/ram $SIZE 5 seq $((PAGES * 4)) >scan.out 2>&1 &
scan=$!
sleep 1.5
sigstop "$MEMD_PID"
t0=$(date +%s)
rc=0
wait $scan || rc=$?
took=$(($(date +%s) - t0))
cat scan.out
[ $rc = 3 ] || fail "the scan ended with status $rc, not a SIGBUS (3) from the failed read"
[ $took -le 15 ] || fail "the scan's failure took $took s (io-timeout 1 s + read-timeout 3 s)"
sleep 3 # what the prefetcher would do now, it has done
lines=$(grep -c 'prefetch: server .* is not up' fs.log || true)
failed=$(grep -c 'read at offset .* failed' fs.log || true)
echo "  log: $lines prefetch line(s), $failed failed read(s)"
[ "$lines" -le 1 ] || fail "the prefetcher logged the outage $lines times"
# each failed READ logs a line: demand reads of the scanner and the READs
# of windows already asked for, no more than the FUSE queue held
[ "$failed" -le 80 ] || fail "$failed failed reads: a storm"
a=$(pf_snap mnt /ram)
echo "  $(pf_delta "$b" "$a" 'f"{d.errors} prefetch READs failed, {d.prefetch_reads} prefetch READs"')"
[ "$(pf_delta "$b" "$a" 'd.errors <= 64')" = True ] || fail "too many prefetch READs failed"
n1=$(pf_delta "$b" "$a" 'a.prefetch_reads')
sleep 2
n2=$(pf_delta "$b" "$(pf_snap mnt /ram)" 'a.prefetch_reads')
[ "$n1" = "$n2" ] || fail "prefetch READs go on while the server is down ($n1, then $n2)"

step "the server answers again: prefetch resumes, the data is whole"
kill -CONT "$MEMD_PID"
for _ in $(seq 100); do
	grep -q '"state": "up"' mnt/.vofirm/stats.json && break
	sleep 0.1
done
echo 3 >/proc/sys/vm/drop_caches
b=$(pf_snap mnt /ram)
in_memcg $((SIZE / 4)) "$MMAPIO" scan mnt/ram $SIZE 5 seq $PAGES || fail "the scan after the outage failed"
a=$(pf_snap mnt /ram)
[ "$(pf_delta "$b" "$a" 'd.used > 0.1 * '$PAGES)" = True ] || fail "prefetch did not resume"
"$MMAPIO" verify mnt/ram $SIZE 5
stop_fs mnt "$FS_PID"
