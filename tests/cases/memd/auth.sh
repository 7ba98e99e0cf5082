#!/usr/bin/env bash
# A wrong key is refused with a clear message on both sides; a client
# without a key, and a server without authentication, are refused too.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

make_key key
make_key other
start_memd memd --donate 64M --slab-size 1M --key-file key

step "right key"
xt --server "$URL" --key-file key stats >stats.out
assert_grep '^capacity=67108864$' stats.out

step "wrong key"
expect_exit 5 xt --server "$URL" --key-file other --name intruder stats
assert_out "authentication failed: the server refused our key"
assert_grep "client 'intruder' at 127.0.0.1:[0-9]+: authentication failed \(wrong key\)" memd.log \
	"memd did not log the wrong key"

step "no key for a server that needs one"
expect_exit 5 xt --server "$URL" stats
assert_out "requires authentication, and no key was given"

step "a refused client got nothing: no session, nothing granted"
[ "$(stat_of "$URL" sessions --key-file key)" = 1 ] || fail "a refused client holds a session"

step "a key for a server that does not authenticate"
start_memd open --donate 64M --slab-size 1M --no-auth
expect_exit 5 xt --server "$URL" --key-file key stats
assert_out "does not authenticate clients"
xt --server "$URL" stats >open.out
assert_grep '^slabs_total=64$' open.out
assert_grep 'NO authentication' open.log
