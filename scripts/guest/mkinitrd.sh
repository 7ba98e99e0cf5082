#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Packs the guest's initrd: the base image (built or reused by build.sh),
# then the project's programs from $VOFIRM_GUEST_BIN (default build/) with
# their libraries in /vofirm/bin and scripts/guest/lib.sh as /vofirm/lib.sh,
# then, if given, CASE_SCRIPT as /vofirm/case.sh.  The kernel unpacks the
# concatenated archives in order.
#
#   scripts/guest/mkinitrd.sh OUTPUT [CASE_SCRIPT]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 OUTPUT [CASE_SCRIPT]" >&2; exit 2; }
OUTPUT=$1
OUT=$TOP/build/guest
BIN=${VOFIRM_GUEST_BIN:-$TOP/build}

"$HERE/build.sh" >&2
P=$(mktemp -d "$OUT/project.XXXXXX")
trap 'rm -rf "$P"' EXIT
mkdir -p "$P/vofirm/bin"
for f in vofirm-memd vofirm-fs libvofirm-qemu.so tests/vofirm-xtest tests/vofirm-mmapio \
	 tests/vofirm-rmix tests/vofirm-rdma-idle; do
	[ -e "$BIN/$f" ] || { echo "$BIN/$f is not built (make)" >&2; exit 1; }
	cp "$BIN/$f" "$P/vofirm/bin/"
	for lib in $(ldd "$BIN/$f" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
		dst=$P$(readlink -f "$(dirname "$lib")")/$(basename "$lib")
		[ -e "$dst" ] || { mkdir -p "$(dirname "$dst")"; cp -L "$lib" "$dst"; }
	done
done
# Redis for the benchmark's case study, when the host has it.  Debian's
# redis-server is a link to redis-check-rdb, which picks its mode from
# argv[0]: copy the file under the server's name.
if [ -x /usr/bin/redis-server ]; then
	cp -L /usr/bin/redis-server "$P/vofirm/bin/redis-server"
	for lib in $(ldd /usr/bin/redis-server | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
		dst=$P$(readlink -f "$(dirname "$lib")")/$(basename "$lib")
		[ -e "$dst" ] || { mkdir -p "$(dirname "$dst")"; cp -L "$lib" "$dst"; }
	done
fi
cp "$HERE/lib.sh" "$P/vofirm/lib.sh"
if [ $# -ge 2 ]; then
	cp "$2" "$P/vofirm/case.sh"
	chmod 755 "$P/vofirm/case.sh"
fi
# directories must be listed: the kernel does not make parents for files
(cd "$P" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$P.cpio.gz"
cat "$OUT/base.cpio.gz" "$P.cpio.gz" >"$OUTPUT"
rm -f "$P.cpio.gz"
