# SPDX-License-Identifier: GPL-2.0-or-later
"""Drives vofirm-fs's handoff attributes the way vofirmctl does, for tests:
  handoff.py export FILE            > HANDOFF   (exports once, then prints;
                                    read in 64 KiB pieces, user.vofirm.export.N)
  handoff.py export-whole FILE      > HANDOFF   (the single attribute: E2BIG
                                    when the text is longer than 64 KiB)
  handoff.py import MOUNT NAME      < HANDOFF
  handoff.py update FILE            < HANDOFF
  handoff.py state FILE             pending | none
  handoff.py commit-export|abort-export|commit-import|abort-import FILE
A value of 64 KiB or more is sent in pieces (user.vofirm.import.N).
Exit 1 with the error when vofirm-fs refuses."""
import errno
import os
import sys

EXPORT, IMPORT = 'user.vofirm.export', 'user.vofirm.import'
PIECE = 65536


def read_pieces(path):
    text, k = b'', 0
    while True:
        p = os.getxattr(path, '%s.%d' % (EXPORT, k))
        text += p
        if len(p) < PIECE:
            return text
        k += 1


def set_import(path, value):
    if len(value) < PIECE:
        os.setxattr(path, IMPORT, value)
        return
    for k in range(len(value) // PIECE + 1):
        os.setxattr(path, '%s.%d' % (IMPORT, k), value[k * PIECE:(k + 1) * PIECE])


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        if cmd in ('export', 'export-whole'):
            read = read_pieces if cmd == 'export' else lambda p: os.getxattr(p, EXPORT)
            try:
                h = read(args[0])
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
                os.setxattr(args[0], EXPORT, b'')
                h = read(args[0])
            sys.stdout.write(h.decode() + '\n')
        elif cmd == 'import':
            h = sys.stdin.read().strip().encode()
            set_import(os.path.join(args[0], '.vofirm'), args[1].encode() + b'\n' + h)
        elif cmd == 'update':
            h = sys.stdin.read().strip().encode()
            set_import(args[0], b'update\n' + h)
        elif cmd == 'state':
            try:
                print(os.getxattr(args[0], IMPORT).decode())
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
                print('none')
        elif cmd in ('commit-export', 'abort-export', 'commit-import', 'abort-import'):
            word, which = cmd.split('-')
            os.setxattr(args[0], EXPORT if which == 'export' else IMPORT, word.encode())
        else:
            sys.exit('handoff.py: unknown command ' + cmd)
    except OSError as e:
        sys.exit('handoff.py %s: %s' % (cmd, e))


main()
