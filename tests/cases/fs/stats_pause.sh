#!/usr/bin/env bash
# What an operator runs during an incident answers at once: with a server
# stopped (SIGSTOP: a hang, a partition), df, .vofirm/stats.json,
# .vofirm/metrics and vofirmctl status answer from what vofirm-fs already
# knows, well within --io-timeout (10 s here), and say which figures may be
# stale; after SIGCONT the figures are fresh again.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

# The bound each command must answer within: generous next to the 10 s
# --io-timeout that the old code waited on a stopped server.
BOUND_MS=2000

start_memd memd --donate 256M --slab-size 4M --no-auth --lease 120s
MEMD_PID=$PID
MEMD_URL=$URL
start_fs fs mnt --server "$URL" --io-timeout 10s --read-timeout 20s --connect-timeout 1s
truncate -s 16M mnt/ram
"$MMAPIO" fill mnt/ram $((16 << 20)) 3
avail() { df --output=avail -B1 mnt | tail -1 | tr -d ' '; }
size() { df --output=size -B1 mnt | tail -1 | tr -d ' '; }
[ "$(avail)" = $((240 << 20)) ] || fail "avail is $(avail) before the pause"

# timed WHAT CMD...: runs CMD (its output in $OUT), fails unless it succeeds
# within BOUND_MS
timed() {
	local what=$1 t0 ms rc=0; shift
	t0=$(date +%s%N)
	OUT=$(timeout 60 "$@" 2>&1) || rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "$what: ${ms} ms"
	[ $rc = 0 ] || { echo "$OUT"; fail "$what failed ($rc)"; }
	[ $ms -le $BOUND_MS ] || fail "$what took $ms ms with the server stopped (--io-timeout 10 s): it waited on the server"
}
server_field() {
	python3 -c 'import json, sys; print(json.load(open("mnt/.vofirm/stats.json"))["servers"][0][sys.argv[1]])' "$1"
}

step "the server stopped: df, stats.json, metrics and vofirmctl status answer at once"
sigstop "$MEMD_PID"
# a resize that waits on the stopped server (it holds its file, and asks the
# server for room) must not hold up the stats either
truncate -s 64M mnt/big 2>truncate.err &
resize=$!
sleep 0.5
timed "df" df -B1 mnt
echo "$OUT"
timed "df again" df -B1 mnt
[ "$(size)" = $((256 << 20)) ] || fail "df lost the capacity while the server does not answer"
timed "stats.json" cat mnt/.vofirm/stats.json
echo "$OUT" >stats1.json
timed "metrics" cat mnt/.vofirm/metrics
echo "$OUT" >metrics1.txt
timed "vofirmctl status" "$CTL" status --mount mnt
echo "$OUT"
grep -q "not answering" <<<"$OUT" || fail "vofirmctl status does not say the server is not answering"
python3 - <<'PY'
import json
d = json.load(open("stats1.json"))
s = d["servers"][0]
# still UP (no request timed out yet), but it is seen not answering and its
# figures are those last seen
assert s["state"] == "up" and s["answering"] is False, s
assert s["unanswered_ms"] > 0 and s["figures_age_ms"] >= s["unanswered_ms"], s
assert s["capacity"] == 256 << 20 and s["free"] == 240 << 20, s
print("stats.json while stopped:", {k: s[k] for k in ("state", "answering", "unanswered_ms", "figures_age_ms", "free")})
PY
grep -E '^vofirm_server_answering\{server="[^"]*"\} 0$' metrics1.txt || fail "metrics: the server is not shown not answering"
grep -E '^vofirm_server_figures_age_seconds\{server="[^"]*"\} [0-9.]+$' metrics1.txt || fail "metrics: no figures age"

step "past --io-timeout the server is down: still at once, free counts nothing there"
wait $resize && fail "growing a file succeeded with the only server stopped"
cat truncate.err
for _ in $(seq 150); do grep -q 'not answering' fs.log && break; sleep 0.1; done
assert_grep 'not answering' fs.log "vofirm-fs did not notice the pause"
timed "df (down)" df -B1 mnt
[ "$(size)" = $((256 << 20)) ] || fail "df lost the capacity of a server that is down"
[ "$(avail)" = 0 ] || fail "avail is $(avail) with the only server down"
timed "stats.json (down)" cat mnt/.vofirm/stats.json
[ "$(server_field state)" = down ] || fail "state is $(server_field state), not down"
timed "vofirmctl status (down)" "$CTL" status --mount mnt
echo "$OUT"

step "after SIGCONT the figures are fresh again"
kill -CONT "$MEMD_PID"
for _ in $(seq 100); do grep -q 'back after' fs.log && break; sleep 0.1; done
assert_grep 'server tcp://127.0.0.1:[0-9]+: back after [0-9]+ ms; session resumed' fs.log
[ "$(avail)" = $((240 << 20)) ] || fail "avail is $(avail) after the server came back"
# (a STATS unanswered for 125 ms just after the resume reads as not answering)
for _ in $(seq 50); do [ "$(server_field answering)" = True ] && break; sleep 0.1; done
[ "$(server_field answering)" = True ] || fail "the server is not answering 5 s after SIGCONT"
# another mount takes memory on the same server: df here sees it
start_fs fs2 mnt2 --server "$MEMD_URL"
truncate -s 40M mnt2/other
for _ in $(seq 20); do [ "$(avail)" = $((200 << 20)) ] && break; sleep 0.1; done
[ "$(avail)" = $((200 << 20)) ] || fail "avail is $(avail): the other mount's 40M are not seen"
age=$(server_field figures_age_ms)
[ "$age" -lt 2000 ] || fail "the figures are $age ms old after a df"
"$MMAPIO" verify mnt/ram $((16 << 20)) 3
stop_fs mnt2 "$FS_PID"
