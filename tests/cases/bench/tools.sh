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
