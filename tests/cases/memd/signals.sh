#!/usr/bin/env bash
# SIGTERM (and SIGINT) stop memd promptly with status 0, even with clients
# connected; SIGUSR1 logs the stats.
# TIMEOUT: 60
. "$(dirname "$0")/../../lib/common.sh"

for sig in TERM INT; do
	step "SIG$sig with two clients connected"
	start_memd "memd-$sig" --donate 64M --slab-size 1M --no-auth
	"$XTEST" --server "$URL" hold --slabs 2 --seconds 60 >"hold1-$sig.out" 2>&1 &
	h1=$!
	"$XTEST" --server "$URL" hold --seconds 60 >"hold2-$sig.out" 2>&1 &
	h2=$!
	# both holding: the first has its 2 slabs (a client counts from its
	# login, before its ALLOC)
	for _ in $(seq 100); do
		grep -q holding "hold1-$sig.out" && grep -q holding "hold2-$sig.out" && break
		sleep 0.1
	done
	grep -q holding "hold1-$sig.out" && grep -q holding "hold2-$sig.out" ||
		fail "the clients are not holding: $(cat "hold1-$sig.out" "hold2-$sig.out")"
	[ "$(stat_of "$URL" clients)" = 3 ] || fail "clients did not connect"
	if [ $sig = TERM ]; then
		# asked again until it says so: the stats query above is a client
		# too, until memd has seen it go
		line='stats: capacity 64 MiB in 64 slabs of 1 MiB: 2 granted, 62 free; 2 clients connected'
		for _ in $(seq 50); do
			kill -USR1 "$PID"
			sleep 0.1
			grep -qE "$line" "memd-$sig.log" && break
		done
		assert_grep "$line" "memd-$sig.log"
	fi
	start=$(date +%s%N)
	kill -"$sig" "$PID"
	rc=0
	for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$PID" 2>/dev/null && fail "memd still running 5 s after SIG$sig"
	wait "$PID" || rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ $rc = 0 ] || fail "memd exited with $rc after SIG$sig"
	echo "memd exited 0 after SIG$sig in $ms ms"
	assert_grep ': stopping' "memd-$sig.log"
	assert_grep 'notice: stopped' "memd-$sig.log"
	kill $h1 $h2 2>/dev/null || true
	wait $h1 $h2 2>/dev/null || true
done
