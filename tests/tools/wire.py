# SPDX-License-Identifier: GPL-2.0-or-later
"""The vofirm wire protocol (docs/protocol.md), enough to play a peer that
lies, stalls or disappears in the security tests."""
import hashlib
import hmac
import os
import socket
import struct

MAGIC = 0x4d464f56
VERSION = 3
HDR_SIZE = 24
MAC_LEN = 32
HELLO, LOGIN, ALLOC, FREE, STATS, READ, WRITE, BYE, LIST, GRANT, ACCEPT, GIVE, REVOKE = range(1, 14)
F_REPLY = 1
ESTALE = 116
EPROTONOSUPPORT = 93


def hdr(typ, length, flags=0, status=0, tag=1, version=VERSION):
    return struct.pack('<IBBHIIQ', MAGIC, version, typ, flags, length, status, tag)


def parse_hdr(data):
    """(version, type, flags, len, status, tag) of a header's 24 bytes."""
    magic, version, typ, flags, length, status, tag = struct.unpack('<IBBHIIQ', data)
    if magic != MAGIC:
        raise ValueError('not a vofirm message (magic %#x)' % magic)
    return version, typ, flags, length, status, tag


def hello(name=b'peer', tag=1, version=VERSION):
    body = struct.pack('<IHH', 0, len(name), 0) + name
    return hdr(HELLO, len(body), tag=tag, version=version) + body


def refusal(typ, status, text, tag, version=VERSION, mac=None):
    """An error reply.  A LOGIN refusal of version 2 starts with the
    server's MAC over the verdict: whoever lacks the key can only put
    something else there (`mac`, random by default)."""
    body = text
    if typ == LOGIN and version >= 2:
        body = (mac if mac is not None else os.urandom(MAC_LEN)) + text
    return hdr(typ, len(body), F_REPLY, status, tag, version) + body


def recv_exact(s, n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionResetError('peer closed')
        buf += chunk
    return buf


def recv_msg(s):
    """One whole message: (raw bytes, parsed header)."""
    head = recv_exact(s, HDR_SIZE)
    h = parse_hdr(head)
    return head + recv_exact(s, h[3]), h


def connect(port, source='127.0.0.1', host='127.0.0.1', timeout=5):
    """A TCP connection from a chosen loopback address (127.0.0.0/8)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect((host, port))
    return s


def closed_within(s, seconds):
    """True when the peer closes (EOF or reset) within `seconds`; replies
    before that are read and dropped."""
    s.settimeout(seconds)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class Session:
    """A logged-in client session, for the grant tests: request(type,
    body) -> (status, payload)."""

    def __init__(self, port, key=None, name=b'peer'):
        self.s = connect(port)
        self.tag = 1
        self.s.sendall(hello(name))
        raw, h = recv_msg(self.s)
        assert h[4] == 0, raw
        snonce = raw[HDR_SIZE + 40:HDR_SIZE + 72]
        cnonce = os.urandom(32)
        token = bytes(16)
        mac = bytes(32)
        if key is not None:
            mac = hmac.new(key, b'vofirm-login-v2\0' + snonce + cnonce + token + name,
                           hashlib.sha256).digest()
        st, body = self.request(LOGIN, token + cnonce + mac)
        assert st == 0, (st, body)

    def request(self, typ, body=b''):
        self.tag += 1
        self.s.sendall(hdr(typ, len(body), tag=self.tag) + body)
        raw, h = recv_msg(self.s)
        assert h[1] == typ and h[5] == self.tag, h
        return h[4], raw[HDR_SIZE:]

    def alloc(self, n):
        st, b = self.request(ALLOC, struct.pack('<II', n, 0))
        assert st == 0, b
        return [struct.unpack_from('<I', b, 8 + 16 * i)[0] for i in range(n)]

    def grant(self, ids, ttl_ms=60000, token=bytes(32)):
        body = token + struct.pack('<II', ttl_ms, len(ids)) + b''.join(struct.pack('<I', i) for i in ids)
        st, b = self.request(GRANT, body)
        return st, (b[:32] if st == 0 else b)

    def accept(self, token, first=0, maxn=4096):
        st, b = self.request(ACCEPT, token + struct.pack('<II', first, maxn))
        if st:
            return st, b
        n, total = struct.unpack_from('<II', b)
        return 0, [struct.unpack_from('<I', b, 8 + 16 * i)[0] for i in range(n)]

    def write(self, slab, off, data):
        return self.request(WRITE, struct.pack('<IIQ', slab, len(data), off) + data)[0]

    def read(self, slab, off, n):
        return self.request(READ, struct.pack('<IIQ', slab, n, off))


def key_of(path):
    """A key file's key, as vofirm reads it: less trailing white space."""
    return open(path, 'rb').read().rstrip()
