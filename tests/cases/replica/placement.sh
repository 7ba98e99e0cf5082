#!/usr/bin/env bash
# Where copies go, checked from the servers' side.  A size request reserves
# every copy, all or nothing: one that would fit once but not twice fails
# with ENOSPC at ftruncate/fallocate time, the log says what is short, and
# no server has granted anything.  df shows what a request can get.  The
# copies of one extent are never on one server: with each server stopped
# in turn, the others serve every page (and, with 3 copies, each server
# alone does).  One server cannot hold 2 copies: ENOSPC, saying why.
# TIMEOUT: 150
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd setfattr
require_cmd getfattr

U=()
declare -A P
for i in 1 2 3; do
	start_memd "m$i" --donate 32M --slab-size 4M --no-auth --lease 30s
	U+=("$URL")
	P[$URL]=$PID
done
start_fs fs mnt --server "${U[0]}" --server "${U[1]}" --server "${U[2]}" --replicas 2 \
	--io-timeout 1s --read-timeout 2s --connect-timeout 1s
avail() { df --output=avail -B1 mnt | tail -1 | tr -d ' '; }
granted_all() { echo "$(granted "${U[0]}") $(granted "${U[1]}") $(granted "${U[2]}")"; }

step "96 MiB raw, 2 copies: df shows 48 MiB"
[ "$(avail)" = $((48 << 20)) ] || fail "df shows $(avail) bytes available, not 48 MiB (96 MiB over 2 copies)"

step "52 MiB would fit once, not twice: ENOSPC at size time, nothing granted"
expect_exit 1 truncate -s 52M mnt/big
assert_out "No space left on device"
assert_grep "file /big: .*refused: needs 26 slab\(s\) \(104 MiB, every copy counted\), the servers that are up have 24 free \(96 MiB\): short by 2 \(8 MiB\)" fs.log
expect_exit 1 fallocate -l 52M mnt/big2
assert_out "No space left on device"
[ "$(grep -c 'refused: needs 26 slab(s) (104 MiB, every copy counted)' fs.log)" = 2 ] ||
	fail "the fallocate refusal was not logged with every copy counted"
[ "$(granted_all)" = "0 0 0" ] || fail "a refused request left slabs granted: $(granted_all)"
[ "$(stat -c %s mnt/big)" = 0 ] || fail "the refused truncate changed the size"

step "what df shows can be had: 48 MiB, every slab of the pool"
truncate -s 48M mnt/big
[ "$(granted_all)" = "8 8 8" ] || fail "48 MiB x 2 should take all 8 slabs of each server: $(granted_all)"
[ "$(avail)" = 0 ] || fail "df shows $(avail) bytes available in a full pool"
expect_exit 1 truncate -s 4M mnt/more
assert_out "No space left on device"

step "every server stopped in turn: the other two serve every page"
"$MMAPIO" fill mnt/big $((48 << 20)) 3
for x in "${U[@]}"; do
	others=()
	for u in "${U[@]}"; do [ "$u" = "$x" ] || others+=("$u"); done
	sigstop "${P[$x]}"
	drop_caches
	r0=$(($(memd_read "${others[0]}") + $(memd_read "${others[1]}")))
	"$MMAPIO" verify mnt/big $((48 << 20)) 3 ||
		{ kill -CONT "${P[$x]}"; fail "with $x stopped some page has no copy elsewhere"; }
	r1=$(($(memd_read "${others[0]}") + $(memd_read "${others[1]}")))
	kill -CONT "${P[$x]}"
	echo "$x stopped: $(((r1 - r0) >> 20)) MiB from the others"
	[ $((r1 - r0)) -ge $((48 << 20)) ] || fail "only $((r1 - r0)) bytes came from the others"
	sleep 1.2 # a request to $x timing out while it was stopped has done so
	_up() { [ "$(srv_field "$1" state)" = up ]; }
	wait_until 10 "$x is not up again" _up "$x"
done
repl_is degraded_bytes 0
rm mnt/big mnt/big2 mnt/more
wait_until 10 "the slabs of the removed files are not back" eval '[ "$(granted_all)" = "0 0 0" ]'

step "a directory asking for 3 copies: each server alone has every page of its files"
mkdir mnt/three
setfattr -n user.vofirm.replicas -v 3 mnt/three
[ "$(getfattr --only-values -n user.vofirm.replicas mnt/three)" = 3 ] || fail "getfattr does not show 3"
"$MMAPIO" fill mnt/three/f $((16 << 20)) 5
[ "$(getfattr --only-values -n user.vofirm.replicas mnt/three/f)" = 3 ] || fail "the file did not inherit 3 copies"
[ "$(granted_all)" = "4 4 4" ] || fail "4 extents x 3 copies: $(granted_all)"
[ "$(file_field /three/f replicas)" = 3 ] || fail "stats.json does not show 3 copies for the file"
for x in "${U[@]}"; do
	for u in "${U[@]}"; do [ "$u" = "$x" ] || sigstop "${P[$u]}"; done
	drop_caches
	r0=$(memd_read "$x")
	rc=0
	"$MMAPIO" verify mnt/three/f $((16 << 20)) 5 || rc=$?
	r1=$(memd_read "$x")
	for u in "${U[@]}"; do kill -CONT "${P[$u]}"; done
	[ $rc = 0 ] || fail "$x alone does not have every page of a 3-copy file"
	[ $((r1 - r0)) -ge $((16 << 20)) ] || fail "only $((r1 - r0)) bytes came from $x"
	sleep 1.2
	for u in "${U[@]}"; do wait_until 10 "$u is not up again" _up "$u"; done
done
stop_fs mnt "$FS_PID"

step "one server, 2 copies: ENOSPC, short of servers"
start_memd solo --donate 64M --slab-size 4M --no-auth
start_fs fs1 mnt1 --server "$URL" --replicas 2
expect_exit 1 truncate -s 4M mnt1/f
assert_out "No space left on device"
assert_grep "file /f: .*refused: needs 2 copies of each slab on distinct servers, and only 1 server\(s\) that are up have room" fs1.log
[ "$(granted "$URL")" = 0 ] || fail "the refused request left $(granted "$URL") slabs granted"
stop_fs mnt1 "$FS_PID"
