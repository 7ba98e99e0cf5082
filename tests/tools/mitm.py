#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A man in the middle between vofirm clients and one vofirm-memd, without
the key.  It relays whole messages and, as the control file says (one word,
read at every step), lies:

  forward       relay everything
  forge         cut the connections relayed so far (once), then answer
                every LOGIN itself with ESTALE ("your session is gone"),
                after relaying the HELLO exchange with the real server
  tamper-hello  relay, but announce a lease of 1 ms in the HELLO reply
  drop-alloc    relay, but swallow the next successful ALLOC reply and cut
                that connection (the server granted, the client never
                hears of it); then back to forward
  cut-read      relay, but of the next successful READ reply send only the
                first 64 bytes, and nothing more on that connection (it
                stays open: a server stuck in the middle of a reply); then
                back to forward for the other connections
  bad-after-read  relay, but send the next successful READ reply with a
                header of bad magic right behind it, in the same segment,
                and nothing more on that connection (it stays open); then
                back to forward for the other connections
  forge-queued  relay, but swallow every WRITE request; 300 ms after the
                first, answer (as the server would a WRITE) the request
                the client queued next, which it has not sent: its tag is
                guessed (the next slot, one generation past any seen)

Usage: mitm.py PORT_FILE UPSTREAM_PORT CONTROL_FILE.  The port it listens
on is written to PORT_FILE; what it does goes to stdout, a line each.  Once
a new mode is in force (for forge: once the relayed connections are cut),
it is written to CONTROL_FILE.ack, so that a test can wait for it."""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

port_file, upstream, control = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
live = []


def say(*a):
    print(*a, flush=True)


def mode():
    try:
        with open(control) as f:
            return f.read().strip() or 'forward'
    except FileNotFoundError:
        return 'forward'


def set_mode(m):
    with open(control + '.tmp', 'w') as f:
        f.write(m + '\n')
    os.replace(control + '.tmp', control)


def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def forge_queued(c, tag, version):
    time.sleep(0.3)
    try:
        c.sendall(wire.hdr(wire.WRITE, 0, wire.F_REPLY, 0, tag, version))
        say('forged a WRITE reply to slot %d generation %d, a request not sent'
            % (tag & 0xffffffff, tag >> 32))
    except OSError:
        pass


def pump(src, dst, from_server):
    gens = {}  # from the client: the last generation seen of each slot
    forged = False
    try:
        while True:
            raw, h = wire.recv_msg(src)
            version, typ, flags, length, status, tag = h
            if not from_server:
                slot = tag & 0xffffffff
                gens[slot] = max(gens.get(slot, 0), tag >> 32)
            if not from_server and typ == wire.WRITE and mode() == 'forge-queued':
                say('swallowed a WRITE request: slot %d generation %d' % (slot, tag >> 32))
                if not forged:
                    forged = True
                    nxt = slot + 1
                    threading.Thread(target=forge_queued, daemon=True,
                                     args=(src, (gens.get(nxt, 0) + 1) << 32 | nxt, version)).start()
                continue
            if from_server and typ == wire.HELLO and not status and mode() == 'tamper-hello':
                raw = raw[:28] + struct.pack('<I', 1) + raw[32:]
                say('tampered with a HELLO reply: lease 1 ms')
            if from_server and typ == wire.READ and not status and mode() == 'cut-read':
                set_mode('forward')
                dst.sendall(raw[:64])
                say('cut a READ reply after 64 of its %d bytes; the connection stalls' % len(raw))
                while src.recv(65536):
                    pass  # swallow the rest, send nothing, until the client goes
                break
            if from_server and typ == wire.READ and not status and mode() == 'bad-after-read':
                set_mode('forward')
                dst.sendall(raw + b'\xde\xad' * (wire.HDR_SIZE // 2))
                say('sent a READ reply and a bad header behind it; the connection stalls')
                while src.recv(65536):
                    pass
                break
            if from_server and typ == wire.ALLOC and not status and mode() == 'drop-alloc':
                set_mode('forward')
                say('swallowed an ALLOC reply and cut the connection')
                break
            dst.sendall(raw)
    except (OSError, ValueError):
        pass
    close(src, dst)


def forge(c):
    """The real server's HELLO, then a LOGIN verdict of our own."""
    u = socket.create_connection(('127.0.0.1', upstream))
    try:
        raw, h = wire.recv_msg(c)
        u.sendall(raw)
        rep, _ = wire.recv_msg(u)
        c.sendall(rep)
        raw, h = wire.recv_msg(c)
        version, typ, flags, length, status, tag = h
        c.sendall(wire.refusal(wire.LOGIN, wire.ESTALE,
                               b'session unknown: its lease ran out or this server restarted',
                               tag, version))
        say('forged ESTALE to a LOGIN (protocol version %d)' % version)
    except (OSError, ValueError):
        pass
    close(c, u)


def serve(c):
    if mode() == 'forge':
        forge(c)
        return
    try:
        u = socket.create_connection(('127.0.0.1', upstream))
    except OSError:
        close(c)
        return
    with lock:
        live.append((c, u))
    threading.Thread(target=pump, args=(c, u, False), daemon=True).start()
    threading.Thread(target=pump, args=(u, c, True), daemon=True).start()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', 0))
ls.listen(16)
ls.settimeout(0.1)
with open(port_file + '.tmp', 'w') as f:
    f.write('%d\n' % ls.getsockname()[1])
os.replace(port_file + '.tmp', port_file)
cut = False
acked = None
while True:
    m = mode()
    if m == 'forge' and not cut:
        with lock:
            for c, u in live:
                close(c, u)
            say('cut %d relayed connection(s)' % len(live))
            live.clear()
        cut = True
    elif m != 'forge':
        cut = False
    if m != acked:
        with open(control + '.ack.tmp', 'w') as f:
            f.write(m + '\n')
        os.replace(control + '.ack.tmp', control + '.ack')
        acked = m
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    c.settimeout(None)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
