#!/usr/bin/env bash
# Protocol version 3 refuses older versions clearly, in both directions: a
# version 1 or 2 client gets a refusal it can read (in its own framing)
# naming both versions, and a version 2 server is refused by the client
# with a message naming both.  (Version 1 let a forged ESTALE destroy
# data; version 2 has no grants.)
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

start_memd memd --donate 16M --slab-size 1M --no-auth
MEMD_PID=$PID

for old in 1 2; do
step "a version $old client"
python3 - "$PORT" "$TOP/tests/tools" "$old" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import wire
old = int(sys.argv[3])
s = wire.connect(int(sys.argv[1]))
s.sendall(wire.hello(b'old-client', tag=7, version=old))
raw, (version, typ, flags, length, status, tag) = wire.recv_msg(s)
text = raw[wire.HDR_SIZE:].decode(errors='replace')
print('reply: version %d type %d status %d tag %d: %s' % (version, typ, status, tag, text))
assert (version, typ, flags, status, tag) == (old, wire.HELLO, wire.F_REPLY, wire.EPROTONOSUPPORT, 7)
assert 'version 3' in text and 'version %d' % old in text, text
assert wire.closed_within(s, 5)
PY
assert_grep "client at 127.0.0.1:[0-9]+: speaks vofirm protocol version $old, this server version 3: refused" memd.log
done

step "a version 2 server"
python3 - "$TOP/tests/tools" >old_server.port <<'PY' &
import socket, sys
sys.path.insert(0, sys.argv[1])
import wire
ls = socket.socket()
ls.bind(('127.0.0.1', 0))
ls.listen(1)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept()
raw, h = wire.recv_msg(c)
c.sendall(wire.refusal(wire.HELLO, wire.EPROTONOSUPPORT,
                       b'this server speaks vofirm protocol version 2', h[5], version=2))
c.close()
PY
OLD=$!
_pids+=("$OLD")
for _ in $(seq 50); do [ -s old_server.port ] && break; sleep 0.1; done
expect_exit 6 xt --server "tcp://127.0.0.1:$(cat old_server.port)" stats
assert_out 'the server speaks vofirm protocol version 2, this client version 3: refused'
wait "$OLD"
stop_memd "$MEMD_PID"
