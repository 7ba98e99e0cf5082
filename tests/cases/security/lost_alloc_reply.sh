#!/usr/bin/env bash
# An ALLOC whose reply is lost with the connection (the server granted the
# slabs, vofirm-fs never heard of them): the size change fails with EIO,
# not ENOSPC (the pool has room), and when the connection is back
# vofirm-fs sees that its session holds more slabs than it knows of, lists
# them and frees the orphans.  Nothing stays granted that no file maps.
# TIMEOUT: 90
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
require_cmd python3

make_key key
start_memd memd --donate 64M --slab-size 4M --key-file key --lease 60s
MEMD_PID=$PID
start_mitm mitm "$PORT"
start_fs fs mnt --server "$MITM_URL" --key-file key --io-timeout 1s --read-timeout 2s \
	--connect-timeout 1s
truncate -s 8M mnt/kept

step "the ALLOC reply of a 12M file is lost with the connection"
mitm_mode drop-alloc
expect_exit 1 truncate -s 12M mnt/f
echo "$OUT"
assert_grep 'swallowed an ALLOC reply' mitm.log
assert_out 'Input/output error'
assert_grep 'connection lost during an allocation of 3 slab\(s\)' fs.log

step "after the reconnect the 3 orphans are freed; the 2 slabs of the file that has its size stay"
for _ in $(seq 100); do grep -q 'freed 3 orphan slab' fs.log && break; sleep 0.1; done
assert_grep 'our session holds 5 slab\(s\) there, this mount knows of 2: looking for orphans' fs.log
assert_grep 'freed 3 orphan slab\(s\): granted to this mount by an ALLOC whose reply was lost' fs.log
[ "$(stat_of "$URL" slabs_granted --key-file key)" = 2 ] || fail "slabs leaked: $(stat_of "$URL" slabs_granted --key-file key) granted, the mount holds 2"

step "the mount goes on: the size change works now, and the file that kept its size reads"
truncate -s 12M mnt/f
[ "$(stat_of "$URL" slabs_granted --key-file key)" = 5 ] || fail "not 5 slabs granted after the retry"
"$MMAPIO" fill mnt/kept $((8 << 20)) 3 >/dev/null
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/kept $((8 << 20)) 3
stop_fs mnt "$FS_PID"
[ "$(stat_of "$URL" slabs_granted --key-file key)" = 0 ] || fail "slabs still granted after the unmount"
stop_memd "$MEMD_PID"
