#!/usr/bin/env bash
# Peers without the key cannot hold vofirm-memd's slots: connections that
# trickle a HELLO one byte a second are closed when the handshake's one
# deadline (10 s) passes, however often they send; they never count
# against --max-clients; one address cannot keep more than 8 of them; and
# a client resuming its session always gets in, even at --max-clients.
# TIMEOUT: 90
. "$(dirname "$0")/../../lib/common.sh"
require_cmd python3

start_memd memd --donate 16M --slab-size 1M --no-auth --max-clients 2
MPID=$PID
xt --server "$URL" rw --slabs 1 --session resume.sess >/dev/null

step "20 slow peers: 8 from 8 addresses, 12 from one address"
python3 - "$PORT" "$TOP/tests/tools" >slow.out 2>&1 <<'PY' &
import sys, threading, time
sys.path.insert(0, sys.argv[2])
import wire
port = int(sys.argv[1])
msg = wire.hello(b'slowloris')
peers = []
for i in range(8):
    peers.append(('127.0.0.%d' % (i + 2), wire.connect(port, '127.0.0.%d' % (i + 2))))
for i in range(12):
    peers.append(('127.0.0.10', wire.connect(port, '127.0.0.10')))
start = time.monotonic()
open('ready', 'w').close()
closed = {}
def trickle(n, s):
    s.settimeout(0.2)
    for b in msg[:-1]:  # never the whole HELLO
        try:
            s.send(bytes([b]))
            if s.recv(1) == b'':
                break
        except (BrokenPipeError, ConnectionResetError):
            break
        except OSError:
            pass  # recv timed out: still open
        if time.monotonic() - start > 25:
            break
        time.sleep(0.8)
    closed[n] = time.monotonic() - start
threads = [threading.Thread(target=trickle, args=(n, s)) for n, (_, s) in enumerate(peers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for n, (src, _) in enumerate(peers):
    print('peer %d from %s closed after %.1f s' % (n, src, closed[n]))
PY
SLOW=$!
for _ in $(seq 50); do [ -e ready ] && break; sleep 0.1; done
[ -e ready ] || { cat slow.out; fail "the slow peers did not start"; }
sleep 1

step "while they trickle: two clients log in (--max-clients 2), a third new one is refused"
xt --server "$URL" --name a hold --seconds 8 >a.out 2>&1 &
A=$!
xt --server "$URL" --name b hold --seconds 8 >b.out 2>&1 &
B=$!
for _ in $(seq 50); do grep -q holding a.out && grep -q holding b.out && break; sleep 0.1; done
grep -q holding a.out && grep -q holding b.out || { cat a.out b.out; fail "real clients could not log in past the slow peers"; }
expect_exit 6 xt --server "$URL" --name c stats
grep -q 'too many clients' <<<"$OUT" || fail "the refusal does not say why: $OUT"

step "a client resuming its session gets in at --max-clients"
xt --server "$URL" verify --session resume.sess >v.out 2>&1 || { cat v.out; fail "resume refused at --max-clients"; }
assert_grep 'verified 1 slabs' v.out
wait $A $B

step "every slow peer was closed by the handshake deadline, or at once when over its address's share"
wait $SLOW || { cat slow.out; fail "the slow peers' script failed"; }
cat slow.out
python3 - <<'PY'
import re
t = [(src, float(s)) for src, s in re.findall(r'from (\S+) closed after ([0-9.]+) s', open('slow.out').read())]
assert len(t) == 20, t
spread = [s for src, s in t if src != '127.0.0.10']
same = sorted(s for src, s in t if src == '127.0.0.10')
assert all(8.5 <= s <= 15 for s in spread), ('not closed at the deadline', spread)
assert sum(1 for s in same if s < 3) == 4, ('the address over its share kept more than 8', same)
assert all(8.5 <= s <= 15 for s in same[4:]), ('not closed at the deadline', same)
PY
assert_grep 'handshake not finished in time' memd.log
assert_grep 'connections from 127\.0\.0\.10 are not logged in yet' memd.log
stop_memd "$MPID"
