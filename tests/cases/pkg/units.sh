#!/usr/bin/env bash
# The systemd units as make install lays them out pass systemd-analyze
# verify (no running systemd needed): their commands exist and run, their
# man pages are found, every option is known.  They are Type=notify
# (tests/cases/pkg/notify.sh checks the daemons' side), and a unit with a
# mistake is caught, so the check is real.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_cmd systemd-analyze

make -s -C "$TOP" install DESTDIR="$WORK/root" PREFIX=/usr UNITDIR=/lib/systemd/system >install.log 2>&1 ||
	{ cat install.log; fail "make install failed"; }
# verify checks that each command is executable where it says: point them
# into the staged tree, and man at the staged man pages
mkdir units
for u in vofirm-memd vofirm-fs; do
	sed "s|/usr/sbin/|$WORK/root/usr/sbin/|" "root/lib/systemd/system/$u.service" >"units/$u.service"
done
verify() { MANPATH=$WORK/root/usr/share/man systemd-analyze verify "$@"; }
man_opt=()
command -v man >/dev/null || man_opt=(--man=no)

step "systemd-analyze verify"
verify "${man_opt[@]}" units/vofirm-memd.service units/vofirm-fs.service 2>&1 | tee verify.out
[ ! -s verify.out ] || fail "systemd-analyze verify complained"

step "Type=notify, readiness, reload and hardening as documented"
for u in vofirm-memd vofirm-fs; do
	grep -q '^Type=notify$' "units/$u.service" || fail "$u.service is not Type=notify"
	grep -q '^NoNewPrivileges=yes$' "units/$u.service" || fail "$u.service lacks NoNewPrivileges"
	grep -q '^LimitMEMLOCK=infinity$' "units/$u.service" || fail "$u.service lacks LimitMEMLOCK (RDMA)"
done
grep -q '^ProtectSystem=strict$' units/vofirm-memd.service || fail "vofirm-memd.service lacks ProtectSystem"
# a namespace of its own would hide the FUSE mount from QEMU
grep -E '^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|ProtectKernelTunables|PrivateMounts)=' \
	units/vofirm-fs.service && fail "vofirm-fs.service gets a mount namespace: the mount would be its own"
grep -q '^ExecReload=/bin/kill -USR2 \$MAINPID$' units/vofirm-fs.service || fail "vofirm-fs.service's reload"

step "a unit with a mistake fails the check"
sed 's/^Type=notify$/Type=notifyy/' units/vofirm-memd.service >units/bad.service
if verify "${man_opt[@]}" units/bad.service >bad.out 2>&1 && [ ! -s bad.out ]; then
	fail "systemd-analyze verify took Type=notifyy"
fi
cat bad.out
sed "s|$WORK/root/usr/sbin/vofirm-memd|$WORK/root/usr/sbin/nosuch|" units/vofirm-memd.service >units/bad2.service
if verify "${man_opt[@]}" units/bad2.service >bad2.out 2>&1 && [ ! -s bad2.out ]; then
	fail "systemd-analyze verify took a missing command"
fi
cat bad2.out
