#!/usr/bin/env bash
# The detector, on the host: a process confined in a memory cgroup a
# quarter of a vofirm file's size reads it through a shared mapping,
# sequentially, at random and strided.  The sequential pass is served
# mostly by prefetch (hit rate >= 80 %), the random pass fetches at most
# 1.2 times the pages it misses (the server's own count), the strided pass
# gets prefetch hits; every page read is checked.  The stats name each
# verdict, in stats.json and in Prometheus' metrics.
# TIMEOUT: 400
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/prefetch.sh"
require_fuse

SIZE=$((256 << 20)) # a cgroup of 64 MiB: room for a sanitizer build's helper
PAGES=$((SIZE / 4096))
start_memd memd --donate 512M --slab-size 16M --no-auth
start_fs fs mnt --server "$URL"
assert_grep 'prefetch: auto' fs.log "the prefetcher did not start"
truncate -s $SIZE mnt/ram
"$MMAPIO" fill mnt/ram $SIZE 7 >/dev/null
flush_file mnt/ram
echo 3 >/proc/sys/vm/drop_caches
ra=$(cat "/sys/class/bdi/$(mountpoint -d mnt)/read_ahead_kb")
[ "$ra" = 0 ] || fail "--prefetch auto left the kernel's readahead at ${ra}K"

step "sequential: a scan of the whole file, served by prefetch"
b=$(pf_snap mnt /ram)
in_memcg $((SIZE / 4)) "$MMAPIO" scan mnt/ram $SIZE 7 seq $PAGES || fail "the sequential scan read wrong data"
a=$(pf_snap mnt /ram)
echo "  $(pf_delta "$b" "$a" 'f"{d.demand_misses} misses, {d.used} prefetched pages used, {d.wasted} wasted, hit rate {d.hit:.3f}, verdict {a.verdict}"')"
[ "$(pf_delta "$b" "$a" 'd.hit >= 0.8 and d.used >= 0.8 * '$PAGES)" = True ] ||
	fail "sequential pass: prefetch hit rate under 80 % or too few pages prefetched"
[ "$(pf_delta "$b" "$a" 'a.verdict')" = sequential ] || fail "the verdict is not sequential"

step "random: each miss fetches the page it asks for"
echo 3 >/proc/sys/vm/drop_caches
b=$(pf_snap mnt /ram)
in_memcg $((SIZE / 4)) "$MMAPIO" scan mnt/ram $SIZE 7 rand 20000 || fail "the random pass read wrong data"
a=$(pf_snap mnt /ram)
echo "  $(pf_delta "$b" "$a" 'f"{d.demand_misses} misses, {d.server_bytes_read / 4096:.0f} pages from the server ({d.server_bytes_read / 4096 / max(1, d.demand_misses):.3f} per miss), {d.prefetched_pages} prefetched, verdict {a.verdict}"')"
[ "$(pf_delta "$b" "$a" 'd.demand_misses > 10000 and d.server_bytes_read <= 1.2 * 4096 * d.demand_misses')" = True ] ||
	fail "random pass: more than 1.2 pages fetched per miss"
[ "$(pf_delta "$b" "$a" 'a.verdict')" = random ] || fail "the verdict is not random"

step "strided: every 16th page"
echo 3 >/proc/sys/vm/drop_caches
b=$(pf_snap mnt /ram)
in_memcg $((SIZE / 4)) "$MMAPIO" scan mnt/ram $SIZE 7 stride16 12000 || fail "the strided pass read wrong data"
a=$(pf_snap mnt /ram)
echo "  $(pf_delta "$b" "$a" 'f"{d.demand_misses} misses, {d.used} prefetched pages used, hit rate {d.hit:.3f}, {d.server_bytes_read / 4096:.0f} pages from the server, verdict {a.verdict}"')"
[ "$(pf_delta "$b" "$a" 'd.used > 4000 and d.hit >= 0.5')" = True ] ||
	fail "strided pass: too few prefetch hits"
[ "$(pf_delta "$b" "$a" 'a.verdict')" = "strided 16" ] || fail "the verdict is not strided 16"
[ "$(pf_delta "$b" "$a" 'd.server_bytes_read <= 1.3 * 4096 * 12000')" = True ] ||
	fail "strided pass: it read pages it did not touch"

step "every page asked for is accounted once"
a=$(pf_snap mnt /ram)
echo "  $(pf_delta '{}' "$a" 'f"{a.issued_pages} asked for: {a.used} used, {a.wasted} wasted, {a.expired} expired, {a.cached} cached, {a.late} late, {a.pending} pending, {a.dropped} dropped; {a.prefetched_pages} read by prefetch"')"
[ "$(pf_delta '{}' "$a" 'a.issued_pages == a.used + a.wasted + a.expired + a.cached + a.late + a.pending + a.dropped')" = True ] ||
	fail "the pages asked for are not all accounted for"
[ "$(pf_delta '{}' "$a" 'a.used + a.wasted + a.expired <= a.prefetched_pages')" = True ] ||
	fail "more pages counted fetched (used, wasted, expired) than the helpers read"

step "the figures in Prometheus' metrics"
assert_grep '^vofirm_prefetch_hit_ratio\{mount=".*"\} 0\.[89]' mnt/.vofirm/metrics
assert_grep '^vofirm_file_prefetch_verdict\{path="/ram"\} 4' mnt/.vofirm/metrics
assert_grep '^vofirm_prefetch_used_pages_total' mnt/.vofirm/metrics

step "the whole file, once more from outside the cgroup"
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/ram $SIZE 7
stop_fs mnt "$FS_PID"
