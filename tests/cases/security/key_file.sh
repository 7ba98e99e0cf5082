#!/usr/bin/env bash
# Key files that would hang or weaken the daemons are refused at start,
# with a message naming the file and the reason: a FIFO (opening it used
# to wait for a writer forever), a key group or others may read (unless
# --insecure-key-perms).  security/key_owner: a key of another user.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

make_key key
mkfifo fifo

step "a FIFO as the key: refused at once, not a hang"
expect_exit 2 timeout 5 "$MEMD" --listen tcp://127.0.0.1:0 --donate 16M --slab-size 1M --key-file fifo
grep -q "key file fifo: not a regular file" <<<"$OUT" || fail "no reason given: $OUT"
mkdir -p mnt
expect_exit 2 timeout 5 "$VFS" mnt -f --server tcp://127.0.0.1:1 --key-file fifo
grep -q "key file fifo: not a regular file" <<<"$OUT" || fail "vofirm-fs gave no reason: $OUT"

step "a key that group or others may read: refused, unless --insecure-key-perms"
cp key open; chmod 0644 open
expect_exit 2 timeout 5 "$MEMD" --listen tcp://127.0.0.1:0 --donate 16M --slab-size 1M --key-file open
grep -q "key file open: accessible by group or others (mode 0644)" <<<"$OUT" || fail "$OUT"
grep -q -- "--insecure-key-perms" <<<"$OUT" || fail "the refusal does not name the way out: $OUT"
expect_exit 2 timeout 5 "$VFS" mnt -f --server tcp://127.0.0.1:1 --key-file open
start_memd memd --donate 16M --slab-size 1M --key-file open --insecure-key-perms
assert_grep "key file open is accessible by group or others \(mode 0644\); accepted" memd.log
xt --server "$URL" --key-file key stats >/dev/null || fail "the server with an accepted open key does not work"
stop_memd "$PID"

