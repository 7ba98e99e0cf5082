#!/usr/bin/env bash
# The protocol decoder under libFuzzer for a short while, from a seed of
# every message type: no memory error, and every message it accepts
# encodes back to the same bytes.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

FUZZ=$TOP/build/fuzz/fuzz_proto
[ -x "$FUZZ" ] || skip "build/fuzz/fuzz_proto is not built (make fuzz needs clang)"
mkdir -p seeds corpus
"$TOP/build/tests/gen-fuzz-corpus" seeds
[ "$(ls seeds | wc -l)" -ge 19 ] || fail "seed corpus incomplete"
"$FUZZ" -max_total_time="${VOFIRM_FUZZ_SECONDS:-30}" -timeout=5 -print_final_stats=1 \
	-artifact_prefix="$WORK/" corpus seeds >fuzz.log 2>&1 || {
	tail -40 fuzz.log
	fail "the fuzzer found a crash (artifact in $WORK)"
}
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
echo "fuzzer ran $runs inputs"
[ "${runs:-0}" -gt 100000 ] || fail "the fuzzer ran only ${runs:-0} inputs"
