#!/usr/bin/env bash
# Bad command lines exit non-zero with a message that names the problem,
# and start nothing.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"

make_key key
L=(--listen tcp://127.0.0.1:0)

# expect_refusal CODE 'message regex' ARGS...
expect_refusal() {
	local code=$1 msg=$2; shift 2
	expect_exit "$code" "$MEMD" "$@"
	assert_out "$msg" "vofirm-memd $*: message does not say '$msg'"
	echo "ok: vofirm-memd $* -> $(echo "$OUT" | tail -1 | sed 's/^.*: error: //')"
}

expect_refusal 2 'donate must be more than 0' "${L[@]}" --donate 0 --no-auth
expect_refusal 2 "donate '12Q': unknown unit suffix" "${L[@]}" --donate 12Q --no-auth
expect_refusal 2 "listen address 'nonsense': address must start with tcp://, rdma://" \
	--listen nonsense --donate 64M --no-auth
expect_refusal 2 "listen address 'tcp://127.0.0.1:99999': port must be" \
	--listen tcp://127.0.0.1:99999 --donate 64M --no-auth
expect_refusal 2 'key file /nonexistent/key: cannot open: No such file or directory' \
	"${L[@]}" --donate 64M --key-file /nonexistent/key
expect_refusal 2 'no key: give --key-file PATH, or --no-auth' "${L[@]}" --donate 64M
expect_refusal 2 '--no-auth and --key-file contradict' "${L[@]}" --donate 64M --key-file key --no-auth
expect_refusal 2 'no address to listen on' --donate 64M --no-auth
expect_refusal 2 'no memory to donate' "${L[@]}" --no-auth
expect_refusal 2 'is not a whole number of 64 MiB slabs' "${L[@]}" --donate 100M --no-auth
expect_refusal 2 'must be a power of two' "${L[@]}" --donate 96M --slab-size 48M --no-auth
expect_refusal 2 'is more than this machine.s memory' "${L[@]}" --donate 64T --no-auth
# this host has no RDMA device: rdma:// is refused with the reason (the guest tests use it)
expect_refusal 1 'cannot listen on rdma://127.0.0.1:0: no RDMA' --listen rdma://127.0.0.1:0 --donate 64M --no-auth
expect_refusal 2 "unknown option '--frobnicate'" "${L[@]}" --donate 64M --no-auth --frobnicate
expect_refusal 2 'needs a value' "${L[@]}" --no-auth --donate
expect_refusal 2 "lease 'soon'" "${L[@]}" --donate 64M --no-auth --lease soon
printf '[memd]\ndonate=64M\nbogus=1\n' >bad.conf
expect_refusal 2 "config file bad.conf: unknown setting 'bogus'" --config bad.conf "${L[@]}" --no-auth
printf 'short\n' >short.key; chmod 600 short.key
expect_refusal 2 'key too short' "${L[@]}" --donate 64M --key-file short.key

step "a port that is taken"
start_memd first --donate 64M --no-auth
expect_refusal 1 "cannot listen on tcp://127.0.0.1:$PORT: Address already in use" \
	--listen "tcp://127.0.0.1:$PORT" --donate 64M --no-auth

step "huge pages the system does not have"
if [ "$(cat /proc/sys/vm/nr_hugepages)" = 0 ]; then
	expect_refusal 1 'cannot back 64 MiB with 2 MiB huge pages: .*vm.nr_hugepages is 0' \
		"${L[@]}" --donate 64M --no-auth --hugepages
else
	echo "vm.nr_hugepages is not 0 here: not checking the huge page refusal"
fi

step "memory that may not be locked"
# ASan's mlock() is a no-op that succeeds: this check needs the normal build.
if command -v setpriv >/dev/null; then
	OUT=$(ulimit -l 64; setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock \
		"$TOP/build/vofirm-memd" "${L[@]}" --donate 64M --no-auth --mlock 2>&1) && fail "--mlock over RLIMIT_MEMLOCK started"
	assert_out 'cannot lock the donated 64 MiB in memory: .*RLIMIT_MEMLOCK is 64 KiB'
	echo "ok: --mlock -> $(echo "$OUT" | tail -1 | sed 's/^.*: error: //')"
fi

step "--help and --version answer and exit 0"
grep -q -- '--donate SIZE' <<<"$("$MEMD" --help)"
"$MEMD" --version | grep -q '^vofirm-memd [0-9]'
