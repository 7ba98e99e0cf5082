#!/usr/bin/env bash
# vofirm-fs refuses a bad setting before it connects or mounts anything
# (so this needs neither FUSE nor root): exit 2 with a message that names
# the setting, the value and what is wrong with it, on the command line
# and in a config file alike.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"

S=(--server tcp://127.0.0.1:1)

# expect_refusal 'message regex' ARGS...
expect_refusal() {
	local msg=$1; shift
	expect_exit 2 "$VFS" mnt -f "$@"
	assert_out "$msg" "vofirm-fs $*: message does not say '$msg'"
	echo "ok: vofirm-fs $* -> $(echo "$OUT" | tail -1 | sed 's/^.*: error: //')"
}

step "a value that does not parse is refused for what is wrong with it"
expect_refusal "read-timeout 'soon': duration must be a whole number" "${S[@]}" --read-timeout soon
expect_refusal "io-timeout '5x': unknown duration unit" "${S[@]}" --io-timeout 5x
expect_refusal "connect-timeout 'abc': duration must be a whole number" "${S[@]}" --connect-timeout abc
expect_refusal "readahead '12Q': unknown unit suffix" "${S[@]}" --readahead 12Q
expect_refusal "readahead '99999999999999999999T': size too large" "${S[@]}" --readahead 99999999999999999999T

step "a value out of range is refused as such"
expect_refusal 'read-timeout.*must be more than 0' "${S[@]}" --read-timeout 0
expect_refusal "readahead '32M': at most 16" "${S[@]}" --readahead 32M
expect_refusal "threads '0': must be a number from 1 to 256" "${S[@]}" --threads 0
expect_refusal "replicas '0': must be a number from 1 to 3" "${S[@]}" --replicas 0
expect_refusal "replicas '4': must be a number from 1 to 3" "${S[@]}" --replicas 4
expect_refusal "repair-rate '9X': unknown unit suffix" "${S[@]}" --repair-rate 9X

step "the same from a config file"
printf '[fs]\nserver = tcp://127.0.0.1:1\nreadahead = 12Q\n' >ra.conf
expect_refusal "config file ra.conf: readahead '12Q': unknown unit suffix" --config ra.conf
printf '[fs]\nserver = tcp://127.0.0.1:1\nio-timeout = later\n' >io.conf
expect_refusal "config file io.conf: io-timeout 'later': duration must be a whole number" --config io.conf
printf '[fs]\nserver = tcp://127.0.0.1:1\nreplicas = two\n' >rep.conf
expect_refusal "config file rep.conf: replicas 'two': must be a number from 1 to 3" --config rep.conf
