#!/usr/bin/env bash
# Malformed input on the wire: garbage, a wrong version, an oversized
# length, a request before the handshake.  memd logs it, drops that
# connection, and goes on serving everyone else.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

start_memd memd --donate 16M --slab-size 1M --no-auth
xt --server "$URL" rw --slabs 2 --session s.sess >/dev/null

python3 - "$PORT" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
MAGIC = 0x4d464f56
def hdr(ver, typ, flags, length, status=0, tag=1):
    return struct.pack('<IBBHIIQ', MAGIC, ver, typ, flags, length, status, tag)
def send(data, name):
    s = socket.create_connection(('127.0.0.1', port))
    s.settimeout(5)
    s.sendall(data)
    try:
        reply = s.recv(4096)
    except socket.timeout:
        sys.exit(f'{name}: the server neither answered nor closed')
    except ConnectionResetError:
        reply = b''  # closed with our bytes unread: a reset
    s.close()
    print(f'{name}: {len(reply)} bytes back, connection closed')
send(b'GET / HTTP/1.0\r\n\r\n' + b'x' * 10, 'http')
send(hdr(4, 1, 0, 8) + b'\0' * 8, 'version 4')
send(hdr(3, 1, 0, 0x7fffffff), 'oversized length')
send(hdr(3, 3, 0, 8) + struct.pack('<II', 1, 0), 'ALLOC before HELLO')
send(hdr(3, 1, 0, 78) + struct.pack('<IHH', 0, 70, 0) + b'n' * 70, 'HELLO longer than a HELLO')
send(hdr(3, 1, 0, 72) + struct.pack('<IHH', 0, 70, 0) + b'n' * 64, 'HELLO name too long')
PY

assert_grep 'malformed handshake: bad magic' memd.log
assert_grep 'client at 127.0.0.1:[0-9]+: speaks vofirm protocol version 4, this server version 3: refused' memd.log
assert_grep 'malformed handshake: payload longer than its message type allows' memd.log
assert_grep 'sent ALLOC before HELLO' memd.log
assert_grep 'malformed handshake: client name empty or too long' memd.log

step "memd still serves, and the session's data is intact"
xt --server "$URL" verify --session s.sess >v.out
assert_grep 'verified 2 slabs' v.out
stop_memd "$PID"
