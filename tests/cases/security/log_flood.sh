#!/usr/bin/env bash
# A peer cannot flood vofirm-memd's log: 300 malformed connections write a
# handful of lines, and the first such line of the next window says how
# many were suppressed.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

start_memd memd --donate 16M --slab-size 1M --no-auth
python3 - "$PORT" "$TOP/tests/tools" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import wire
port = int(sys.argv[1])
for i in range(300):
    s = wire.connect(port)
    s.sendall(b'GET / HTTP/1.0\r\n\r\n' + b'x' * 10)
    wire.closed_within(s, 5)
    s.close()
PY
sleep 5.5  # the next window: its first line reports the suppressed ones
python3 - "$PORT" "$TOP/tests/tools" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import wire
s = wire.connect(int(sys.argv[1]))
s.sendall(b'not vofirm at all, and long enough for a header')
wire.closed_within(s, 5)
PY
n=$(grep -c 'malformed handshake' memd.log || true)
echo "$n lines about malformed handshakes"
[ "$n" -ge 2 ] && [ "$n" -le 30 ] || fail "$n lines for 300 malformed connections"
assert_grep 'similar lines were suppressed' memd.log
xt --server "$URL" stats >/dev/null
stop_memd "$PID"
