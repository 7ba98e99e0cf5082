#!/usr/bin/env bash
# The client's side of the wire under libFuzzer for a short while: the
# handshake against any HELLO and LOGIN reply (forged, zero and truncated
# MACs among the seeds) must never be believed without the key's proof
# (no success, no ESTALE), and the reply path shared by the transports
# must never write past an operation's buffers or take a reply that does
# not fit its request.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

FUZZ=$TOP/build/fuzz/fuzz_client
[ -x "$FUZZ" ] || skip "build/fuzz/fuzz_client is not built (make fuzz needs clang)"
mkdir -p seeds corpus
# inputs that once crashed it, kept as they were found: each must run clean
for f in "$TOP"/tests/fuzz/regress/client-*; do
	"$FUZZ" "$f" >regress.log 2>&1 || {
		tail -30 regress.log
		fail "the client fuzz target crashes on $(basename "$f") again"
	}
done
"$TOP/build/tests/gen-fuzz-corpus" --client seeds
[ "$(ls seeds | wc -l)" -ge 16 ] || fail "seed corpus incomplete"
"$FUZZ" -max_total_time="${VOFIRM_FUZZ_SECONDS:-30}" -timeout=5 -print_final_stats=1 \
	-artifact_prefix="$WORK/" corpus seeds >fuzz.log 2>&1 || {
	tail -40 fuzz.log
	fail "the fuzzer found a crash (artifact in $WORK)"
}
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
echo "fuzzer ran $runs inputs"
[ "${runs:-0}" -gt 20000 ] || fail "the fuzzer ran only ${runs:-0} inputs"
