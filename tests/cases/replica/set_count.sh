#!/usr/bin/env bash
# A file's copy count changed after it has its size and data
# (user.vofirm.replicas on the file): raised, it gets a copy of every
# extent at once, filled by the repair (degraded until then), and then
# survives the loss of either server; lowered, the surplus copies go back
# to the pool; more copies than there are servers is ENOSPC and changes
# nothing.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd setfattr
require_cmd getfattr

SIZE=$((32 << 20))
EXT=8
start_memd a --donate 64M --slab-size 4M --no-auth --lease 30s
A=$URL A_PID=$PID
start_memd b --donate 64M --slab-size 4M --no-auth --lease 30s
B=$URL B_PID=$PID
start_fs fs mnt --server "$A" --server "$B" --repair-rate 8M --io-timeout 1s \
	--read-timeout 2s --connect-timeout 1s
count() { getfattr --only-values -n user.vofirm.replicas mnt/ram; }

step "one copy (the mount's count)"
"$MMAPIO" fill mnt/ram $SIZE 4
[ "$(count)" = 1 ] || fail "getfattr shows $(count), not the mount's 1"
[ $(($(granted "$A") + $(granted "$B"))) = $EXT ] || fail "one copy of $EXT extents expected"

step "raised to 2: every extent gets a second copy, filled by the repair"
setfattr -n user.vofirm.replicas -v 2 mnt/ram
d=$(repl degraded_bytes) # at once: the repair runs meanwhile
[ "$(count)" = 2 ] || fail "getfattr shows $(count) after setting 2"
[ "$(granted "$A")" = $EXT ] && [ "$(granted "$B")" = $EXT ] ||
	fail "each server should hold a copy of every extent at once: $(granted "$A") and $(granted "$B")"
echo "degraded right after: $d"
[ "$d" -gt 0 ] || fail "the new copies served as up to date before they were filled"
wait_repl degraded_bytes -eq 0 30
[ "$(file_field /ram replicas)" = 2 ] || fail "stats.json does not show 2 copies"

step "either server alone has every page"
sigstop "$A_PID"
drop_caches
rc=0
"$MMAPIO" verify mnt/ram $SIZE 4 || rc=$?
kill -CONT "$A_PID"
[ $rc = 0 ] || fail "$B alone does not have every page after the count was raised"
sleep 1.2
_up() { [ "$(srv_field "$1" state)" = up ]; }
wait_until 10 "$A is not up again" _up "$A"
repl_is degraded_bytes 0

step "3 copies on 2 servers: ENOSPC, nothing changes"
expect_exit 1 setfattr -n user.vofirm.replicas -v 3 mnt/ram
assert_out "No space left on device"
[ "$(count)" = 2 ] || fail "the refused count stuck: $(count)"
[ "$(granted "$A")" = $EXT ] && [ "$(granted "$B")" = $EXT ] || fail "the refused count changed the slabs held"

step "lowered to 1: the surplus copies go back"
setfattr -n user.vofirm.replicas -v 1 mnt/ram
_one() { [ $(($(granted "$A") + $(granted "$B"))) = $EXT ]; }
wait_until 15 "the second copies were not given back" _one
repl_is degraded_bytes 0
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 4

step "raised again, then $A killed: $B has every page"
setfattr -n user.vofirm.replicas -v 2 mnt/ram
wait_repl degraded_bytes -eq 0 30
kill -KILL "$A_PID"
wait "$A_PID" 2>/dev/null || true
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 4 || fail "the copies added by raising the count do not hold the data"
stop_fs mnt "$FS_PID"
