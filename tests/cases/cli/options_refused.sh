#!/usr/bin/env bash
# An option a command does not honour is refused (exit 2, the command and
# the option named), never silently ignored: grow, shrink and budget have
# no JSON output and refuse --json, in the QMP and the libvirt forms; and
# so for every other option a command does not take.  Nothing is touched:
# the fake QMP peer sees no connection, no cgroup is made.  With --json a
# refusal is one JSON object on stdout (command, error); without it,
# stdout stays empty.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

start_fake_qmp vm script
Q=(--qmp "$WORK/vm.sock")
mkdir -p mnt
: >bundle.json
# refused 'MESSAGE' ARGS...: exit 2, MESSAGE on stderr, QMP untouched;
# with --json one object on stdout whose error is MESSAGE
refused() {
	local msg=$1 rc=0; shift
	"$CTL" "$@" >out.txt 2>err.txt || rc=$?
	[ $rc = 2 ] || { cat err.txt out.txt; fail "exit $rc, not 2, from: vofirmctl $*"; }
	grep -q -E -- "$msg" err.txt || { cat err.txt; fail "vofirmctl $*: stderr does not say '$msg'"; }
	if [[ " $* " == *" --json "* ]]; then
		[ "$(wc -l <out.txt)" = 1 ] || { cat out.txt; fail "vofirmctl $*: not one line on stdout"; }
		python3 -c 'import json, re, sys
o = json.load(open("out.txt"))
assert re.search(sys.argv[1], o["error"]), o
assert o["command"] == sys.argv[2], o' "$msg" "$1" ||
			fail "vofirmctl $*: the JSON object does not name the command and the error: $(cat out.txt)"
	else
		[ ! -s out.txt ] || fail "vofirmctl $*: stdout is not empty: $(cat out.txt)"
	fi
	[ ! -s "$WORK/vm.log" ] || fail "vofirmctl $*: QEMU was asked: $(cat "$WORK/vm.log")"
	echo "ok: vofirmctl $* -> $(tail -1 err.txt | sed 's/^.*: error: //')"
}

step "--json where there is no JSON output"
refused "grow does not take --json: it has no JSON output" grow "${Q[@]}" --mount mnt --size 128M --json
refused "shrink does not take --json" shrink "${Q[@]}" --id dimm1 --json
refused "budget does not take --json" budget --pid $$ --limit 1G --id vofirmtest-refused --json
[ ! -e /sys/fs/cgroup/vofirm-vofirmtest-refused ] && [ ! -e /sys/fs/cgroup/memory/vofirm-vofirmtest-refused ] ||
	fail "budget --json made a cgroup"
refused "grow --domain does not take --json" grow --domain vm1 --mount mnt --size 128M --json
refused "shrink --domain does not take --json" shrink --domain vm1 --id dimm0 --json
refused "budget --domain does not take --json" budget --domain vm1 --limit 1G --json

step "any other option a command does not honour"
refused "grow does not take --keep-file" grow "${Q[@]}" --mount mnt --size 128M --keep-file
refused "grow --domain does not take --replicas" grow --domain vm1 --mount mnt --size 128M --replicas 2
refused "grow --domain does not take --vm" grow --domain vm1 --mount mnt --size 128M --vm v1
refused "shrink does not take --replicas" shrink "${Q[@]}" --id dimm1 --replicas 2
refused "shrink does not take --mount" shrink "${Q[@]}" --id dimm1 --mount mnt
refused "list does not take --size" list "${Q[@]}" --size 1G
refused "budget does not take --timeout" budget --pid $$ --limit 1G --timeout 5s
refused "status does not take --server" status --mount mnt --server tcp://127.0.0.1:1
refused "status does not take --timeout" status --mount mnt --timeout 1s --json
refused "drain does not take --size" drain --mount mnt --server tcp://127.0.0.1:1 --size 1G
refused "restart-fs does not take --id" restart-fs --mount mnt --id x
refused "migrate-export does not take --in" migrate-export "${Q[@]}" --mount mnt --out b.json --in bundle.json
refused "migrate-export --abort does not take --timeout" migrate-export --abort --in bundle.json --mount mnt --timeout 1s
refused "migrate-import --update does not take --keep-paused" migrate-import --update bundle.json --mount mnt --keep-paused --json
refused "migrate does not take --size" migrate "${Q[@]}" --to-qmp "$WORK/vm.sock" --mount mnt --to-mount mnt --size 1G --json

step "a bad command line with --json: one object too"
refused "unknown option '--frobnicate'" status --mount mnt --frobnicate --json
refused "option '--mount' needs a value" status --json --mount
[ ! -e b.json ] || fail "migrate-export wrote a bundle"
