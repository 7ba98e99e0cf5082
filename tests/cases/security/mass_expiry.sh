#!/usr/bin/env bash
# A mass lease expiry does not stall vofirm-memd: 128 slabs of locked
# memory (zeroed by hand: 512 MiB, seconds in the sanitizer build) expire
# at once, and new clients are still answered promptly while they are
# zeroed (the zeroing runs off the main loop).  The figures are logged;
# the bound is loose.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

start_memd memd --donate 512M --slab-size 4M --mlock --lease 1s --no-auth
step "a client takes every slab and goes away; its lease is 1 s"
xt --server "$URL" --name hog alloc --slabs 128 --keep >/dev/null
t_end=$(( $(date +%s%N) / 1000000 + 60000 ))
max=0 n=0
# new clients, one after another, until the zeroing is over
while ! grep -q 'zeroed 128 freed slabs' memd.log && [ $(( $(date +%s%N) / 1000000 )) -lt $t_end ]; do
	t0=$(date +%s%N)
	xt --server "$URL" --name probe stats >/dev/null || fail "a client was refused during the expiry"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	n=$((n + 1))
	[ $ms -gt $max ] && max=$ms
done
zero=$(sed -n 's/.*zeroed 128 freed slabs in \([0-9]*\) ms.*/\1/p' memd.log)
[ -n "$zero" ] || { tail memd.log; fail "the expired slabs were not zeroed"; }
echo "zeroing 128 slabs (512 MiB) took $zero ms; $n new clients during it, the slowest $max ms"
[ "$(stat_of "$URL" slabs_free)" = 128 ] || fail "not every slab is free again"
# a zeroing that outlasts two tries has had the chance to stall them
[ $n -ge 2 ] || [ "$zero" -lt 1000 ] || fail "only $n client during a zeroing of $zero ms"
[ $max -lt 3000 ] || fail "a new client waited $max ms while the expired slabs were zeroed"
stop_memd "$PID"
