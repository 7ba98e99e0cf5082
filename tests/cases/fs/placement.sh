#!/usr/bin/env bash
# Slabs of one file are spread over several servers, and the data is right
# wherever it lives.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

start_memd m1 --donate 64M --slab-size 4M --no-auth
U1=$URL
start_memd m2 --donate 64M --slab-size 4M --no-auth
U2=$URL
start_memd m3 --donate 64M --slab-size 4M --no-auth
U3=$URL
start_fs fs mnt --server "$U1" --server "$U2" --server "$U3"

step "one 96 MiB file: 24 slabs over three servers"
"$MMAPIO" fill mnt/ram $((96 << 20)) 11
g1=$(stat_of "$U1" slabs_granted); g2=$(stat_of "$U2" slabs_granted); g3=$(stat_of "$U3" slabs_granted)
echo "slabs: $g1 on m1, $g2 on m2, $g3 on m3"
[ $((g1 + g2 + g3)) = 24 ] || fail "24 slabs expected in all"
# power of two choices on free space keeps equal servers within a few slabs
for g in $g1 $g2 $g3; do
	[ "$g" -ge 5 ] || fail "uneven spread: $g1/$g2/$g3"
done

step "a second file goes where there is most room"
hog=$((16 - g1 - 1))
xt --server "$U1" alloc --slabs $hog --session hog.sess >/dev/null   # another client fills m1 but one
truncate -s 16M mnt/small
[ "$(stat_of "$U1" slabs_granted)" = $((g1 + hog)) ] || fail "the second file went to the nearly full server"
[ $(($(stat_of "$U2" slabs_granted) + $(stat_of "$U3" slabs_granted))) = $((g2 + g3 + 4)) ] ||
	fail "the second file's 4 slabs are not on m2 and m3"
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/ram $((96 << 20)) 11
for u in "$U1" "$U2" "$U3"; do
	[ "$(stat_of "$u" bytes_read)" -gt 0 ] || fail "$u served no reads"
done

step "servers with different slab sizes cannot be mixed"
start_memd odd --donate 64M --slab-size 8M --no-auth
mkdir -p mnt2
expect_exit 1 "$VFS" mnt2 -f --server "$U1" --server "$URL"
assert_out "give every vofirm-memd of a mount the same --slab-size"
stop_fs mnt "$FS_PID"
