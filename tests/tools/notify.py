#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""systemd's side of sd_notify(3), for the daemons' tests.

  notify.py SOCKET LOG
      Listens on the datagram socket SOCKET (give it to a daemon as
      NOTIFY_SOCKET) until killed; appends each message to LOG as one line,
      "PID KEY=VALUE|KEY=VALUE...", with the sender's PID from its
      credentials, as systemd's NotifyAccess= checks it.
"""
import os
import socket
import struct
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
try:
    os.unlink(sys.argv[1])
except FileNotFoundError:
    pass
s.bind(sys.argv[1])
log = open(sys.argv[2], "a")
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = 0
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
    log.write("%d %s\n" % (pid, msg.decode(errors="replace").strip().replace("\n", "|")))
    log.flush()
