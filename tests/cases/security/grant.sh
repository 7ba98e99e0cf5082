#!/usr/bin/env bash
# One-time grants (protocol 3), played on the wire by three authenticated
# sessions: a forged token is refused; the grantee reads the issuer's data;
# the grant used by the wrong session (a third one, after the grantee
# accepted it; GIVE by the grantee) is refused, and that session can reach
# nothing; after GIVE the issuer can reach nothing and the token is dead
# (replayed: refused); an expired grant is refused and the slabs stay the
# issuer's.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

make_key key
start_memd memd --donate 16M --slab-size 1M --key-file key
MEMD_PID=$PID
python3 - "$PORT" "$TOP/tests/tools" <<'PY'
import os, sys, time
sys.path.insert(0, sys.argv[2])
import wire
port = int(sys.argv[1])
key = wire.key_of('key')
EACCES, EPERM, ETIME = 13, 1, 62
a = wire.Session(port, key, b'issuer')
b = wire.Session(port, key, b'grantee')
c = wire.Session(port, key, b'third')

ids = a.alloc(2)
assert a.write(ids[0], 0, b'issuer data') == 0
st, token = a.grant(ids, 60000)
assert st == 0 and len(token) == 32, (st, token)
print('granted', ids)

st, why = c.accept(os.urandom(32))
print('forged token:', st, why)
assert st == EACCES, st
st, _ = c.read(ids[0], 0, 11)
assert st == EPERM, st

st, got = b.accept(token)
assert st == 0 and sorted(got) == sorted(ids), (st, got)
st, data = b.read(ids[0], 0, 11)
assert st == 0 and data == b'issuer data', (st, data)
print('the grantee reads the issuer\'s data')

st, why = c.accept(token)
print('the grant used by another session:', st, why)
assert st == EACCES and b'another session' in why, (st, why)
st, _ = c.read(ids[0], 0, 11)
assert st == EPERM, st
st, why = b.request(wire.GIVE, token)
print('GIVE by the grantee:', st, why)
assert st == EACCES, st
st, why = a.accept(token)
assert st == EACCES, (st, why)

st, _ = a.request(wire.GIVE, token)
assert st == 0, st
st, _ = a.read(ids[0], 0, 11)
assert st == EPERM, st
st, data = b.read(ids[0], 0, 11)
assert st == 0 and data == b'issuer data', (st, data)
for s in (b, c):
    st, why = s.accept(token)
    print('replayed after use:', st, why)
    assert st == EACCES, st

one = a.alloc(1)
st, t2 = a.grant(one, 300)
assert st == 0
time.sleep(0.6)
st, why = b.accept(t2)
print('expired:', st, why)
assert st == ETIME and b'expired' in why, (st, why)
st, _ = b.read(one[0], 0, 4)
assert st == EPERM, st
assert a.write(one[0], 0, b'mine') == 0
st, why = a.request(wire.FREE, wire.struct.pack('<III', 1, 0, one[0]))
assert st == 0, why
PY
assert_grep 'ACCEPT refused: no such grant' memd.log
assert_grep 'expired before it was accepted' memd.log
stop_memd "$MEMD_PID"
