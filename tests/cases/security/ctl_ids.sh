#!/usr/bin/env bash
# Every id vofirmctl takes (--id, --vm) follows QEMU's rule, a letter then
# letters, digits, '.', '_' or '-', at most 64 characters, and is checked
# before anything happens: a newline, a '/', "..", a leading digit or 200
# characters are refused with exit status 2 for every command, with no
# file in the mount, no cgroup, and not even a connection to QMP.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
require_cmd python3

start_memd memd --donate 512M --slab-size 64M --no-auth
start_fs fs mnt --server "$URL"
start_fake_qmp qmp script # a healthy VM: a grow there would succeed
sleep 300 &
SLEEPER=$!
_pids+=("$SLEEPER")
CG_BEFORE=$(cat /proc/$SLEEPER/cgroup)
CGROOTS=(/sys/fs/cgroup /sys/fs/cgroup/memory)

# vofirmctl's cgroups made for the id, if any; those found are removed
# (moving the sleeper out first) so that a failure leaves nothing behind.
cgroups_of() {
	local id=$1 found=() r d
	for r in "${CGROOTS[@]}"; do
		for d in "$r/vofirm-$id" "$r/vofirm-${id%%/*}"; do
			[ -d "$d" ] && found+=("$d")
		done
	done
	if [ ${#found[@]} -gt 0 ]; then
		kill "$SLEEPER" 2>/dev/null || true
		wait "$SLEEPER" 2>/dev/null || true
		for d in "${found[@]}"; do rmdir "$d" 2>/dev/null || true; done
		printf '%q ' "${found[@]}"
	fi
}

# nothing_touched WHAT ID: no connection to QMP, no file in the mount, no cgroup
nothing_touched() {
	local made
	[ ! -s qmp.log ] || fail "$1: vofirmctl talked to QMP: $(head -3 qmp.log)"
	made=$(find mnt -mindepth 1 -path mnt/.vofirm -prune -o -print)
	[ -z "$made" ] || fail "$1: vofirmctl made in the mount: $(printf '%q ' $made)"
	made=$(cgroups_of "$2")
	[ -z "$made" ] || fail "$1: vofirmctl made cgroups: $made"
	[ "$(cat /proc/$SLEEPER/cgroup)" = "$CG_BEFORE" ] || fail "$1: the process was moved"
}

# refused OPTION ID CMD...: exit 2, the message names the option and the rule
refused() {
	local opt=$1 id=$2; shift 2
	local what
	what="$(printf '%s %q' "$1" "$id" | cut -c1-60)"
	expect_exit 2 "$CTL" "$@"
	assert_out "error: $opt '.*': an id is a letter, then letters, digits, '\.', '_' or '-', at most 64 characters" \
		"$what: the message does not name $opt and the rule"
	nothing_touched "$what" "$id"
	echo "ok: $what -> $(echo "$OUT" | tail -1 | sed 's/^.*: error: //' | cut -c1-70)..."
}

LONG=$(printf 'a%.0s' $(seq 200))
for id in $'d\n1' 'a/b' '..' '.d1' '1dimm' "$LONG" '' 'd 1' $'d1\e[2J' 'd1;x' 'dimm€'; do
	step "id $(printf '%q' "$id" | cut -c1-40)"
	refused --id "$id" grow --qmp qmp.sock --mount mnt --size 128M --id "$id"
	refused --id "$id" grow --qmp qmp.sock --mount mnt --size 128M --model virtio-mem --id "$id"
	refused --id "$id" shrink --qmp qmp.sock --id "$id"
	refused --id "$id" budget --pid "$SLEEPER" --limit 256M --id "$id"
	refused --id "$id" list --qmp qmp.sock --id "$id"
	refused --vm "$id" grow --qmp qmp.sock --mount mnt --size 128M --id d1 --vm "$id"
done

step "64 characters, and QEMU's other characters, are an id"
ID64=d$(printf '9%.0s' $(seq 63))
expect_exit 0 "$CTL" grow --qmp qmp.sock --mount mnt --size 128M --id "$ID64" --vm Vm.1_x-y
[ -f "mnt/Vm.1_x-y/$ID64" ] || fail "grow did not make mnt/Vm.1_x-y/$ID64"
expect_exit 2 "$CTL" grow --qmp qmp.sock --mount mnt --size 128M --id "${ID64}9"
assert_out 'at most 64 characters'
echo "ok: a 64-character id is taken, 65 are refused"
