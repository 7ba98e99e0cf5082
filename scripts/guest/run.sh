#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Boots the test guest and runs one script inside it.
#
#   scripts/guest/run.sh GUEST_SCRIPT [-- EXTRA QEMU ARGUMENTS]
#
# The guest gets the base image (scripts/guest/build.sh, built or reused),
# the project's programs from $VOFIRM_GUEST_BIN (default build/: the
# sanitizer build would be slow under TCG) with their libraries in
# /vofirm/bin, scripts/guest/lib.sh as /vofirm/lib.sh, and GUEST_SCRIPT as
# /vofirm/case.sh.  The serial console is streamed to stdout and saved in
# $VOFIRM_GUEST_LOG (default build/guest/last.log).  The exit status is the
# script's own (77: skipped), or 124 when the guest did not finish within
# $VOFIRM_GUEST_TIMEOUT seconds (default 600).
#
# Environment: VOFIRM_GUEST_MEM (default 1G), VOFIRM_GUEST_SMP (2),
# VOFIRM_GUEST_ACCEL (tcg; kvm where it works), VOFIRM_GUEST_APPEND.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 GUEST_SCRIPT [-- QEMU ARGS]" >&2; exit 2; }
SCRIPT=$1; shift
[ "${1:-}" = -- ] && shift
OUT=$TOP/build/guest
BIN=${VOFIRM_GUEST_BIN:-$TOP/build}
LOG=${VOFIRM_GUEST_LOG:-$OUT/last.log}
TMO=${VOFIRM_GUEST_TIMEOUT:-600}

mkdir -p "$OUT"
P=$(mktemp -d "$OUT/run.XXXXXX")
trap 'rm -rf "$P"' EXIT
"$HERE/mkinitrd.sh" "$P/initrd.gz" "$SCRIPT" >&2

ACCEL=${VOFIRM_GUEST_ACCEL:-tcg}
CPU=max
[ "$ACCEL" = kvm ] && CPU=host
set +e
timeout -k 10 "$TMO" qemu-system-x86_64 -accel "$ACCEL" -cpu "$CPU" \
	-m "${VOFIRM_GUEST_MEM:-1G}" -smp "${VOFIRM_GUEST_SMP:-2}" \
	-nodefaults -no-user-config -nographic -no-reboot -nic none -serial stdio \
	-kernel "$OUT/vmlinuz" -initrd "$P/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=4 ${VOFIRM_GUEST_APPEND:-}" \
	"$@" </dev/null 2>&1 | tee "$LOG"
qrc=${PIPESTATUS[0]}
set -e
rc=$(sed -n 's/^VOFIRM-GUEST-EXIT: \([0-9]*\).*/\1/p' "$LOG" | tail -1)
if [ -z "$rc" ]; then
	[ "$qrc" = 124 ] && { echo "guest: no result within ${TMO}s (log: $LOG)" >&2; exit 124; }
	echo "guest: QEMU exited ($qrc) without a result (log: $LOG)" >&2
	exit 1
fi
exit "$rc"
