# SPDX-License-Identifier: GPL-2.0-or-later
"""Drives vofirm-fs's handoff attributes the way vofirmctl does, for tests:
  handoff.py export FILE            > HANDOFF   (exports once, then prints)
  handoff.py import MOUNT NAME      < HANDOFF
  handoff.py update FILE            < HANDOFF
  handoff.py state FILE             pending | none
  handoff.py commit-export|abort-export|commit-import|abort-import FILE
Exit 1 with the error when vofirm-fs refuses."""
import errno
import os
import sys

EXPORT, IMPORT = 'user.vofirm.export', 'user.vofirm.import'


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        if cmd == 'export':
            try:
                h = os.getxattr(args[0], EXPORT)
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
                os.setxattr(args[0], EXPORT, b'')
                h = os.getxattr(args[0], EXPORT)
            sys.stdout.write(h.decode() + '\n')
        elif cmd == 'import':
            h = sys.stdin.read().strip().encode()
            os.setxattr(os.path.join(args[0], '.vofirm'), IMPORT, args[1].encode() + b'\n' + h)
        elif cmd == 'update':
            h = sys.stdin.read().strip().encode()
            os.setxattr(args[0], IMPORT, b'update\n' + h)
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
