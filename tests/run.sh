#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs the whole test suite and ends with "N passed, N failed, N skipped".
#   tests/run.sh [PATTERN...]    only tests whose name contains a PATTERN
#
# Unit tests run from the normal build and the sanitizer build; the cases
# in tests/cases/<group>/<name>.sh run against real processes from
# $VOFIRM_BIN (default: the sanitizer build, build/asan).  A case exits 0
# (pass), 77 (skip, with the reason on stderr) or anything else (fail);
# its "# TIMEOUT: N" header bounds it.  Logs and work files stay in
# build/test-work/<group>/<name>/ for a failed case.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
export VOFIRM_TOP=$TOP
export VOFIRM_BIN=${VOFIRM_BIN:-$TOP/build/asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
WORKROOT=$TOP/build/test-work
mkdir -p "$WORKROOT"

passed=0 failed=0 skipped=0
failures=()

selected() {
	[ $# -ge 2 ] || return 0
	local name=$1; shift
	for p in "$@"; do
		case "$name" in *"$p"*) return 0 ;; esac
	done
	return 1
}

# run_one NAME TIMEOUT LOG COMMAND...
run_one() {
	local name=$1 tmo=$2 log=$3; shift 3
	local start end rc
	start=$(date +%s.%N)
	timeout -k 10 "$tmo" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	end=$(date +%s.%N)
	local secs; secs=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
	case $rc in
	0)
		passed=$((passed + 1))
		printf 'PASS %-40s %6ss\n' "$name" "$secs" ;;
	77)
		skipped=$((skipped + 1))
		printf 'SKIP %-40s %s\n' "$name" "$(grep -h 'SKIP' "$log" | tail -1)" ;;
	*)
		failed=$((failed + 1))
		failures+=("$name")
		[ $rc = 124 ] && echo "(timed out after ${tmo}s)" >>"$log"
		printf 'FAIL %-40s %6ss (exit %d; log: %s)\n' "$name" "$secs" "$rc" "${log#$TOP/}"
		tail -n 40 "$log" | sed 's/^/    | /' ;;
	esac
}

echo "vofirm test suite: cases run against $VOFIRM_BIN"

for build in build build/asan; do
	for t in "$TOP/$build"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		name="unit/${build#build}/$(basename "$t")"
		name=${name//\/\//\/}
		selected "$name" "$@" || continue
		mkdir -p "$WORKROOT/unit"
		run_one "$name" 120 "$WORKROOT/unit/$(basename "$build")-$(basename "$t").log" "$t"
	done
done

for c in "$TOP"/tests/cases/*/*.sh; do
	group=$(basename "$(dirname "$c")")
	name="$group/$(basename "$c" .sh)"
	selected "$name" "$@" || continue
	tmo=$(sed -n 's/^# TIMEOUT: *\([0-9]*\).*/\1/p' "$c" | head -1)
	work="$WORKROOT/$name"
	rm -rf "$work"
	mkdir -p "$work"
	VOFIRM_WORK=$work run_one "$name" "${tmo:-120}" "$work/test.log" bash "$c"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
