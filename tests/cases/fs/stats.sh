#!/usr/bin/env bash
# Stats an operator can read and scrape: MOUNTPOINT/.vofirm/stats.json and
# .../metrics (Prometheus text format), per server and per file: requests,
# bytes, latency percentiles, remote capacity.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

start_memd memd --donate 128M --slab-size 4M --no-auth
start_fs fs mnt --server "$URL"
mkdir mnt/vm1
"$MMAPIO" fill mnt/vm1/ram $((16 << 20)) 2
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/vm1/ram $((16 << 20)) 2
# a name that is not UTF-8 must not make either document unreadable
truncate -s 4M "mnt/vm1/odd$(printf '\377')name"

python3 - "$URL" <<'PY'
import json, re, sys
url = sys.argv[1]
d = json.load(open("mnt/.vofirm/stats.json", encoding="utf-8"))
s = d["servers"][0]
assert s["url"] == url and s["state"] == "up", s
assert s["capacity"] == 128 << 20 and s["held"] == 20 << 20, s
assert s["writes"] > 0 and s["bytes_written"] >= 16 << 20, s
assert s["reads"] > 0 and s["bytes_read"] >= 16 << 20, s
for k in ("read_latency_us", "write_latency_us"):
    lat = s[k]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], (k, lat)
assert d["pool"]["capacity"] == 128 << 20 and d["pool"]["used"] == 20 << 20, d["pool"]
odd = [f for f in d["files"] if f["path"] == "/vm1/odd\ufffdname"]
assert len(odd) == 1 and odd[0]["reserved"] == 4 << 20, d["files"]
f = [f for f in d["files"] if f["path"] == "/vm1/ram"][0]
assert f["path"] == "/vm1/ram" and f["size"] == 16 << 20 and f["reserved"] == 16 << 20, f
assert f["bytes_written"] >= 16 << 20 and f["bytes_read"] >= 16 << 20, f
print("stats.json ok:", json.dumps(s))

text = open("mnt/.vofirm/metrics", encoding="utf-8").read()
sample = re.compile(r'^[a-z_]+\{[a-z]+="[^"]*"(,quantile="[0-9.]+")?\} [0-9.e+-]+$')
names = set()
for line in text.splitlines():
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        continue
    assert sample.match(line), "bad metrics line: " + line
    names.add(line.split("{")[0])
for n in ("vofirm_server_up", "vofirm_server_capacity_bytes", "vofirm_server_free_bytes",
          "vofirm_server_read_bytes_total", "vofirm_server_written_bytes_total",
          "vofirm_server_read_latency_seconds", "vofirm_server_write_latency_seconds_count",
          "vofirm_file_size_bytes", "vofirm_file_read_bytes_total"):
    assert n in names, n + " missing"
assert re.search(r'^vofirm_file_reserved_bytes\{path="/vm1/ram"\} 16777216$', text, re.M)
print("metrics ok:", len(text.splitlines()), "lines")
PY
stop_fs mnt "$FS_PID"
