#!/usr/bin/env bash
# A process confined in a memory cgroup whose limit is a quarter of the
# file maps it MAP_SHARED, writes a pattern over all of it and verifies
# every byte: pages really leave the host (written back to the server) and
# come back (read from it), as the server's counters show.
# TIMEOUT: 300
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

SIZE=$((256 << 20))
start_memd memd --donate 512M --slab-size 16M --no-auth
start_fs fs mnt --server "$URL"
mkdir mnt/vm1
truncate -s $SIZE mnt/vm1/ram

step "fill and verify 256 MiB from a cgroup limited to 64 MiB"
in_memcg $((SIZE / 4)) "$MMAPIO" fill mnt/vm1/ram $SIZE 3
in_memcg $((SIZE / 4)) "$MMAPIO" verify mnt/vm1/ram $SIZE 3

written=$(stat_of "$URL" bytes_written)
read=$(stat_of "$URL" bytes_read)
echo "server: $written bytes written, $read bytes read"
[ "$written" -ge $SIZE ] || fail "only $written bytes reached the server"
# at most a quarter can stay cached: most of the file must have come back
[ "$read" -ge $((SIZE / 2)) ] || fail "only $read bytes were read back from the server"
assert_grep '"bytes_read": [1-9]' mnt/.vofirm/stats.json

step "and once more from outside the cgroup, after dropping the page cache"
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/vm1/ram $SIZE 3
stop_fs mnt "$FS_PID"
