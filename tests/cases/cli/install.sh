#!/usr/bin/env bash
# make install puts the server and its man page under DESTDIR/PREFIX.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

make -s -C "$TOP" install DESTDIR="$WORK/root" PREFIX=/usr >install.log 2>&1 ||
	{ cat install.log; fail "make install failed"; }
[ -x root/usr/sbin/vofirm-memd ] || fail "vofirm-memd not installed in sbin"
[ -f root/usr/share/man/man8/vofirm-memd.8 ] || fail "man page not installed"
root/usr/sbin/vofirm-memd --version | grep -q '^vofirm-memd ' || fail "installed binary does not run"
make -s -C "$TOP" uninstall DESTDIR="$WORK/root" PREFIX=/usr
[ ! -e root/usr/sbin/vofirm-memd ] || fail "uninstall left the binary"
