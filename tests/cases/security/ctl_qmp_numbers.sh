#!/usr/bin/env bash
# Numbers vofirmctl reads from QEMU or from the mount's stats.json are
# taken only when they are what they claim: a size from a JSON integer from
# 0 to 2^63-1, written as JSON writes it.  nan, 1e400, -1, 1.5, "128M", an
# integer beyond 64 bits (json-glib reads -18446744073709551615 as 1) and
# octal (json-glib reads 0100 as 64) are refused with the member named,
# nothing is changed, and no arithmetic on QEMU's numbers wraps.
# TIMEOUT: 240
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

BAD=(nan 1e400 -1 1.5 '"134217728"' 123456789012345678901234567890
	-18446744073709551615 0100 0x10)

# replies FILE KEY=RAW...: a REPLIES.json for fake_qmp.py
replies() {
	local f=$1; shift
	python3 -c 'import json, sys; print(json.dumps(dict(a.split("=", 1) for a in sys.argv[1:])))' \
		"$@" >"$f"
}

# expect_refused WHAT: vofirmctl exited 1 (not crashed, not done) naming why
expect_refused() {
	[ "$RC" = 1 ] || { echo "$OUT" >&2; fail "$1: exit $RC, not 1"; }
	# a here-string, not a pipe: grep -q stops at the first match, and
	# under pipefail the echo it leaves behind could fail the check
	grep -q -E 'not an integer|not a number|negative or too large|beyond 64 bits|not a JSON number|malformed message|not JSON:' <<<"$OUT" ||
		{ echo "$OUT" >&2; fail "$1: the message does not say what is wrong"; }
	echo "ok: $1 -> $(echo "$OUT" | grep error: | tail -1 | sed 's/^.*: error: //' | cut -c1-150)"
}

step "a memory device's size (list)"
n=0
for v in "${BAD[@]}"; do
	n=$((n + 1))
	replies "list$n.json" "query-memory-devices=[{\"type\": \"dimm\", \"data\": {\"id\": \"d1\", \"memdev\": \"/objects/d1-mem\", \"size\": $v, \"slot\": 0, \"addr\": 4294967296, \"node\": 0, \"hotplugged\": true, \"hotpluggable\": true}}]"
	start_fake_qmp "list$n" script "list$n.json"
	measured 30 "$CTL" list --qmp "list$n.sock"
	expect_refused "list, size $v"
done

step "a virtio-mem device's block size (grow, shrink): nothing is set"
n=0
for v in "${BAD[@]}"; do
	n=$((n + 1))
	replies "vmem$n.json" \
		'query-memory-devices=[{"type": "virtio-mem", "data": {"id": "vm0", "memdev": "/objects/vm0-mem", "size": 0, "requested-size": 0, "max-size": 1073741824, "block-size": 2097152, "node": 0, "memaddr": 4294967296}}]' \
		'qom-get /objects/vm0-mem size=1073741824' "qom-get vm0 block-size=$v" \
		'qom-get vm0 size=268435456' 'qom-get /objects/vm0-mem mem-path="/nonexistent/vm0"'
	start_fake_qmp "vmem$n" script "vmem$n.json"
	measured 30 "$CTL" grow --qmp "vmem$n.sock" --mount /nonexistent --size 256M --id vm0 --timeout 5s
	expect_refused "grow virtio-mem, block-size $v"
	measured 30 "$CTL" shrink --qmp "vmem$n.sock" --id vm0 --size 256M --timeout 5s
	expect_refused "shrink virtio-mem, block-size $v"
	if grep -q '"qom-set"' "vmem$n.log"; then
		fail "block-size $v: vofirmctl set requested-size: $(grep qom-set "vmem$n.log")"
	fi
done

step "the mount's stats.json (status)"
mkdir -p st/.vofirm
for v in "${BAD[@]}"; do
	for where in pool server latency; do
		cap=1073741824 held=0 p50=12.5
		case $where in
		pool) cap=$v ;;
		server) held=$v ;;
		latency) p50=$v ;;
		esac
		# a float is a latency's right type: not a bad value there
		[ "$where/$v" = latency/1.5 ] && continue
		cat >st/.vofirm/stats.json <<JSON
{"servers": [{"url": "tcp://a:1", "state": "up", "capacity": 1073741824, "free": 1073741824,
  "held": $held, "reads": 0, "writes": 0, "bytes_read": 0, "bytes_written": 0, "errors": 0,
  "read_latency_us": {"p50": $p50, "max": 1.0}, "write_latency_us": {"p50": 1.0, "max": 1.0}}],
 "pool": {"capacity": $cap, "free": 1073741824, "used": 0, "held_by_this_mount": 0},
 "files": []}
JSON
		measured 30 "$CTL" status --mount st
		expect_refused "status, $where $v"
	done
done

step "sizes whose sum passes 2^64 (grow): no room under maxmem"
if [ "$(id -u)" = 0 ] && [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	start_memd memd --donate 512M --slab-size 64M --no-auth
	start_fs fs mnt --server "$URL"
	replies sum.json 'query-memory-size-summary={"base-memory": 9223372036854775807, "plugged-memory": 9223372036854775807}'
	start_fake_qmp sum script sum.json
	expect_exit 1 "$CTL" grow --qmp sum.sock --mount mnt --size 128M --id d1
	assert_out 'not enough room under maxmem'
	[ -z "$(ls mnt)" ] || fail "grow left $(ls mnt) in the mount"
	grep -q '"object-add"' sum.log && fail "grow went on to object-add"
	echo "ok: base + plugged + size beyond 2^64 -> $(echo "$OUT" | tail -1 | sed 's/^.*: error: //')"
else
	echo "not root or no FUSE: the maxmem sum is not checked here"
fi
