#!/usr/bin/env bash
# vofirm-fs start-up: a server that is unreachable at mount time, a wrong
# key, bad command lines and config files are clear errors and mount
# nothing; the config file works and the command line wins; without -f it
# detaches once mounted and logs to syslog.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
mkdir -p mnt
not_mounted() { ! grep -q " $(realpath mnt) fuse" /proc/mounts || fail "mnt is mounted after: $*"; }

# expect_refusal CODE 'message' ARGS...
expect_refusal() {
	local code=$1 msg=$2; shift 2
	expect_exit "$code" "$VFS" "$@"
	assert_out "$msg" "vofirm-fs $*: message does not say '$msg'"
	not_mounted "$@"
	echo "ok: vofirm-fs $* -> $(echo "$OUT" | grep -E 'error' | tail -1 | sed 's/^.*: error: //')"
}

make_key key
make_key other
start_memd memd --donate 64M --slab-size 4M --key-file key

expect_refusal 1 'tcp://127.0.0.1:1: cannot connect: Connection refused' mnt -f --server tcp://127.0.0.1:1
expect_refusal 1 'cannot mount: memory server tcp://127.0.0.1:1 is not usable' mnt -f --server "$URL" --key-file key --server tcp://127.0.0.1:1
expect_refusal 1 'authentication failed: the server refused our key' mnt -f --server "$URL" --key-file other
expect_refusal 1 'requires authentication, and no key was given' mnt -f --server "$URL"
expect_refusal 2 'no memory server' mnt -f
expect_refusal 2 'no mount point' -f --server "$URL"
expect_refusal 2 "server address 'nowhere': address must start with tcp://" mnt -f --server nowhere
expect_refusal 1 'rdma://127.0.0.1:7471: cannot use RDMA' mnt -f --server rdma://127.0.0.1:7471
expect_refusal 2 "read-timeout 'soon'" mnt -f --server "$URL" --read-timeout soon
expect_refusal 2 'key file /nonexistent: cannot open' mnt -f --server "$URL" --key-file /nonexistent
expect_refusal 2 'is given twice' mnt -f --server "$URL" --server "$URL"
expect_refusal 2 "unknown option '--frob'" mnt -f --server "$URL" --frob
expect_refusal 1 'cannot mount at /nonexistent/dir' /nonexistent/dir -f --server "$URL" --key-file key
printf '[fs]\nserver=%s\nbogus=1\n' "$URL" >bad.conf
expect_refusal 2 "config file bad.conf: unknown setting 'bogus'" mnt -f --config bad.conf
[ "$(stat_of "$URL" sessions --key-file key)" = 1 ] || fail "a refused mount left a session on the server"

step "the config file, and the command line over it"
printf '[fs]\nserver = tcp://127.0.0.1:1;%s\nkey-file = %s\nread-timeout = 7s\n' "$URL" "$WORK/key" >fs.conf
expect_refusal 1 'tcp://127.0.0.1:1: cannot connect' mnt -f --config fs.conf
start_fs conf mnt --config fs.conf --server "$URL" --read-timeout 4s
assert_grep 'read timeout 4000 ms' conf.log
stop_fs mnt "$FS_PID"

step "without -f: detaches once mounted, exit 0, logs to syslog"
"$VFS" mnt --server "$URL" --key-file key >bg.out 2>&1 || { cat bg.out; fail "detached start failed"; }
grep -q " $(realpath mnt) fuse.vofirm " /proc/mounts || fail "not mounted after a detached start"
pid=$(pgrep -f "^$VFS mnt --server $URL" | head -1)
[ -n "$pid" ] || fail "no detached daemon"
_pids+=("$pid")
truncate -s 8M mnt/f && [ "$(stat -c %s mnt/f)" = 8388608 ] || fail "the detached mount does not work"
fusermount3 -u mnt
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the detached daemon did not exit after the unmount"
expect_exit 1 "$VFS" mnt --server tcp://127.0.0.1:1
assert_out 'cannot connect'
not_mounted "detached start against a dead server"

step "--help and --version"
# the whole text first: grep -q stops reading at the match (SIGPIPE)
grep -q -- '--server URL' <<<"$("$VFS" --help)" || fail "--help does not show --server"
"$VFS" --version | grep -q '^vofirm-fs [0-9]'
