#!/usr/bin/env bash
# make deb's packages: lintian-clean, installed with dpkg -i (their Depends
# met by what scripts/install-deps.sh installs), each binary's --version,
# systemd-analyze verify of the installed units, a memory server and a
# mount from the installed paths with data written, read back and on the
# server, the QEMU companion loading; then purged, leaving nothing behind
# (files, unit symlinks, deb-systemd-helper's state).  A machine where the
# packages are installed already is left alone (skip).
# TIMEOUT: 600
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
for c in dpkg-deb dpkg-shlibdeps lintian systemd-analyze; do require_cmd "$c"; done
for p in vofirm-memd vofirm-fs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' &&
		skip "package $p is installed on this machine: not touching it"
done

# dpkg ARGS...: dpkg, waiting for another dpkg or apt (the lock) up to 5 min
dpkg_locked() {
	local out rc
	for _ in $(seq 150); do
		rc=0
		out=$(dpkg "$@" 2>&1) || rc=$?
		echo "$out"
		echo "$out" | grep -q 'dpkg frontend lock\|dpkg status database is locked' || return $rc
		sleep 2
	done
	return 1
}
installed=0
_deb_cleanup() {
	[ $installed = 1 ] && dpkg_locked --purge vofirm-fs vofirm-memd >/dev/null 2>&1
	return 0
}
trap '_deb_rc=$?; set +e; _deb_cleanup; (exit $_deb_rc); _cleanup' EXIT

step "make deb"
"$TOP/scripts/mkdeb.sh" "$WORK/deb" >debs.txt 2>mkdeb.log || { cat mkdeb.log; fail "mkdeb.sh failed"; }
cat debs.txt
[ "$(wc -l <debs.txt)" = 2 ] || fail "expected 2 packages"
MEMD_DEB=$(grep '/vofirm-memd_' debs.txt)
FS_DEB=$(grep '/vofirm-fs_' debs.txt)
dpkg-deb -f "$FS_DEB" Depends | tee depends.txt
for d in libfuse3-3 libglib2.0-0 libibverbs1 librdmacm1 libjson-glib-1.0-0 libsystemd0 fuse3; do
	grep -q "\b$d\b" depends.txt || fail "vofirm-fs does not depend on $d"
done
dpkg-deb -c "$MEMD_DEB" >memd.list
dpkg-deb -c "$FS_DEB" >fs.list
grep -q ' ./usr/sbin/vofirm-memd$' memd.list || fail "vofirm-memd lacks its binary"
grep -q ' ./lib/systemd/system/vofirm-memd.service$' memd.list || fail "vofirm-memd lacks its unit"
for f in usr/sbin/vofirm-fs usr/sbin/vofirmctl usr/lib/vofirm/libvofirm-qemu.so \
	lib/systemd/system/vofirm-fs.service usr/share/man/man8/vofirmctl.8.gz; do
	grep -q " ./$f\$" fs.list || fail "vofirm-fs lacks $f"
done

step "lintian"
lintian --fail-on error,warning "$MEMD_DEB" "$FS_DEB" 2>&1 | grep -v 'root privileges' | tee lintian.out || true
[ ! -s lintian.out ] || fail "lintian has errors or warnings"

step "dpkg -i"
installed=1
dpkg_locked -i "$MEMD_DEB" "$FS_DEB" || fail "dpkg -i failed"
for p in vofirm-memd vofirm-fs; do
	dpkg-query -W -f='${Status}' "$p" | grep -q 'install ok installed' || fail "$p is not installed"
done
for p in vofirm-memd vofirm-fs vofirmctl; do
	/usr/sbin/$p --version | tee -a versions.txt | grep -q "^$p " || fail "the installed $p does not run"
done
man_opt=()
command -v man >/dev/null || man_opt=(--man=no)
systemd-analyze verify "${man_opt[@]}" vofirm-memd.service vofirm-fs.service 2>&1 | tee verify.out
[ ! -s verify.out ] || fail "systemd-analyze verify complained about the installed units"
[ -L /etc/systemd/system/multi-user.target.wants/vofirm-memd.service ] || fail "vofirm-memd.service is not enabled"
[ -L /etc/systemd/system/multi-user.target.wants/vofirm-fs.service ] || fail "vofirm-fs.service is not enabled"

step "a memory server and a mount from the installed paths"
MEMD=/usr/sbin/vofirm-memd start_memd memd --donate 256M --slab-size 4M --no-auth
VFS=/usr/sbin/vofirm-fs start_fs fs mnt --server "$URL"
[ "$(readlink /proc/$FS_PID/exe)" = /usr/sbin/vofirm-fs ] || fail "the mount is not served by the installed vofirm-fs"
"$MMAPIO" fill mnt/a $((16 << 20)) 7 >/dev/null || fail "writing through the mount failed"
flush_file mnt/a
"$MMAPIO" verify mnt/a $((16 << 20)) 7 >/dev/null || fail "the data did not read back"
[ "$(stat_of "$URL" bytes_written)" -ge $((16 << 20)) ] || fail "the data is not on the server"
/usr/sbin/vofirmctl status --mount mnt | tee status.out
grep -q "$URL" status.out || fail "vofirmctl status does not show the server"
LD_PRELOAD=/usr/lib/vofirm/libvofirm-qemu.so /bin/true 2>preload.err || { cat preload.err; fail "the companion does not load"; }
[ ! -s preload.err ] || { cat preload.err; fail "the companion does not load cleanly"; }
stop_fs mnt "$FS_PID"
stop_memd "$PID"

step "dpkg --purge: nothing left"
dpkg_locked --purge vofirm-fs vofirm-memd || fail "dpkg --purge failed"
installed=0
for p in vofirm-memd vofirm-fs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'installed' && fail "$p is still installed"
done
left=$(ls -d /usr/sbin/vofirm* /usr/lib/vofirm /lib/systemd/system/vofirm-* /usr/share/man/man8/vofirm* \
	/usr/share/doc/vofirm-* /etc/systemd/system/*/vofirm-* /var/lib/systemd/deb-systemd-helper-*/vofirm-* \
	/var/lib/systemd/deb-systemd-helper-enabled/*/vofirm-* 2>/dev/null || true)
[ -z "$left" ] || fail "the purge left: $left"
