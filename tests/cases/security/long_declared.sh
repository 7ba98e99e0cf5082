#!/usr/bin/env bash
# A header's declared length is checked against its message type before a
# byte of the payload is read: a HELLO that promises 1 MiB, and a WRITE
# before login, are refused at once (the connection closes within a
# second, not after waiting for the payload).
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

start_memd memd --donate 16M --slab-size 1M --no-auth
python3 - "$PORT" "$TOP/tests/tools" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[2])
import wire
port = int(sys.argv[1])
for name, data in (('HELLO promising 1 MiB', wire.hdr(wire.HELLO, 1 << 20)),
                   ('HELLO one byte too long', wire.hdr(wire.HELLO, 8 + 64 + 1)),
                   ('WRITE of 1 MiB before login', wire.hdr(wire.WRITE, 16 + (1 << 20))),
                   ('STATS with a payload', wire.hdr(wire.STATS, 4096))):
    s = wire.connect(port)
    s.sendall(data)
    t0 = time.monotonic()
    if not wire.closed_within(s, 2):
        sys.exit(f'{name}: the server waited for the payload')
    print(f'{name}: closed after {time.monotonic() - t0:.2f} s')
PY
assert_grep 'malformed handshake: payload longer than its message type allows' memd.log
assert_grep 'malformed handshake: message longer than this receiver accepts here' memd.log
step "memd still serves"
xt --server "$URL" rw --slabs 2 >/dev/null
stop_memd "$PID"
