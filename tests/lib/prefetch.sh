# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the prefetch cases: the prefetcher's counters from stats.json.

# pf_snap MOUNT FILE: the file's prefetch counters and the server's bytes
# read, as JSON (FILE as stats.json names it, e.g. /ram)
pf_snap() {
	local sr
	sr=$(timeout 5 "$XTEST" --server "$URL" stats 2>/dev/null | sed -n "s/^bytes_read=//p") || sr=
	python3 - "$1/.vofirm/stats.json" "$2" "${sr:-0}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = [x for x in d["files"] if x["path"] == sys.argv[2]][0]["prefetch"]
f["server_bytes_read"] = int(sys.argv[3])
f["mount"] = d["prefetch"]
print(json.dumps(f))
PY
}

# pf_delta BEFORE AFTER EXPR: EXPR (Python) over d (the counters' growth
# from BEFORE to AFTER: d.used, d.hit...) and a (AFTER itself: a.verdict);
# prints its value
pf_delta() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
d = {k: a[k] - b.get(k, 0) for k in a if isinstance(a[k], (int, float)) and not isinstance(a[k], bool)}
d["hit"] = d["used"] / max(1, d["used"] + d["wasted"] + d["expired"])
from types import SimpleNamespace as NS
print(eval(sys.argv[3], {"d": NS(**d), "a": NS(**a), "max": max}))
PY
}
