#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Installs the Debian packages that vofirm needs to build, test and run
# its demo, and nothing that is already there.  As root it runs apt-get;
# otherwise it prints the apt-get line to run and exits 1.
set -euo pipefail

PKGS=(
	build-essential pkg-config libglib2.0-dev libfuse3-dev   # build
	libjson-glib-dev                                         # vofirmctl: QMP, stats
	libibverbs-dev librdmacm-dev ibverbs-providers           # the RDMA transport
	fuse3                                        # fusermount3, /dev/fuse rules
	clang libclang-rt-14-dev                     # the fuzz target (libFuzzer)
	clang-format                                 # make format-check (tests/cases/tree)
	python3 util-linux procps coreutils attr     # the test cases (attr: setfattr, getfattr)
	qemu-system-x86                              # QEMU mapping vofirm files as guest RAM
	libsystemd-dev                               # sd_notify: the units are Type=notify
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients  # tests/cases/libvirt
	iproute2                                     # the private libvirtd's loopback
	lintian                                      # make deb's packages checked (tests/cases/pkg)
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "vofirm needs these Debian packages: ${missing[*]}" >&2
	echo "install them as root with:" >&2
	echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Where systemd does not run the machine (a container, CI), a package's
# service must not be started by its installation (libvirtd would make a
# bridge and firewall rules): the tests start what they need themselves.
if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\n# scripts/install-deps.sh: no service starts while it installs\nexit 101\n' \
		>/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
