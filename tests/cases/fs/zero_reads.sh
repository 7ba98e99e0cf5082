#!/usr/bin/env bash
# Pages never written (and punched pages) read as zeros without a single
# request to the server.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

start_memd memd --donate 256M --slab-size 4M --no-auth
start_fs fs mnt --server "$URL"
truncate -s 128M mnt/ram
"$MMAPIO" zero mnt/ram $((128 << 20))
dd if=mnt/ram bs=1M status=none | cmp - <(head -c 128M /dev/zero)
[ "$(stat_of "$URL" reads)" = 0 ] || fail "never-written pages caused $(stat_of "$URL" reads) reads"

step "one written page costs one read of it, no more"
printf 'hello' | dd of=mnt/ram bs=1 seek=$((64 << 20)) conv=notrunc status=none
echo 3 >/proc/sys/vm/drop_caches
dd if=mnt/ram bs=1M status=none | cmp - <(head -c 128M /dev/zero) >cmp.out || true
grep -q "byte $(((64 << 20) + 1))" cmp.out || fail "the written bytes did not read back: $(cat cmp.out)"
reads=$(stat_of "$URL" reads)
echo "reads after reading 128 MiB with one written page: $reads"
[ "$reads" -ge 1 ] && [ "$reads" -le 2 ] || fail "$reads reads for one written page"
stop_fs mnt "$FS_PID"
