#!/usr/bin/env bash
# Crash consistency: a storm of create, write, truncate (grow and shrink),
# fallocate punch, unlink, rename, mkdir and rmdir on the mount while the
# worker is SIGKILLed at random moments, 30 times (tests/tools/storm.py).
# After each restart the file tree, every size and (every third time) every
# byte match what the acknowledged operations say (an operation under way
# at the kill may or may not have been applied: either is accepted, for it
# only), and the servers hold exactly the slabs the files' sizes need: no
# orphan is left.  At the end the unmount gives back exactly those.
# TIMEOUT: 300
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/tools/crash.sh"
require_fuse
require_cmd python3

start_memd memd1 --donate 128M --slab-size 1M --no-auth --lease 20s
U1=$URL
start_memd memd2 --donate 128M --slab-size 1M --no-auth --lease 20s
U2=$URL
start_fs fs mnt --server "$U1" --server "$U2"
SUP=$FS_PID

step "the storm, and 30 kills of the worker"
python3 "$TOP/tests/tools/storm.py" mnt --xtest "$XTEST" --server "$U1" --server "$U2" \
	--kills 30 --seconds 200 --journal storm.journal ${STORM_SEED:+--seed $STORM_SEED} |
	tee storm.out || fail "the storm found a difference (above; storm.journal has every operation)"
grep -q "^storm: OK: 30 kills" storm.out || fail "the storm did not get through 30 kills"
kill -0 "$SUP" || fail "the supervisor died"
[ "$(fs_field mnt worker_restarts)" = 30 ] || fail "worker_restarts is $(fs_field mnt worker_restarts), not 30"

step "at the end: the servers hold what the files need, and give exactly that back"
need=$(python3 -c '
import json
d = json.load(open("mnt/.vofirm/stats.json"))
print(sum((f["size"] + d["slab_size"] - 1) // d["slab_size"] for f in d["files"]))')
granted=$(( $(memd_granted "$U1") + $(memd_granted "$U2") ))
echo "the files need $need slabs; the servers have $granted granted"
[ "$granted" = "$need" ] || fail "the servers have $granted slabs granted, the files need $need"
for m in memd1 memd2; do
	grep "no reconnect within the lease" $m.log && fail "$m let a session go"
	[ "$(grep -c "vofirm-fs@.*new session" $m.log)" = 1 ] || fail "vofirm-fs started a new session on $m"
done
stop_fs mnt "$SUP"
freed=0
for m in memd1 memd2; do
	n=$(sed -n "s/.*'vofirm-fs@.*ended its session; freeing \([0-9]*\) slabs.*/\1/p" $m.log)
	[ -n "$n" ] || fail "$m: vofirm-fs did not end its session"
	freed=$((freed + n))
done
[ "$freed" = "$need" ] || fail "the unmount gave back $freed slabs, the files had $need"
for u in "$U1" "$U2"; do
	[ "$(memd_granted "$u")" = 0 ] || fail "$u still has $(memd_granted "$u") slabs granted"
done
grep -h "orphan" fs.log || true
