# SPDX-License-Identifier: GPL-2.0-or-later
"""The vofirm wire protocol (docs/protocol.md), enough to play a peer that
lies, stalls or disappears in the security tests."""
import socket
import struct

MAGIC = 0x4d464f56
VERSION = 1
HELLO, LOGIN, ALLOC, FREE, STATS, READ, WRITE, BYE, LIST = range(1, 10)
F_REPLY = 1


def hdr(typ, length, flags=0, status=0, tag=1, version=VERSION):
    return struct.pack('<IBBHIIQ', MAGIC, version, typ, flags, length, status, tag)


def hello(name=b'peer', tag=1):
    body = struct.pack('<IHH', 0, len(name), 0) + name
    return hdr(HELLO, len(body), tag=tag) + body


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
