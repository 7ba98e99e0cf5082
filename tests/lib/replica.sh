# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the replication cases (tests/cases/replica/*.sh) after common.sh.
#   fsj EXPR [MNT]              a Python expression on d, MNT/.vofirm/stats.json
#                               (MNT: $MNT, default mnt), printed
#   repl FIELD [MNT]            stats.json's replication.FIELD; fails if absent
#   srv_field URL FIELD [MNT]   FIELD of that server's entry in stats.json
#   file_field PATH FIELD [MNT] FIELD of that file's entry ("/ram")
#   wait_until SECS WHAT CMD... runs CMD every 0.2 s until it succeeds; fails
#                               naming WHAT after SECS
#   wait_repl FIELD OP N SECS   wait_until replication.FIELD OP N (-eq, -gt...)
#   drop_caches                 every clean page of every file evicted
#   granted URL                 slabs granted by that memd (its own word)
#   memd_read URL               bytes that memd has served
#   rebuilt_on URL [LOG]        "file X [aM, bM)" for every copy the log says
#                               was rebuilt on URL, one a line
#   stopped PID                 true if PID is stopped (SIGSTOP)
#   repl_is FIELD VALUE         fails unless replication.FIELD is VALUE

fsj() {
	python3 - "${2:-${MNT:-mnt}}/.vofirm/stats.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d})
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
PY
}

repl() {
	local v
	v=$(fsj "d.get('replication', {}).get('$1', 'MISSING')" "${2:-}") ||
		fail "cannot read stats.json"
	[ "$v" != MISSING ] || fail "stats.json has no replication.$1: $(cat "${2:-${MNT:-mnt}}/.vofirm/stats.json")"
	echo "$v"
}

srv_field() {
	fsj "[s.get('$2', 'MISSING') for s in d['servers'] if s['url'] == '$1'][0]" "${3:-}"
}

file_field() {
	fsj "[f.get('$2', 'MISSING') for f in d['files'] if f['path'] == '$1'][0]" "${3:-}"
}

wait_until() {
	local secs=$1 what=$2 end; shift 2
	end=$(($(date +%s) + secs))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s)" -lt "$end" ] || fail "$what: not within $secs s"
		sleep 0.2
	done
}

wait_repl() {
	local end=$(($(date +%s) + $4)) v
	while :; do
		v=$(repl "$1")
		[ "$v" "$2" "$3" ] && return 0
		[ "$(date +%s)" -lt "$end" ] ||
			fail "replication.$1 is still $v after $4 s (waited for $2 $3): $(fsj "d['replication']")"
		sleep 0.2
	done
}

# drop_caches: the page cache, and vofirm-fs's fetch-ahead windows (those
# of a reader that asked for nothing in 200 ms are dropped at its next
# READ), so that every page read next comes from a server
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sleep 0.25
}

granted() { stat_of "$1" slabs_granted ${MEMD_ARGS:-}; }
memd_read() { stat_of "$1" bytes_read ${MEMD_ARGS:-}; }

rebuilt_on() {
	sed -n "s/.*\(file [^ ]* \[[0-9]*M, [0-9]*M)\): copy on ${1//\//\\/} rebuilt in .*/\1/p" \
		"${2:-fs.log}"
}

stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }

# repl_is FIELD VALUE: fails unless replication.FIELD is VALUE now
repl_is() {
	local v
	v=$(repl "$1")
	[ "$v" = "$2" ] || fail "replication.$1 is $v, not $2: $(fsj "d['replication']")"
}
