#!/usr/bin/env bash
# make install puts the server and its man page under DESTDIR/PREFIX.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

make -s -C "$TOP" install DESTDIR="$WORK/root" PREFIX=/usr >install.log 2>&1 ||
	{ cat install.log; fail "make install failed"; }
for p in vofirm-memd vofirm-fs vofirmctl; do
	[ -x root/usr/sbin/$p ] || fail "$p not installed in sbin"
	[ -f root/usr/share/man/man8/$p.8 ] || fail "the $p man page is not installed"
	root/usr/sbin/$p --version | grep -q "^$p " || fail "the installed $p does not run"
done
[ -f root/usr/lib/vofirm/libvofirm-qemu.so ] || fail "the QEMU companion is not installed"
[ -f root/usr/lib/systemd/system/vofirm-memd.service ] || fail "the memd unit is not installed"
[ -f root/usr/lib/systemd/system/vofirm-fs.service ] || fail "the fs unit is not installed"
grep -q '^ExecStart=/usr/sbin/vofirm-fs /run/vofirm' root/usr/lib/systemd/system/vofirm-fs.service ||
	fail "the fs unit does not start the installed binary"
make -s -C "$TOP" uninstall DESTDIR="$WORK/root" PREFIX=/usr
[ -z "$(find root -type f)" ] || fail "uninstall left: $(find root -type f)"
