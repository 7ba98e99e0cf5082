#!/usr/bin/env bash
# A key file owned by another user (who could rewrite it and so choose the
# key) is refused at start, naming the owner.
# TIMEOUT: 30
. "$(dirname "$0")/../../lib/common.sh"
[ "$(id -u)" = 0 ] || skip "only root can give a file to another user"

make_key theirs
chown 65534 theirs
expect_exit 2 timeout 5 "$MEMD" --listen tcp://127.0.0.1:0 --donate 16M --slab-size 1M --key-file theirs
grep -q "key file theirs: owned by uid 65534, not by this user (uid 0) or root" <<<"$OUT" || fail "$OUT"
