#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Builds the project's test guest: a stock Debian kernel (generic flavour,
# which has rdma_rxe, virtio_mem and memory hot-plug) and a busybox
# initramfs.  Nothing is installed on the host beyond Debian packages; the
# kernel package is fetched with apt-get download and unpacked with dpkg -x.
#
#   scripts/guest/build.sh [BUILD_DIR]     (default: build, artefacts in build/guest/)
#
# Output, cached (a second run only redoes what changed):
#   vmlinuz            the kernel
#   base.cpio.gz       busybox, kernel modules, rdma-core user space, /init
#   kernel-version
# The project's binaries are packed separately at every boot by run.sh, so
# a rebuild of vofirm does not redo the base.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
OUT=$TOP/${1:-build}/guest
mkdir -p "$OUT/debs"
say() { echo "guest-build: $*" >&2; }

PKGS=(qemu-system-x86 busybox-static ibverbs-providers ibverbs-utils rdmacm-utils rdma-core
      libibverbs-dev librdmacm-dev iproute2 kmod xz-utils zstd cpio)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { say "needs: apt-get install ${missing[*]}"; exit 1; }
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- the kernel: the version linux-image-amd64 points at, generic flavour ----
KPKG=${VOFIRM_GUEST_KPKG:-$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-6/ {print $2; exit}')}
if [ -z "$KPKG" ]; then
	apt-get update -qq
	KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6/ {print $2; exit}')
fi
[ -n "$KPKG" ] || { say "cannot find the Debian kernel package (apt-cache depends linux-image-amd64)"; exit 1; }
KVER=${KPKG#linux-image-}
case "$KVER" in *cloud*) say "$KVER is the cloud flavour, which lacks rdma_rxe"; exit 1 ;; esac
KDIR=$OUT/kernel-$KVER
if [ ! -f "$KDIR/boot/vmlinuz-$KVER" ]; then
	deb=$(ls "$OUT"/debs/"$KPKG"_*.deb 2>/dev/null | head -1 || true)
	if [ -z "$deb" ]; then
		say "downloading $KPKG"
		(cd "$OUT/debs" && apt-get download "$KPKG" 2>&1 | grep -v 'unsandboxed' >&2 || true)
		deb=$(ls "$OUT"/debs/"$KPKG"_*.deb 2>/dev/null | head -1 || true)
		[ -n "$deb" ] || { say "apt-get download $KPKG failed"; exit 1; }
	fi
	say "unpacking $(basename "$deb")"
	rm -rf "$KDIR.tmp"
	dpkg -x "$deb" "$KDIR.tmp"
	mv "$KDIR.tmp" "$KDIR"
fi
MODDIR=$KDIR/lib/modules/$KVER
for opt in CONFIG_RDMA_RXE=m CONFIG_VIRTIO_MEM=m CONFIG_MEMORY_HOTPLUG=y; do
	grep -q "^$opt" "$KDIR/boot/config-$KVER" || { say "$KVER lacks $opt"; exit 1; }
done
[ -s "$MODDIR/modules.dep" ] || depmod -b "$KDIR" "$KVER"
cp "$KDIR/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
echo "$KVER" >"$OUT/kernel-version"

stamp=$(cat "$0" "$HERE/init" | sha256sum | cut -c1-16)-$KVER
if [ -f "$OUT/base.cpio.gz" ] && [ "$(cat "$OUT/base.stamp" 2>/dev/null)" = "$stamp" ]; then
	say "base image up to date ($OUT/base.cpio.gz)"
	exit 0
fi

# ---- the root file system ----
R=$OUT/base-root
rm -rf "$R"
mkdir -p "$R"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64} "$R"/{dev,proc,sys,tmp,run,etc/libibverbs.d,root,mnt}
ln -s usr/bin "$R/bin"; ln -s usr/sbin "$R/sbin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"
cp /bin/busybox "$R/usr/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -sf busybox "$R/usr/bin/$a"
done
for a in modprobe insmod poweroff; do ln -sf ../bin/busybox "$R/usr/sbin/$a"; done

# put FILE: copy to the same (usr-merged) path in the image, with its libraries
put() {
	local f dst lib
	for f in "$@"; do
		dst=$R$(readlink -f "$(dirname "$f")")/$(basename "$f")
		mkdir -p "$(dirname "$dst")"
		rm -f "$dst"
		cp -L "$f" "$dst"
		for lib in $(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
			dst=$R$(readlink -f "$(dirname "$lib")")/$(basename "$lib")
			[ -e "$dst" ] || { mkdir -p "$(dirname "$dst")"; cp -L "$lib" "$dst"; }
		done
	done
}
put /usr/bin/ibv_devinfo /usr/bin/ibv_devices /usr/bin/rping /usr/bin/rdma /bin/ip
# dlopen()ed, so ldd does not list them: the rxe provider, libgcc_s (pthread_cancel)
put /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so /usr/lib/x86_64-linux-gnu/libgcc_s.so.1
cp /etc/libibverbs.d/rxe.driver "$R/etc/libibverbs.d/"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf '127.0.0.1 localhost\n' >"$R/etc/hosts"

# ---- kernel modules and what they depend on ----
declare -A seen=()
add_mod() {
	local line path dep
	line=$(grep -E "(^|/)$1\.ko(\.xz|\.zst|\.gz)?:" "$MODDIR/modules.dep" || true)
	[ -n "$line" ] || return 0 # built in
	path=${line%%:*}
	[ -z "${seen[$path]:-}" ] || return 0
	seen[$path]=1
	mkdir -p "$R/lib/modules/$KVER/$(dirname "$path")"
	case "$path" in
	*.xz) xz -dc "$MODDIR/$path" >"$R/lib/modules/$KVER/${path%.xz}" ;;
	*.zst) zstd -qdc "$MODDIR/$path" >"$R/lib/modules/$KVER/${path%.zst}" ;;
	*) cp "$MODDIR/$path" "$R/lib/modules/$KVER/$path" ;;
	esac
	for dep in ${line#*:}; do add_mod "$(basename "${dep%%.ko*}")"; done
}
for m in rdma_rxe ib_uverbs rdma_ucm rdma_cm ib_cm iw_cm crc32_generic dummy fuse \
	 virtio_ring virtio virtio_pci virtio_mem virtio_net virtio_blk; do
	add_mod "$m"
done
cp "$MODDIR"/modules.{order,builtin} "$R/lib/modules/$KVER/" 2>/dev/null || true
touch "$R/lib/modules/$KVER/modules.builtin.modinfo"
depmod -b "$R" "$KVER"

cp "$HERE/init" "$R/init"
chmod 755 "$R/init"
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$OUT/base.cpio.gz.tmp"
mv "$OUT/base.cpio.gz.tmp" "$OUT/base.cpio.gz"
echo "$stamp" >"$OUT/base.stamp"
rm -rf "$R"
say "built $OUT/base.cpio.gz ($(du -h "$OUT/base.cpio.gz" | cut -f1)) for $KVER"
