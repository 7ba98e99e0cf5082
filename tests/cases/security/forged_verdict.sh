#!/usr/bin/env bash
# A man in the middle without the key cannot make vofirm-fs give up data
# the server still holds: it cuts the connection and answers every LOGIN
# with a forged ESTALE ("your session is gone").  The forgery carries no
# valid MAC, so vofirm-fs does not believe it: no DATA LOST, reads fail
# fast meanwhile, and once the real server is reachable again the session
# is resumed and every page reads back.  Nor can it change what the HELLO
# reply says (the lease): the LOGIN reply's MAC covers it.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
require_cmd python3

make_key key
start_memd memd --donate 64M --slab-size 4M --key-file key --lease 60s
MEMD_PID=$PID
start_mitm mitm "$PORT"
start_fs fs mnt --server "$MITM_URL" --key-file key --io-timeout 1s --read-timeout 2s \
	--connect-timeout 1s
"$MMAPIO" fill mnt/ram $((16 << 20)) 7 >/dev/null

step "the man in the middle cuts the connection and forges ESTALE"
mitm_mode forge
echo 3 >/proc/sys/vm/drop_caches
expect_exit 5 "$MMAPIO" pread mnt/ram $((4 << 20)) 4096
for _ in $(seq 100); do
	[ "$(grep -c 'forged ESTALE' mitm.log)" -ge 3 ] && break
	sleep 0.1
done
cat mitm.log
[ "$(grep -c 'forged ESTALE' mitm.log)" -ge 3 ] || fail "vofirm-fs stopped trying after a forged verdict"
grep 'DATA LOST' fs.log && fail "a forged ESTALE was believed"
assert_grep "LOGIN refused with .* but the refusal does not carry the server's MAC: not believed" fs.log
python3 -c 'import json; d = json.load(open("mnt/.vofirm/stats.json")); assert d["servers"][0]["state"] == "down", d'

step "the real server is reachable again: the session is resumed, the data is there"
mitm_mode forward
for _ in $(seq 100); do grep -q 'back after' fs.log && break; sleep 0.1; done
assert_grep 'back after [0-9]+ ms; session resumed' fs.log
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/ram $((16 << 20)) 7
grep 'DATA LOST' fs.log && fail "data reported lost"
stop_fs mnt "$FS_PID"

step "a HELLO reply with a forged lease is refused"
mitm_mode tamper-hello
expect_exit 5 xt --server "$MITM_URL" --key-file key stats
assert_out "the server could not prove it knows the key"
assert_grep 'tampered with a HELLO reply' mitm.log
stop_memd "$MEMD_PID"
