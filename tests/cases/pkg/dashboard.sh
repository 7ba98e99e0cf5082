#!/usr/bin/env bash
# The Grafana dashboard (docs/examples/grafana-dashboard.json) shows what a
# live mount exports: every metric its queries use is in the mount's
# .vofirm/metrics, and every label its legends show is on those metrics.
# A dashboard naming a metric that does not exist fails the check.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
DASH=$TOP/docs/examples/grafana-dashboard.json

start_memd memd --donate 256M --slab-size 4M --no-auth
start_fs fs mnt --server "$URL"
# a file with traffic, so that the per-file and latency series exist
"$MMAPIO" fill mnt/vm1 $((8 << 20)) 5 >/dev/null
flush_file mnt/vm1
cp mnt/.vofirm/metrics metrics.txt

step "every metric and legend label of the dashboard is in the mount's metrics"
python3 "$TOP/tests/tools/dashboard.py" "$DASH" metrics.txt | tee check.out
n=$(sed -n 's/.* use \([0-9]*\) metrics.*/\1/p' check.out)
[ "$n" -ge 15 ] || fail "the dashboard uses only $n metrics"

step "a metric that does not exist, or a label that is not there, is caught"
sed 's/vofirm_server_held_bytes/vofirm_server_nosuch_bytes/' "$DASH" >bad.json
expect_exit 1 python3 "$TOP/tests/tools/dashboard.py" bad.json metrics.txt
assert_out "vofirm_server_nosuch_bytes is not in the mount's metrics"
sed 's/{{path}} read/{{nosuch}} read/' "$DASH" >bad2.json
expect_exit 1 python3 "$TOP/tests/tools/dashboard.py" bad2.json metrics.txt
assert_out "legend label nosuch"
