# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the libvirt cases (tests/cases/libvirt/*.sh), after common.sh.
# A private libvirtd (qemu:///system as root, but every directory of its
# own) in a mount and network namespace of its own:
#   /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and
#   /var/log/libvirt are bind mounts of $WORK/libvirt/{etc,run,lib,cache,log}
#   there, so that nothing of the host's libvirt is read or changed; no
#   network but loopback, so that no bridge or firewall rule of the host's
#   can be touched.  virsh reaches it through its socket
#   (LIBVIRT_DEFAULT_URI is set).  Its virtlogd runs beside it.
#
#   require_libvirt                   skip when libvirt is not installed
#   start_libvirtd MOUNT              the daemons; qemu.conf puts every
#                                     shared or file memory in MOUNT/libvirt
#   lv_start_vm NAME MIB              a TCG domain $DOM of MIB MiB with the
#                                     project's guest in agent mode (room for
#                                     4 DIMMs up to 4 GiB, NUMA cell 0, ACPI,
#                                     the companion preloaded); gx NAME works
#   lv_mems                           its memory devices' aliases, one a line
#   lv_qom_path ID                    mem-path of QEMU's backend memID (a
#                                     read-only query over libvirt's monitor)
# Everything is stopped at exit: the domain, then the daemons and every
# process left in their namespace (which releases the namespace's copy of
# the FUSE mount), before common.sh unmounts.

require_libvirt() {
	for c in libvirtd virtlogd virsh unshare nsenter; do
		command -v "$c" >/dev/null 2>&1 ||
			skip "$c is not installed (scripts/install-deps.sh installs libvirt-daemon-system and libvirt-clients)"
	done
	[ "$(id -u)" = 0 ] || skip "the private libvirtd runs as root (cgroups, namespaces)"
}

LV=$WORK/libvirt
_lv_ns=
_lv_doms=()

_lv_cleanup() {
	local d pid
	set +e
	for d in "${_lv_doms[@]}"; do
		virsh destroy "$d" >/dev/null 2>&1 || true
	done
	# every process in the daemons' mount namespace: libvirtd, virtlogd and
	# any QEMU left, so that the namespace (and its copy of the mount) goes
	if [ -n "$_lv_ns" ]; then
		for sig in TERM KILL; do
			for pid in $(ls /proc | grep -E '^[0-9]+$'); do
				[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$_lv_ns" ] &&
					kill -"$sig" "$pid" 2>/dev/null
			done
			for _ in $(seq 50); do
				pid=$(for p in $(ls /proc | grep -E '^[0-9]+$'); do
					[ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$_lv_ns" ] && echo "$p"
				done | head -1)
				[ -z "$pid" ] && break
				sleep 0.1
			done
			[ -z "$pid" ] && break
		done
	fi
	# what libvirt made in the host's cgroups for our domains
	for d in "${_lv_doms[@]}"; do
		for c in /sys/fs/cgroup/*/machine/qemu-*-"$d".libvirt-qemu \
			 /sys/fs/cgroup/machine/qemu-*-"$d".libvirt-qemu; do
			[ -d "$c" ] || continue
			find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	done
	return 0
}
trap '_lv_rc=$?; set +e; _lv_cleanup; (exit $_lv_rc); _cleanup' EXIT

start_libvirtd() {
	local mnt
	mnt=$(realpath "$1")
	mkdir -p "$LV"/{etc,run,lib,cache,log}
	cat >"$LV/etc/libvirtd.conf" <<-EOF
	unix_sock_group = "root"
	unix_sock_rw_perms = "0700"
	auth_unix_rw = "none"
	auth_unix_ro = "none"
	log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
	EOF
	cat >"$LV/etc/virtlogd.conf" <<-EOF
	log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
	EOF
	# QEMU as root with no security driver (the test's files are root's;
	# no AppArmor profile applies in the namespace); no namespace of its own
	# per QEMU, so that QEMU sees the vofirm mount as libvirtd does
	cat >"$LV/etc/qemu.conf" <<-EOF
	user = "root"
	group = "root"
	security_driver = "none"
	dynamic_ownership = 0
	namespaces = [ ]
	memory_backing_dir = "$mnt/libvirt"
	EOF
	cat >"$LV/ns.sh" <<-'EOF'
	#!/bin/bash
	# in a new mount and network namespace: $1 the private root, $2 the
	# vofirm mount (kept)
	set -eu
	lv=$1 keep=$2
	# copies of other FUSE mounts would keep them alive after their owners
	# unmount them: drop them here
	awk '$3 ~ /^fuse/ {print $2}' /proc/self/mounts | while read -r m; do
		m=$(printf '%b' "$m")
		[ "$m" = "$keep" ] || umount -l "$m" 2>/dev/null || true
	done
	mkdir -p /run/libvirt
	mount --bind "$lv/etc" /etc/libvirt
	mount --bind "$lv/run" /run/libvirt
	mount --bind "$lv/lib" /var/lib/libvirt
	mount --bind "$lv/cache" /var/cache/libvirt
	mount --bind "$lv/log" /var/log/libvirt
	ip link set lo up 2>/dev/null || true
	virtlogd -f /etc/libvirt/virtlogd.conf -p /run/libvirt/virtlogd.pid &
	libvirtd -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid &
	wait
	EOF
	unshare --mount --net --propagation private bash "$LV/ns.sh" "$LV" "$mnt" \
		>"$WORK/libvirtd.log" 2>&1 &
	local ns_pid=$!
	export LIBVIRT_DEFAULT_URI="qemu:///system?socket=$LV/run/libvirt-sock"
	for _ in $(seq 600); do
		[ -z "$_lv_ns" ] && _lv_ns=$(readlink "/proc/$ns_pid/ns/mnt" 2>/dev/null || true)
		[ "$_lv_ns" = "$(readlink /proc/self/ns/mnt)" ] && _lv_ns= # not unshared yet
		[ -S "$LV/run/libvirt-sock" ] && [ -S "$LV/run/virtlogd-sock" ] &&
			virsh version >/dev/null 2>&1 && break
		kill -0 "$ns_pid" 2>/dev/null ||
			{ cat "$WORK/libvirtd.log" >&2; fail "libvirtd exited at start"; }
		sleep 0.1
	done
	virsh version >/dev/null 2>&1 || {
		tail -20 "$LV/log/libvirtd.log" >&2
		fail "libvirtd did not answer within 60 s"
	}
	[ -n "$_lv_ns" ] || fail "libvirtd's mount namespace is unknown"
	echo "libvirtd: $(virsh version | grep -i 'running hypervisor')"
}

lv_start_vm() {
	local name=$1 mib=$2 d=$WORK/$1
	DOM=vf$$-$name
	mkdir -p "$d"
	"$TOP/scripts/guest/mkinitrd.sh" "$d/initrd.gz" >/dev/null
	cat >"$d/domain.xml" <<-EOF
	<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
	  <name>$DOM</name>
	  <maxMemory slots='4' unit='MiB'>4096</maxMemory>
	  <memory unit='MiB'>$mib</memory>
	  <vcpu>1</vcpu>
	  <os>
	    <type arch='x86_64' machine='pc'>hvm</type>
	    <kernel>$TOP/build/guest/vmlinuz</kernel>
	    <initrd>$d/initrd.gz</initrd>
	    <cmdline>console=ttyS0 panic=-1 quiet swiotlb=noforce memhp_default_state=online_movable vofirm.agent</cmdline>
	  </os>
	  <features>
	    <acpi/>
	    <tcg><tb-cache unit='MiB'>64</tb-cache></tcg>
	  </features>
	  <cpu mode='custom' match='exact'>
	    <model fallback='allow'>qemu64</model>
	    <numa><cell id='0' cpus='0' memory='$mib' unit='MiB'/></numa>
	  </cpu>
	  <on_poweroff>destroy</on_poweroff>
	  <on_reboot>destroy</on_reboot>
	  <on_crash>destroy</on_crash>
	  <devices>
	    <emulator>$(command -v qemu-system-x86_64)</emulator>
	    <serial type='file'><source path='$d/console.log'/><target port='0'/></serial>
	    <serial type='unix'><source mode='bind' path='$d/agent.sock'/><target port='1'/></serial>
	    <memballoon model='none'/>
	  </devices>
	  <qemu:commandline>
	    <qemu:env name='LD_PRELOAD' value='$TOP/build/libvofirm-qemu.so'/>
	  </qemu:commandline>
	</domain>
	EOF
	virsh define "$d/domain.xml" >/dev/null || fail "libvirt refused the domain"
	_lv_doms+=("$DOM")
	virsh start "$DOM" --paused >/dev/null || { tail -20 "$LV/log/libvirtd.log" >&2; fail "the domain did not start"; }
	python3 "$TOP/tests/tools/vm.py" ready "$d" virsh resume "$DOM" >/dev/null ||
		{ tail -20 "$d/console.log" >&2; fail "the guest did not come up"; }
	QEMU_PID=$(cat "$LV/run/qemu/$DOM.pid")
	DOMID=$(virsh domid "$DOM")
	echo "domain $DOM (id $DOMID) up, QEMU pid $QEMU_PID"
}

lv_mems() {
	virsh dumpxml "$DOM" | python3 -c '
import sys, xml.etree.ElementTree as ET
for m in ET.parse(sys.stdin).getroot().findall("./devices/memory"):
    a = m.find("alias")
    print(a.get("name") if a is not None else "?")'
}

# lv_target ALIAS FIELD: size, requested or current of a memory device, in KiB
lv_target() {
	virsh dumpxml "$DOM" | python3 -c '
import sys, xml.etree.ElementTree as ET
for m in ET.parse(sys.stdin).getroot().findall("./devices/memory"):
    if m.find("alias").get("name") == sys.argv[1]:
        print(m.find("target/" + sys.argv[2]).text)' "$1" "$2"
}

lv_qom_path() {
	virsh qemu-monitor-command "$DOM" \
		"{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/objects/mem$1\",\"property\":\"mem-path\"}}" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["return"])'
}
