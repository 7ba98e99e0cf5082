#!/usr/bin/env bash
# A config file holds the same settings as the command line; the command
# line wins.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"

make_key key
cat >memd.conf <<CONF
# vofirm-memd settings for this test
[memd]
listen = tcp://127.0.0.1:0
donate = 32M
slab-size = 2M
key-file = $WORK/key
lease = 5s
CONF

step "settings from the file alone"
start_memd file --config memd.conf
[ "$(stat_of "$URL" capacity --key-file key)" = $((32 << 20)) ] || fail "capacity is not the file's 32M"
[ "$(stat_of "$URL" slab_size --key-file key)" = $((2 << 20)) ] || fail "slab size is not the file's 2M"
assert_grep 'lease 5000 ms' file.log
stop_memd "$PID" file

step "the command line wins"
start_memd cli --config memd.conf --donate 64M --lease 9s
[ "$(stat_of "$URL" capacity --key-file key)" = $((64 << 20)) ] || fail "--donate did not win over the file"
[ "$(stat_of "$URL" slabs_total --key-file key)" = 32 ] || fail "slab size from the file lost"
assert_grep 'lease 9000 ms' cli.log
stop_memd "$PID" cli
