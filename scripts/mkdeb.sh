#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Builds the Debian packages from the tree (make deb runs it): vofirm-memd
# (the server, its unit, a config example, its man page) and vofirm-fs (the
# file system, vofirmctl, the QEMU companion, its unit, a config example,
# their man pages), from `make install DESTDIR=` of the normal build, with
# dpkg-deb.  Depends come from dpkg-shlibdeps (the libraries the binaries
# link) and what they run (fusermount3).  Maintainer scripts: scripts/deb/.
#
#   scripts/mkdeb.sh [OUTDIR]      default build/deb; prints the .deb paths
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$TOP/build/deb}
VERSION=$(sed -n 's/^#define VOFIRM_VERSION "\(.*\)"/\1/p' "$TOP/include/vofirm/version.h")
ARCH=$(dpkg --print-architecture)
# Debian's variables name the maintainer (dch(1)); example.org stands in
MAINT="${DEBFULLNAME:-vofirm developers} <${DEBEMAIL:-vofirm@example.org}>"
WHEN=$(git -C "$TOP" log -1 --format=%ct 2>/dev/null || date +%s)
STAGE=$OUT/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/all" "$OUT"

# everything, as make install lays it out for Debian
make -s -C "$TOP" install DESTDIR="$STAGE/all" PREFIX=/usr UNITDIR=/lib/systemd/system >&2

# the ELF files of a package's tree
elf_files() {
	local f
	find "$1" -path "$1/DEBIAN" -prune -o -type f -print | while read -r f; do
		if [ "$(head -c 4 "$f")" = $'\x7fELF' ]; then echo "$f"; fi
	done
}

# pkg NAME FILES...: the package's tree, FILES taken from the staged install
pkg_tree() {
	local name=$1 f; shift
	local root=$STAGE/$name
	mkdir -p "$root/DEBIAN"
	for f in "$@"; do
		mkdir -p "$root/$(dirname "$f")"
		cp -a "$STAGE/all/$f" "$root/$f"
	done
	# Debian policy: stripped binaries, compressed man pages, a copyright
	# file and a changelog in /usr/share/doc/NAME
	elf_files "$root" | while read -r b; do
		strip --strip-unneeded --remove-section=.comment --remove-section=.note "$b"
	done
	find "$root/usr/share/man" -type f -name '*.8' -exec gzip -9n {} +
	mkdir -p "$root/usr/share/doc/$name/examples"
	cat >"$root/usr/share/doc/$name/copyright" <<-EOC
	Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
	Upstream-Name: vofirm

	Files: *
	Copyright: $(date -u -d "@$WHEN" +%Y) vofirm developers
	License: GPL-2+
	 This program is free software; you can redistribute it and/or modify it
	 under the terms of the GNU General Public License as published by the
	 Free Software Foundation; either version 2 of the License, or (at your
	 option) any later version.
	 .
	 On Debian systems, the complete text of the GNU General Public License
	 version 2 can be found in /usr/share/common-licenses/GPL-2.
	EOC
	printf '%s (%s) unstable; urgency=medium\n\n  * Built from the vofirm tree (make deb).\n\n -- %s  %s\n' \
		"$name" "$VERSION" "$MAINT" "$(date -R -u -d "@$WHEN")" |
		gzip -9n >"$root/usr/share/doc/$name/changelog.gz"
	for s in postinst prerm postrm; do
		sed "s/@UNIT@/$name.service/g" "$TOP/scripts/deb/$name.$s" >"$root/DEBIAN/$s"
		chmod 0755 "$root/DEBIAN/$s"
	done
	find "$root" -type d -exec chmod 0755 {} +
}

# control NAME EXTRA_DEPENDS SUGGESTS DESCRIPTION...: DEBIAN/control
control() {
	local name=$1 extra=$2 suggests=$3; shift 3
	local root=$STAGE/$name shlibs bins
	bins=$(elf_files "$root")
	# dpkg-shlibdeps wants a debian/control to stand in
	mkdir -p "$STAGE/shlibs/debian"
	printf 'Source: vofirm\n\nPackage: %s\nArchitecture: any\n' "$name" >"$STAGE/shlibs/debian/control"
	# shellcheck disable=SC2086
	shlibs=$(cd "$STAGE/shlibs" && dpkg-shlibdeps -O $(for b in $bins; do printf -- '-e%s ' "$b"; done) 2>/dev/null |
		sed -n 's/^shlibs:Depends=//p')
	{
		echo "Package: $name"
		echo "Version: $VERSION"
		echo "Architecture: $ARCH"
		echo "Maintainer: $MAINT"
		echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
		echo "Depends: ${shlibs}${extra:+, $extra}"
		# the RDMA transport's drivers (libibverbs1 only recommends them)
		echo "Recommends: ibverbs-providers"
		[ -z "$suggests" ] || echo "Suggests: $suggests"
		echo "Section: admin"
		echo "Priority: optional"
		printf 'Description: %s\n' "$1"
		shift
		for l in "$@"; do printf ' %s\n' "$l"; done
	} >"$root/DEBIAN/control"
}

pkg_tree vofirm-memd usr/sbin/vofirm-memd usr/share/man/man8/vofirm-memd.8 \
	lib/systemd/system/vofirm-memd.service
cp "$TOP/docs/examples/vofirm-memd.conf" "$STAGE/vofirm-memd/usr/share/doc/vofirm-memd/examples/"
control vofirm-memd "" "" \
	"vofirm memory server: donates RAM to vofirm hosts over RDMA or TCP" \
	"vofirm gives QEMU virtual machines memory that lives on other machines." \
	"This is the server of donor nodes: it donates a region of its RAM in slabs" \
	"to authenticated vofirm-fs clients, over RDMA (one-sided READ/WRITE) or TCP." \
	"." \
	"The unit starts once /etc/vofirm/vofirm-memd.conf exists (an example is in" \
	"/usr/share/doc/vofirm-memd/examples/)."

pkg_tree vofirm-fs usr/sbin/vofirm-fs usr/sbin/vofirmctl usr/lib/vofirm/libvofirm-qemu.so \
	usr/share/man/man8/vofirm-fs.8 usr/share/man/man8/vofirmctl.8 \
	lib/systemd/system/vofirm-fs.service
cp "$TOP/docs/examples/vofirm-fs.conf" "$STAGE/vofirm-fs/usr/share/doc/vofirm-fs/examples/"
control vofirm-fs "fuse3" "qemu-system-x86, libvirt-clients" \
	"vofirm file system: remote memory for QEMU VMs as files" \
	"vofirm gives QEMU virtual machines memory that lives on other machines." \
	"This is the hypervisor host's side: vofirm-fs, a FUSE file system whose" \
	"sparse files keep their pages on vofirm-memd servers, for QEMU to map as" \
	"guest memory behind hot-plugged DIMMs or virtio-mem devices; vofirmctl," \
	"which grows and shrinks VMs over QMP or through libvirt; and the QEMU" \
	"companion library libvofirm-qemu.so." \
	"." \
	"The unit mounts /run/vofirm once /etc/vofirm/vofirm-fs.conf exists (an" \
	"example is in /usr/share/doc/vofirm-fs/examples/)."

for name in vofirm-memd vofirm-fs; do
	deb=$OUT/${name}_${VERSION}_${ARCH}.deb
	dpkg-deb --root-owner-group -Zxz --build "$STAGE/$name" "$deb" >&2
	echo "$deb"
done
