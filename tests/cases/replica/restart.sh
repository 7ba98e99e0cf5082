#!/usr/bin/env bash
# A server restarted empty (a new instance, which says with the key that
# our session is gone) with two copies: its copies are rebuilt from the
# others at once, without waiting for its lease, and nothing is lost: the
# mount's own report says rebuilt, not lost, and every page reads.  The
# new instance joins the pool again (replica/rejoin), so a rebuilt copy
# may land there as well as on the two others.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((48 << 20))
make_key key
MEMD_ARGS="--key-file key"
declare -A P PORTS
U=()
for i in 1 2 3; do
	# a long lease: the rebuild must come from the server's word, not the lease
	start_memd "m$i" --donate 64M --slab-size 4M --key-file key --lease 60s
	U+=("$URL")
	P[$URL]=$PID
	PORTS[$URL]=$PORT
done
start_fs fs mnt --server "${U[0]}" --server "${U[1]}" --server "${U[2]}" --key-file key \
	--replicas 2 --io-timeout 1s --read-timeout 2s --connect-timeout 1s
"$MMAPIO" fill mnt/ram $SIZE 7
v=${U[0]} vn=$(granted "${U[0]}")
[ "$vn" -gt 0 ] || fail "$v holds nothing"

step "$v killed and restarted empty on its port"
kill -KILL "${P[$v]}"
wait "${P[$v]}" 2>/dev/null || true
"$MEMD" --listen "tcp://127.0.0.1:${PORTS[$v]}" --donate 64M --slab-size 4M --key-file key \
	--lease 60s >restarted.log 2>&1 &
_pids+=("$!")
# a read makes the mount notice at once (else its heartbeat does, later)
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 7
start=$(date +%s)
wait_until 30 "the mount did not learn that its session there is gone" \
	grep -q "server $v: it came back without our session (it restarted, or its lease ran out); every copy there is rebuilt from another copy: /ram at" fs.log
wait_repl degraded_bytes -eq 0 30
took=$(($(date +%s) - start))
[ $took -lt 30 ] || fail "the rebuild waited $took s: for the 60 s lease?"
nrebuilt=$(($(rebuilt_on "${U[0]}" | wc -l) + $(rebuilt_on "${U[1]}" | wc -l) + $(rebuilt_on "${U[2]}" | wc -l)))
[ "$nrebuilt" = "$vn" ] || fail "$vn copies were there; the log names $nrebuilt rebuilt"
grep -E "server $v: DATA LOST: .*files affected" fs.log && fail "the mount reported files lost with a copy left"
repl_is lost_bytes 0
repl_is unprotected_bytes 0
[ "$(srv_field "$v" state)" = lost ] || fail "stats.json does not show $v's old instance lost"
total=$(($(granted "${U[0]}") + $(granted "${U[1]}") + $(granted "${U[2]}")))
[ "$total" = 24 ] || fail "12 extents with 2 copies each are 24 slabs; the servers hold $total"

step "every page reads, with either of the two first servers gone"
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 7
sigstop "${P[${U[1]}]}"
drop_caches
rc=0
"$MMAPIO" verify mnt/ram $SIZE 7 || rc=$?
kill -CONT "${P[${U[1]}]}"
[ $rc = 0 ] || fail "without ${U[1]} some page does not read"
sleep 1.2
_up() { [ "$(srv_field "$1" state)" = up ]; }
wait_until 10 "${U[1]} is not up again" _up "${U[1]}"
kill -KILL "${P[${U[2]}]}"
wait "${P[${U[2]}]}" 2>/dev/null || true
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 7 || fail "without ${U[2]} some page does not read"
stop_fs mnt "$FS_PID"
