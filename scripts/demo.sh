#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The main job, as far as vofirm goes today: installs what is missing,
# builds, starts a memory server (vofirm-memd) on loopback, and exercises
# it with a client over the TCP transport: slabs granted, written and read
# back with many requests in flight, a dropped connection survived within
# the lease, a wrong key refused, the pool's stats, a clean stop.
# Everything it starts is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "Installing missing Debian packages and building"
scripts/install-deps.sh
make -j"$(nproc)" all >build.log 2>&1 || { tail -30 build.log; exit 1; }
MEMD=$TOP/build/vofirm-memd
CLIENT=$TOP/build/tests/vofirm-xtest

DIR=$(mktemp -d /tmp/vofirm-demo.XXXXXX)
MEMD_PID=
cleanup() {
	[ -n "$MEMD_PID" ] && kill "$MEMD_PID" 2>/dev/null && wait "$MEMD_PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

say "Making a pre-shared key ($DIR/key, mode 0600)"
head -c 32 /dev/urandom | base64 >"$DIR/key"
chmod 600 "$DIR/key"

say "Starting vofirm-memd: donating 1 GiB in 64 MiB slabs on 127.0.0.1, lease 5 s"
"$MEMD" --listen tcp://127.0.0.1:0 --donate 1G --slab-size 64M --key-file "$DIR/key" \
	--lease 5s 2>"$DIR/memd.log" &
MEMD_PID=$!
for _ in $(seq 50); do
	PORT=$(sed -n 's/.*listening on tcp:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$DIR/memd.log")
	[ -n "$PORT" ] && break
	sleep 0.1
done
[ -n "$PORT" ] || { cat "$DIR/memd.log"; echo "vofirm-memd did not start"; exit 1; }
URL=tcp://127.0.0.1:$PORT
sed 's/^/    memd | /' "$DIR/memd.log"
C=("$CLIENT" --server "$URL" --key-file "$DIR/key")

say "A client writes a pattern over 8 slabs (512 MiB), 64 requests in flight, reads it back and verifies"
"${C[@]}" --name demo-client rw --slabs 8 | sed 's/^/    client | /'

say "A client stores data and drops its connection; another process resumes the session within the lease"
"${C[@]}" --name vm-host rw --slabs 4 --seed 42 --session "$DIR/session" | sed 's/^/    client | /'
sleep 1
"${C[@]}" --name vm-host verify --session "$DIR/session" | sed 's/^/    client | /'

say "A client with the wrong key is refused"
head -c 32 /dev/urandom | base64 >"$DIR/wrong"
chmod 600 "$DIR/wrong"
if "$CLIENT" --server "$URL" --key-file "$DIR/wrong" --name intruder stats 2>&1 | sed 's/^/    client | /'; then
	echo "the wrong key was accepted" >&2
	exit 1
fi

say "The pool's stats, from the server"
"${C[@]}" stats | sed 's/^/    stats | /'

say "Stopping vofirm-memd with SIGTERM"
kill -TERM "$MEMD_PID"
wait "$MEMD_PID"
MEMD_PID=
echo "    vofirm-memd exited with status 0; its log:"
sed 's/^/    memd | /' "$DIR/memd.log" | tail -n +3

say "Done: a memory server donated RAM, a client used it over TCP, nothing was left running"
