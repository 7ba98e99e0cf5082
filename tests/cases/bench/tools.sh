#!/usr/bin/env bash
# The benchmark tools work (they are not timed here: speed is measured by
# make bench): every pagebench mode gives its figures on a tmpfs file, a
# vofirm-fs file over mem://, and the transport round trip.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
PB=$BIN/tests/vofirm-pagebench

start_memd memd --donate 64M --slab-size 4M --no-auth
start_fs fs mnt --server mem://128M
mkdir -p shm
mount -t tmpfs -o size=64M vofirm-test shm
_mounts+=("$WORK/shm")
check() { # JSON
	python3 -c 'import json,sys; d = json.loads(sys.argv[1]); assert d["samples"] > 0 and d["p50_us"] > 0 and d["p99_us"] >= d["p50_us"] and d["mb_s"] > 0, d; print(d)' "$1" ||
		fail "bad figures: $1"
}
for f in shm/b mnt/b; do
	"$MMAPIO" fill "$f" $((16 << 20)) 1 >/dev/null
	"$PB" drop "$f"
	check "$("$PB" readfault "$f" $((16 << 20)) rand 1000)"
	"$PB" drop "$f"
	check "$("$PB" readfault "$f" $((16 << 20)) rand 1000)"
	check "$("$PB" writefault "$f" $((16 << 20)) 1000)"
	"$MMAPIO" fill "$f" $((16 << 20)) 1 >/dev/null # writefault wrote over it
	"$PB" drop "$f"
	# touch: each word read is stored back (a guest's check-and-rewrite);
	# the data stays what fill wrote
	check "$("$PB" readfault "$f" $((16 << 20)) touch 1000)"
	"$PB" drop "$f"
	"$MMAPIO" check "$f" $((16 << 20)) 1 >/dev/null || fail "touch changed $f"
done
check "$("$PB" rtt "$URL" 500)"
check "$("$PB" rtt mem://64M 500)"
expect_exit 2 "$PB" bogus
expect_exit 2 "$PB" readfault shm/b $((16 << 20)) bogus 10

# vofirm-mmapio's timed workload (the guest's during a repair): a tick line
# per 200 ms until DIR/stop, every page it read checked
mkdir -p timed
( for _ in $(seq 300); do [ -e timed/filled ] && break; sleep 0.1; done; sleep 1.5; touch timed/stop ) &
stopper=$!
"$MMAPIO" anon - $((8 << 20)) 3 timed 200 timed >timed.out || { cat timed.out; fail "the timed workload failed"; }
wait $stopper
[ -e timed/filled ] || fail "the timed workload did not say it had filled its memory"
python3 - timed.out <<'PY' || fail "bad tick lines: $(cat timed.out)"
import sys
t = [l.split() for l in open(sys.argv[1]) if l.startswith("tick ")]
assert len(t) >= 4, t
assert all(int(w[2]) > 0 and w[3] == "0" for w in t), t
assert all(float(b[1]) - float(a[1]) > 0.1 for a, b in zip(t, t[1:])), t
assert open(sys.argv[1]).read().splitlines()[-1].endswith(", 0 bad; every word checked after: 0 bad")
PY
g=$("$MMAPIO" clock)
python3 -c 'import sys, time; assert abs(float(sys.argv[1]) - time.time()) < 5' "$g" ||
	fail "vofirm-mmapio clock says $g"

# the bench's phases of a repair, from made-up ticks: a guest clock 100 s
# ahead, one tick a second of 1000 ops before the kill (t 10), 500 during
# detection (to 14), 250 during the repair (to 20), 1000 after; the ticks
# that straddle a boundary count nowhere
python3 - >ticks <<'PY'
for t in range(1, 30):
    ops = 1000 if t <= 10 else 500 if t <= 14 else 250 if t <= 20 else 1000
    print(f"tick {t + 100.0:.6f} {ops} 0")
PY
res=$(python3 "$TOP/tests/bench/repair.py" vm ticks 10.2 \
	'{"detect_s": 4.0, "repair_s": 6.0, "rebuilt_mib": 384, "mib_s": 64}' 50,150.1,50.2 60,170,80)
echo "$res"
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["clock_uncertainty_s"] == 0.1, d
assert (d["before"]["ticks"], d["before"]["median_ops_s"]) == (9, 1000), d
assert (d["detect"]["ticks"], d["detect"]["median_ops_s"]) == (3, 500), d
assert (d["repair"]["ticks"], d["repair"]["median_ops_s"]) == (5, 250), d
assert d["after"]["median_ops_s"] == 1000 and d["repair_over_before"] == 0.25, d' "$res" ||
	fail "repair.py vm got the phases wrong"
