#!/usr/bin/env bash
# The HUGEPAGE trap is reported: a process that maps a vofirm file with
# MADV_HUGEPAGE (what QEMU does to guest RAM without libvofirm-qemu.so)
# makes the kernel read 2-4 MiB around each miss; vofirm-fs says so in its
# log (naming the companion) and in stats.json and metrics.  The same
# workload without the flag is not reported.
# TIMEOUT: 300
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/prefetch.sh"
require_fuse
grep -q '\[madvise\]\|\[always\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null ||
	skip "transparent huge pages are off: MADV_HUGEPAGE does nothing here"

SIZE=$((256 << 20))
start_memd memd --donate 512M --slab-size 16M --no-auth
start_fs fs mnt --server "$URL"
for f in plain huge; do
	truncate -s $SIZE mnt/$f
	"$MMAPIO" fill mnt/$f $SIZE 3 >/dev/null
	flush_file mnt/$f
done
echo 3 >/proc/sys/vm/drop_caches

step "random misses without the flag: no trap"
in_memcg $((SIZE / 4)) "$MMAPIO" scan mnt/plain $SIZE 3 rand 2000 || fail "wrong data"
a=$(pf_snap mnt /plain)
[ "$(pf_delta "$a" "$a" 'a.hugepage_trap')" = False ] || fail "a trap reported without MADV_HUGEPAGE"

step "random misses on a MADV_HUGEPAGE mapping: reported"
VOFIRM_MMAPIO_ADVICE=huge in_memcg $((SIZE / 4)) "$MMAPIO" scan mnt/huge $SIZE 3 rand 200 || fail "wrong data"
a=$(pf_snap mnt /huge)
echo "  $(pf_delta "$a" "$a" 'f"{a.demand_misses} misses, {a.demand_pages} pages, {a.hugepage_bursts} bursts, verdict {a.verdict}"')"
[ "$(pf_delta "$a" "$a" 'a.verdict')" = hugepage-trap ] || fail "the trap is not the verdict"
assert_grep 'file /huge: .*amplification about [0-9]+x.*is QEMU running with libvofirm-qemu.so' fs.log
assert_grep '"hugepage_trap_files": 1' mnt/.vofirm/stats.json
assert_grep '^vofirm_prefetch_hugepage_trap_files\{mount=".*"\} 1' mnt/.vofirm/metrics
[ "$(grep -c 'is QEMU running with libvofirm-qemu.so' fs.log)" = 1 ] || fail "said more than once a minute"
stop_fs mnt "$FS_PID"
