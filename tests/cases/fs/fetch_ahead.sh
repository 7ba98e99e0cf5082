#!/usr/bin/env bash
# Fetch-ahead (src/fs/fetchahead.c): a sequential reader's next windows are
# read from the server while its current READ is answered.  Proved here
# against a real memd: a sequential pass is answered from windows fetched
# ahead (the mount's own counters) and verifies; random READs fetch
# nothing ahead; a writer racing just ahead of a sequential reader (the
# windows' ranges) never lets a stale window through, over thousands of
# writes, while windows are dropped for it; a fetch that failed while the
# server was stopped fails no READ once it is back; --fetch-ahead 0 turns
# it off.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((32 << 20))
RACE="$TOP/tests/tools/fa_race.py"
fa() { fsj "d['page_path']['fetch_ahead']['$1']"; }

start_memd a --donate 128M --slab-size 8M --no-auth
A=$URL MEMD_PID=$PID
# the kernel's readahead: the sequential READs fetch-ahead follows
start_fs fs mnt --server "$A" --prefetch kernel
python3 "$RACE" fill mnt/f $SIZE

step "a sequential pass is answered from windows fetched ahead"
drop_caches
w0=$(fa windows) u0=$(fa used_bytes)
python3 - mnt/f $SIZE <<'PY' || fail "the sequential pass read wrong data"
import struct, sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    for pg in range(size // 4096):
        b = f.read(4096)
        if struct.unpack_from("<QQ", b) != (pg, 0):
            sys.exit(f"page {pg} reads {struct.unpack_from('<QQ', b)}")
PY
w=$(($(fa windows) - w0)) u=$(($(fa used_bytes) - u0))
echo "sequential pass: $w windows fetched ahead, $((u >> 20)) MiB of READs answered from them"
[ "$w" -gt 0 ] || fail "a sequential pass fetched no window ahead: $(fsj "d['page_path']['fetch_ahead']")"
[ "$u" -ge $((SIZE / 2)) ] ||
	fail "only $u of $SIZE bytes answered from windows fetched ahead: $(fsj "d['page_path']['fetch_ahead']")"

step "random READs fetch nothing ahead"
w0=$(fa windows)
python3 "$RACE" rand mnt/f $SIZE 200 || fail "random reads read wrong data"
w=$(($(fa windows) - w0))
[ "$w" -le 1 ] || fail "200 random READs fetched $w windows ahead"

step "a writer just ahead of a sequential reader: no stale window is ever served"
s0=$(fa stale) u0=$(fa used_bytes)
python3 "$RACE" race mnt/f $SIZE 8 || fail "a window fetched ahead was served stale (see above)"
s=$(($(fa stale) - s0)) u=$(($(fa used_bytes) - u0))
echo "during the race: $s windows dropped as written since, $((u >> 20)) MiB answered from windows"
[ "$s" -gt 0 ] || fail "no window was ever written while fetched ahead: the race did not race"
[ "$u" -gt 0 ] || fail "no READ was answered from a window during the race"

step "a fetch that failed (server stopped) does not fail the READs after it is back"
stop_fs mnt "$FS_PID"
start_fs fs3 mnt --server "$A" --prefetch kernel --read-timeout 1s --io-timeout 1s
python3 "$RACE" fill mnt/f $SIZE
e0=$(fa errors)
python3 "$RACE" stall mnt/f $SIZE "$MEMD_PID" || fail "READs failed after the server was back"
[ "$(fa errors)" -gt "$e0" ] || fail "no fetch ahead failed while the server was stopped: $(fsj "d['page_path']['fetch_ahead']")"

step "--fetch-ahead 0: off"
stop_fs mnt "$FS_PID"
start_fs fs2 mnt --server "$A" --prefetch kernel --fetch-ahead 0
python3 "$RACE" fill mnt/f $SIZE
drop_caches
python3 "$RACE" rand mnt/f $SIZE 20 >/dev/null || fail "reads with --fetch-ahead 0 read wrong data"
cat mnt/f >/dev/null
[ "$(fa windows)" = 0 ] || fail "--fetch-ahead 0 fetched windows: $(fsj "d['page_path']['fetch_ahead']")"
[ "$(fa max)" = 0 ] || fail "--fetch-ahead 0 is not shown as max 0"
echo "fetch-ahead verified"
