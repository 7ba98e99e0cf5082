#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make bench: page-path benchmarks, every figure next to baselines measured
# in the same run (these machines are shared and noisy):
#   tmpfs       the local limit (page cache, no FUSE)
#   bare-fuse   the bare FUSE anchor (issue 11): vofirm-barefuse, a minimal
#               single-threaded libfuse server of one file in its memory,
#               mounted with vofirm-fs's options: what FUSE alone costs
#   fuse-mem    vofirm-fs over mem:// (an in-process pool): what FUSE and
#               vofirm-fs cost, no network
#   vofirm-tcp  vofirm-fs over vofirm-memd on loopback TCP
#   vofirm-tcp-r1, vofirm-tcp-r2
#               vofirm-fs over two memds (loopback TCP), one copy of every
#               extent against two (--replicas): only the copy count differs
#   rtt         the transport's 4 KiB round trip alone (mem://, tcp://)
#   bare-tcp    the bare TCP anchor (issue 11): `vofirm-pagebench tcpping`,
#               a blocking request/response of the same sizes between two
#               processes on loopback, TCP_NODELAY
#   fuse-mem-tN vofirm-fs over mem:// with --threads 1, nproc and 8, in
#               alternating rounds (cold random read fault, write-back; N/2
#               samples each in quick mode): the data to choose the default
# Every page-path and round-trip figure comes with CPU time per fault (or
# per 4 KiB page, per round trip): the vofirm-fs processes' (supervisor and
# worker, all threads) or vofirm-barefuse's, the memds', the benchmark's
# own, and the bare TCP server's (pagebench's $VOFIRM_PB_CPU); the report
# sets each figure against the anchors and issue 11's goals.
# then replication: r2 against r1 in alternating rounds (cold random read
# fault p50, write-back throughput), the repair's throughput after one of
# three memds is killed (--repair-rate 0), and random reads during a repair
# at the default rate against the same reads without one (on the host; the
# guest during a repair is measured apart, below);
# and, in a VM (the project's guest under QEMU), a memory-bound random
# workload with the VM's extra memory on vofirm at 100/50/25 % local
# budget, with and without vofirm's QEMU companion, against all-local.
# and the prefetcher (issue 12), in a VM: uniform random, sequential,
# strided, Zipf and pointer-chase workloads at 100/50/25 % local budget,
# with the kernel's readahead (vofirm-fs --prefetch kernel: what the other
# parts measure) without and with the companion, and --prefetch auto with
# it; ops/s, x all-local, MiB fetched, amplification, prefetch hit rate
# (medians; quick mode runs each pattern 3 times in a row in each VM,
# VOFIRM_BENCH_PREFETCH_REPS=N says how many, and reports the range).
# Then live migration (issue 13): the same VM with a 512 MiB DIMM whose data
# a guest workload keeps rewriting, moved by vofirmctl migrate (x-ignore-
# shared), by QEMU alone (the DIMM copied), and without its DIMM (the floor).
# And the guest during a repair (issue 9): the VM's DIMM on three memds
# with 2 copies, one memd killed while the guest's random workload runs;
# the guest's ops/s before the kill, until the repair starts, during it
# and after, with vofirm-fs's defaults and with --repair-rate-busy 64M
# (the repair slower while the guest's misses come).
# VOFIRM_BENCH_VM=0 skips the VM parts, VOFIRM_BENCH_REDIS=0 the Redis case
# study, VOFIRM_BENCH_PREFETCH=0 the prefetch part, VOFIRM_BENCH_MIGRATE=0
# the migrations, VOFIRM_BENCH_VM_REPAIR=0 the guest during a repair (any
# of the last three =only: nothing else); VOFIRM_BENCH_RUNS=N repeats
# everything N times (medians reported).
# Results: build/bench/DATE/{results.json,results.md,latency.png}.
#   scripts/bench.sh [--full]     (quick: a few minutes; full: more samples, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
MODE=quick
[ "${1:-}" = --full ] && MODE=full

scripts/install-deps.sh
if ! command -v gnuplot >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
	else
		echo "bench: no gnuplot (apt-get install gnuplot-nox): no plot" >&2
	fi
fi
make -j"$(nproc)" all >build.log 2>&1 || { tail -30 build.log; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: needs root (FUSE allow_other, tmpfs mount, dropping caches)" >&2; exit 1; }

B=$TOP/build
OUT=$TOP/build/bench/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
if [ $MODE = quick ]; then SIZE=$((256 << 20)); N=20000; RUNS=1; else SIZE=$((1 << 30)); N=100000; RUNS=3; fi
RUNS=${VOFIRM_BENCH_RUNS:-$RUNS}
PAGES=$((SIZE / 4096))
PF=${VOFIRM_BENCH_PREFETCH:-1}
VMR=${VOFIRM_BENCH_VM_REPAIR:-1}
# "only" one part: the page path and the other VM parts are skipped
ONLY=
[ "$PF" = only ] && ONLY=prefetch
[ "$VMR" = only ] && ONLY=vm-repair

PIDS=()
MNTS=()
cleanup() {
	for m in "${MNTS[@]}"; do fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT
# set -e stops the run at the first failed command: say where, never silently
set -E
trap 'echo "bench: line $LINENO: \"$BASH_COMMAND\" failed (status $?); stopping" >&2' ERR

echo "bench ($MODE): $((SIZE >> 20)) MiB files, $N samples, $RUNS run(s) -> $OUT"
# the load before (and after) the run: these machines are shared
cat /proc/loadavg >"$OUT/load-start"
mkdir -p "$OUT/tmpfs" "$OUT/bare-fuse" "$OUT/fuse-mem" "$OUT/vofirm-tcp" "$OUT/vofirm-tcp-r1" "$OUT/vofirm-tcp-r2"
mount -t tmpfs -o size=$((SIZE * 2)) vofirm-bench "$OUT/tmpfs"
MNTS+=("$OUT/tmpfs")

# A memd on a free loopback port; sets MPORT and MPID.  The chosen port is
# logged at notice, so memd runs at its default level.
start_memd() { # LOG DONATE [memd options]
	local log=$1 donate=$2
	shift 2
	"$B/vofirm-memd" --listen tcp://127.0.0.1:0 --donate "$donate" --slab-size 64M --no-auth "$@" \
		2>"$log" &
	MPID=$!
	PIDS+=("$MPID")
	MPORT=
	for _ in $(seq 50); do
		MPORT=$(sed -n 's/.*listening on tcp:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
		[ -n "$MPORT" ] && return 0
		sleep 0.1
	done
	cat "$log" >&2
	echo "bench: vofirm-memd did not start listening in 5 s" >&2
	exit 1
}
# CPU accounting: the processes whose CPU time pagebench reports per fault
# ($VOFIRM_PB_CPU, "fs=PID,PID memd=PID,PID"), by backend
declare -A FS_CPU MEMD_CPU
mount_fs() { # DIR vofirm-fs options (the last --log-level wins)
	local d=$1 sup
	shift
	# --prefetch kernel unless said: the kernel's readahead, as these
	# figures always had; the prefetch part compares the modes
	"$B/vofirm-fs" "$d" -f --log-level warning --prefetch kernel "$@" 2>"$d.log" &
	sup=$!
	PIDS+=("$sup")
	MNTS+=("$d")
	local pids
	for _ in $(seq 50); do
		# mounted, and stats.json names the supervisor and the worker (the
		# worker serves, the supervisor holds the mount): both are measured
		if grep -q " $d fuse.vofirm " /proc/mounts &&
			pids=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%d,%d" % (d["supervisor_pid"], d["worker_pid"]))' "$d/.vofirm/stats.json" 2>/dev/null); then
			FS_CPU[$(basename "$d")]=$pids
			return 0
		fi
		sleep 0.1
	done
	cat "$d.log" >&2
	echo "bench: vofirm-fs did not mount $d with a readable stats.json in 5 s" >&2
	exit 1
}
# Where a fault's time goes: vofirm-fs's counters (stats.json: the FUSE READ
# handler, and the requests to its servers) before and after a measurement
pp_snap() { # BACKEND: {"h_n", "h_ns", "s_n", "s_ns"} (cumulative), or {}
	local st=$OUT/$1/.vofirm/stats.json
	[ -e "$st" ] || { echo '{}'; return; }
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
h = d["page_path"]["fuse_read_us"]
s = [x["read_latency_us"] for x in d["servers"]]
print(json.dumps({"h_n": h["count"], "h_ns": h["count"] * h["mean"],
                  "s_n": sum(x["count"] for x in s), "s_ns": sum(x["count"] * x["mean"] for x in s)}))' "$st"
}
pp_delta() { # BEFORE AFTER: JSON members for rec: the means in between, µs
	python3 -c 'import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
o = {}
if a and b and b["h_n"] > a["h_n"]:
    o["fs_read_handler_us"] = round((b["h_ns"] - a["h_ns"]) / (b["h_n"] - a["h_n"]), 2)
    if b["s_n"] > a["s_n"]:
        o["fs_server_read_us"] = round((b["s_ns"] - a["s_ns"]) / (b["s_n"] - a["s_n"]), 2)
print(json.dumps(o))' "$1" "$2"
}
cpu_of() { # BACKEND: $VOFIRM_PB_CPU for it
	local be=$1 v=
	[ -n "${FS_CPU[$be]:-}" ] && v="fs=${FS_CPU[$be]}"
	[ -n "${MEMD_CPU[$be]:-}" ] && v="$v memd=${MEMD_CPU[$be]}"
	echo "$v"
}
start_memd "$OUT/memd.log" $((SIZE * 2))
PORT=$MPORT
MEMD_CPU[vofirm-tcp]=$MPID
MEMD_CPU[tcp]=$MPID # the transport round trip (rtt) to it
# two more for replicas 1 and 2 side by side: every copy of an r2 file fits
start_memd "$OUT/memd-a.log" $((SIZE * 2))
PORT_A=$MPORT
MEMD_CPU[vofirm-tcp-r1]=$MPID
start_memd "$OUT/memd-b.log" $((SIZE * 2))
PORT_B=$MPORT
MEMD_CPU[vofirm-tcp-r1]+=",$MPID"
MEMD_CPU[vofirm-tcp-r2]=${MEMD_CPU[vofirm-tcp-r1]}
# the bare FUSE anchor: one file, data, of SIZE, in a single-threaded
# libfuse server's memory, mounted with vofirm-fs's options
"$B/tests/vofirm-barefuse" "$OUT/bare-fuse" "$SIZE" 2>"$OUT/bare-fuse.log" &
FS_CPU[bare-fuse]=$!
PIDS+=("$!")
MNTS+=("$OUT/bare-fuse")
for _ in $(seq 50); do grep -q " $OUT/bare-fuse fuse.barefuse " /proc/mounts && break; sleep 0.1; done
grep -q " $OUT/bare-fuse fuse.barefuse " /proc/mounts || { cat "$OUT/bare-fuse.log" >&2; exit 1; }
mount_fs "$OUT/fuse-mem" --server "mem://$((SIZE * 2 >> 20))M"
mount_fs "$OUT/vofirm-tcp" --server "tcp://127.0.0.1:$PORT"
for r in 1 2; do
	mount_fs "$OUT/vofirm-tcp-r$r" --server "tcp://127.0.0.1:$PORT_A" --server "tcp://127.0.0.1:$PORT_B" \
		--replicas $r
done

RAW=$OUT/raw.jsonl
: >"$RAW"
rec() { # BACKEND RUN JSON [JSON of more members]
	local more='{}'
	[ $# -ge 4 ] && more=$4
	python3 -c 'import json,sys; d = json.loads(sys.argv[3]); d.update(json.loads(sys.argv[4])); d["backend"] = sys.argv[1]; d["run"] = int(sys.argv[2]); print(json.dumps(d))' "$1" "$2" "$3" "$more" >>"$RAW"
}
# a failed case leaves its figures out of the report; the run goes on
try() {
	"$@" || echo "bench: $2 (run $run) failed; its figures are missing" >&2
}
PB=$B/tests/vofirm-pagebench

# ---- live migration (issue 13): vofirm against plain, and the no-DIMM floor ----
migrate_bench() {
	local d=$OUT/migrate dimm=512 run c outp
	export VOFIRM_GUEST_ACCEL=${VOFIRM_GUEST_ACCEL:-tcg}
	mkdir -p "$d/a" "$d/b"
	start_memd "$d/memd.log" 3G
	mount_fs "$d/a" --server "tcp://127.0.0.1:$MPORT"
	mount_fs "$d/b" --server "tcp://127.0.0.1:$MPORT"
	for run in $(seq "$RUNS"); do
		for c in floor plain vofirm; do
			if outp=$(python3 "$TOP/tests/bench/migrate.py" "$c" "$d/vm" "$d/a" "$d/b" $dimm); then
				rec "migrate-$c" "$run" "$outp" "{\"bench\": \"migrate\", \"dimm_mib\": $dimm}"
				echo "  run $run: migration $c: $outp"
			else
				echo "bench: migration $c (run $run) failed; its figures are missing" >&2
			fi
		done
	done
}
if [ "${VOFIRM_BENCH_MIGRATE:-1}" = only ]; then
	migrate_bench
	cat /proc/loadavg >"$OUT/load-end"
	python3 "$TOP/tests/bench/report.py" "$OUT" "$MODE"
	exit 0
fi
drop_file() { # FILE: written back, evicted, and the page cache dropped
	"$PB" drop "$1"
	echo 3 >/proc/sys/vm/drop_caches
}

# ---- replication ----
# r2 against r1 on this noisy machine: alternating rounds on the same two
# memds, each round both backends back to back (the order alternates), the
# ratio taken within the round; the report gives the median of the rounds.
# Short rounds, many of them: the noise here comes in bursts.
if [ $MODE = quick ]; then PAIRS=5; else PAIRS=7; fi
repl_pairs() { # RUN
	local run=$1 round be f order
	for be in vofirm-tcp-r1 vofirm-tcp-r2; do
		f=$OUT/$be/bench
		rm -f "$f"
		"$B/tests/vofirm-mmapio" fill "$f" "$SIZE" 1 >/dev/null
	done
	for round in $(seq "$PAIRS"); do
		order="vofirm-tcp-r1 vofirm-tcp-r2"
		[ $((round % 2)) = 0 ] && order="vofirm-tcp-r2 vofirm-tcp-r1"
		for be in $order; do
			f=$OUT/$be/bench
			cat "$f" >/dev/null # resident, for the write-back alone
			rec "$be" "$run" "$(VOFIRM_PB_CPU=$(cpu_of $be) "$PB" writeback "$f" "$SIZE" $((N / 2)))" \
				"{\"pair\": $round}"
			drop_file "$f"
			rec "$be" "$run" "$(VOFIRM_PB_CPU=$(cpu_of $be) "$PB" readfault "$f" "$SIZE" rand $((N / 2)))" \
				"{\"pair\": $round}"
		done
	done
	rm -f "$OUT/vofirm-tcp-r1/bench" "$OUT/vofirm-tcp-r2/bench"
	echo "  run $run: replicas 2 against 1, $PAIRS alternating rounds done"
}

# The repair: three memds (a lease of 2 s: what is measured is the repair,
# not the wait for a dead server's lease), --replicas 2, a file of SIZE
# written; one memd killed with SIGKILL; the time from the repair's start
# (vofirm-fs gives the server up) until every lost copy is rebuilt.  With
# `reads`, random read faults on the file, cold, before the kill (idle) and
# from the repair's start to its end (busy).
# (awk reads to the end: quitting early would kill vofirm-fs with SIGPIPE
# mid-help, and pipefail would stop the bench)
REPAIR_DEFAULT=$("$B/vofirm-fs" --help 2>&1 | awk '/--repair-rate/ { f = 1 }
	f && !done && /\(default / { sub(/.*\(default /, ""); sub(/\).*/, ""); print; done = 1 }')
REPAIR_BUSY_DEFAULT=$("$B/vofirm-fs" --help 2>&1 | awk '/--repair-rate-busy/ { f = 1 }
	f && !done && /\(default / { sub(/.*\(default /, ""); sub(/\).*/, ""); print; done = 1 }')
repair_case() { # NAME RUN RATE(a size, 0: unlimited, default: vofirm-fs's) [reads]
	local name=$1 run=$2 rate=$3 reads=${4:-} d=$OUT/$1 i ports=() mpids=() srv=() ropt=()
	for i in 0 1 2; do
		start_memd "$d-memd$i.log" $((SIZE + (64 << 20))) --lease 2s
		ports+=("$MPORT")
		mpids+=("$MPID")
		srv+=(--server "tcp://127.0.0.1:$MPORT")
	done
	[ "$rate" = default ] || ropt=(--repair-rate "$rate")
	mkdir -p "$d"
	mount_fs "$d" "${srv[@]}" --replicas 2 "${ropt[@]}" --log-level notice
	local f=$d/bench url=tcp://127.0.0.1:${ports[0]} held t_kill pb='' res ret=0
	"$B/tests/vofirm-mmapio" fill "$f" "$SIZE" 1 >/dev/null
	drop_file "$f"
	if [ -n "$reads" ]; then
		rec "$name-idle" "$run" "$("$PB" readfault "$f" "$SIZE" rand "$N")"
		drop_file "$f"
	fi
	held=$(python3 "$TOP/tests/bench/repair.py" held "$d" "$url")
	rm -f "$d.stop"
	t_kill=$(date +%s.%N)
	kill -KILL "${mpids[0]}"
	{ wait "${mpids[0]}"; } 2>/dev/null || true # reaped here, quietly
	if [ -n "$reads" ]; then
		# the reads start with the repair (the moment itself is in the log)
		python3 "$TOP/tests/bench/repair.py" start "$d.log" "$url" "$t_kill" 120 >/dev/null || ret=1
		if [ $ret = 0 ]; then
			"$PB" readfault "$f" "$SIZE" rand "$PAGES" "$d.stop" >"$d.busy.json" &
			pb=$!
		fi
	fi
	if [ $ret = 0 ]; then
		res=$(python3 "$TOP/tests/bench/repair.py" "done" "$d" "$d.log" "$url" \
			$((held / (64 << 20))) "$t_kill" $((SIZE >> 20)) "$d.stop") || ret=1
	fi
	touch "$d.stop"
	[ -n "$pb" ] && { wait "$pb" || ret=1; }
	if [ $ret = 0 ]; then
		rec "$name" "$run" "$res" "{\"rate\": \"$rate\", \"default_rate\": \"$REPAIR_DEFAULT\", \"default_busy_rate\": \"$REPAIR_BUSY_DEFAULT\", \"size_mib\": $((SIZE >> 20))}"
		[ -n "$pb" ] && rec "$name-busy" "$run" "$(cat "$d.busy.json")"
		echo "  run $run: $name: $res"
	fi
	rm -f "$f"
	fusermount3 -u "$d" 2>/dev/null || umount "$d" 2>/dev/null || true
	kill "${mpids[1]}" "${mpids[2]}" 2>/dev/null || true
	wait "${mpids[@]}" 2>/dev/null || true
	return $ret
}
# The --threads sweep: vofirm-fs over mem:// at 1 thread, one per CPU and
# 8 (the default), mounted side by side and measured in turn (the order
# rotates), the cold random read fault and the write-back alone.
threads_sweep() { # RUN
	local run=$1 t ts=() be f i k order n=$N
	[ $MODE = quick ] && n=$((N / 2))
	for t in 1 "$(nproc)" 8; do [[ " ${ts[*]} " = *" $t "* ]] || ts+=("$t"); done
	for t in "${ts[@]}"; do
		mkdir -p "$OUT/fuse-mem-t$t"
		mount_fs "$OUT/fuse-mem-t$t" --server "mem://$((SIZE * 2 >> 20))M" --threads "$t"
		"$B/tests/vofirm-mmapio" fill "$OUT/fuse-mem-t$t/bench" "$SIZE" 1 >/dev/null
	done
	for i in "${!ts[@]}"; do
		order=()
		for k in "${!ts[@]}"; do order+=("${ts[(i + k) % ${#ts[@]}]}"); done
		for t in "${order[@]}"; do
			be=fuse-mem-t$t f=$OUT/fuse-mem-t$t/bench
			cat "$f" >/dev/null # resident, for the write-back alone
			rec "$be" "$run" "$(VOFIRM_PB_CPU=$(cpu_of "$be") "$PB" writeback "$f" "$SIZE" $((n / ${#ts[@]})))" \
				"{\"threads\": $t, \"round\": $i}"
			drop_file "$f"
			rec "$be" "$run" "$(VOFIRM_PB_CPU=$(cpu_of "$be") "$PB" readfault "$f" "$SIZE" rand $((n / ${#ts[@]})))" \
				"{\"threads\": $t, \"round\": $i}"
		done
	done
	for t in "${ts[@]}"; do
		rm -f "$OUT/fuse-mem-t$t/bench"
		fusermount3 -u "$OUT/fuse-mem-t$t" 2>/dev/null || umount "$OUT/fuse-mem-t$t" 2>/dev/null || true
	done
	echo "  run $run: --threads ${ts[*]} over mem:// done"
}
# The FUSE floor by placement: where a machine's idle vCPUs are slow to
# wake, a cold fault costs what waking the FUSE server's thread on the
# other vCPU costs (about 45 us more on some hosts), and an unpinned run
# measures the scheduler's choice as much as the server.  bare-fuse and
# fuse-mem each with the faulting process and every thread of the server
# pinned to one vCPU ("same"), then the faulting process on another
# ("other"), in alternating rounds; the pins are undone after each.
placement_rounds() { # RUN
	local run=$1 n=$((N / 4)) round place be f p pb_cpu all="0-$(($(nproc) - 1))"
	[ "$(nproc)" -ge 2 ] || return 0
	"$B/tests/vofirm-mmapio" fill "$OUT/fuse-mem/bench" "$SIZE" 1 >/dev/null
	for round in 0 1; do
		for place in same other; do
			pb_cpu=0
			[ $place = other ] && pb_cpu=1
			for be in bare-fuse fuse-mem; do
				f=$OUT/$be/bench
				[ $be = bare-fuse ] && f=$OUT/$be/data
				for p in ${FS_CPU[$be]//,/ }; do taskset -a -p -c 0 "$p" >/dev/null; done
				drop_file "$f"
				rec "$be-$place" "$run" "$(taskset -c $pb_cpu "$PB" readfault "$f" "$SIZE" rand "$n")" \
					"{\"placement\": \"$place\", \"round\": $round}"
				for p in ${FS_CPU[$be]//,/ }; do taskset -a -p -c "$all" "$p" >/dev/null; done
			done
		done
	done
	rm -f "$OUT/fuse-mem/bench"
	echo "  run $run: the FUSE floor by placement done"
}
for run in $(seq "$RUNS"); do
	[ -n "$ONLY" ] && break
	for be in tmpfs bare-fuse fuse-mem vofirm-tcp vofirm-tcp-r1 vofirm-tcp-r2; do
		f=$OUT/$be/bench
		# the bare FUSE server has one file, always there
		[ $be = bare-fuse ] && f=$OUT/$be/data || rm -f "$f"
		cpu=$(cpu_of $be)
		"$B/tests/vofirm-mmapio" fill "$f" "$SIZE" 1 >/dev/null
		"$PB" drop "$f"
		echo 3 >/proc/sys/vm/drop_caches
		snap=$(pp_snap "$be")
		res=$(VOFIRM_PB_CPU=$cpu "$PB" readfault "$f" "$SIZE" rand "$N")
		rec "$be" "$run" "$res" "$(pp_delta "$snap" "$(pp_snap "$be")")"
		"$PB" drop "$f"
		echo 3 >/proc/sys/vm/drop_caches
		rec "$be" "$run" "$(VOFIRM_PB_CPU=$cpu "$PB" readfault "$f" "$SIZE" seq "$PAGES")"
		# every page is resident now: the write-back alone (tmpfs has none)
		[ "$be" = tmpfs ] || rec "$be" "$run" "$(VOFIRM_PB_CPU=$cpu "$PB" writeback "$f" "$SIZE" "$N")"
		"$PB" drop "$f"
		echo 3 >/proc/sys/vm/drop_caches
		rec "$be" "$run" "$(VOFIRM_PB_CPU=$cpu "$PB" writefault "$f" "$SIZE" "$N")"
		[ $be = bare-fuse ] || rm -f "$f"
		echo "  run $run: $be done"
	done
	rec "mem" "$run" "$("$PB" rtt "mem://256M" "$N")"
	rec "tcp" "$run" "$(VOFIRM_PB_CPU=$(cpu_of tcp) "$PB" rtt "tcp://127.0.0.1:$PORT" "$N")"
	# the bare TCP anchor: a plain blocking ping-pong of the same sizes
	rec "bare-tcp" "$run" "$("$PB" tcpping "$N")"
	# a repair copies 1 MiB at a time: read from one copy, write to the new one
	rec "tcp" "$run" "$(VOFIRM_PB_CPU=$(cpu_of tcp) "$PB" rtt "tcp://127.0.0.1:$PORT" $((N / 40)) 1048576)"
	rec "bare-tcp" "$run" "$("$PB" tcpping $((N / 40)) 1048576)"
	try threads_sweep "$run"
	try placement_rounds "$run"
	try repl_pairs "$run"
	try repair_case repair-unlimited "$run" 0
	try repair_case repair-reads "$run" default reads
done

# ---- VM level ----
if [ "${VOFIRM_BENCH_VM:-1}" = 1 ]; then
	V="python3 $TOP/tests/tools/vm.py"
	export VOFIRM_GUEST_ACCEL=${VOFIRM_GUEST_ACCEL:-tcg}
	# few random operations: without the companion each miss reads 2-4 MiB
	if [ $MODE = quick ]; then OPS=3000; else OPS=20000; fi
	DIMM=512
	WORK=560   # MiB: twice the 256 MiB base RAM; room left for the guest's initramfs
	stat_read() { "$B/tests/vofirm-xtest" --server "tcp://127.0.0.1:$PORT" stats | sed -n "s/^${1:-bytes_read}=//p"; }
	# VM NAME, its base RAM touched, under a budget of PCT % of the DIMM
	# (0: no DIMM, all its memory local; 100: no budget), the DIMM grown onto
	# vofirm.  Sets qpid and cg (the budget's cgroup, or empty).
	VM_MOUNT=$OUT/vofirm-tcp # the mount the DIMM grows on
	vm_up() { # NAME PCT SHIM(0/1) DIR
		local name=$1 pct=$2 shim=$3 d=$4 mem=256M pre=()
		cg=
		rm -rf "$d"
		[ "$pct" = 0 ] && mem=$((256 + DIMM))M
		[ "$shim" = 1 ] && pre=(--preload "$B/libvofirm-qemu.so")
		$V start "$d" --name "$name" --mem "$mem" "${pre[@]}" >/dev/null
		qpid=$(cat "$d/qemu.pid")
		# the guest's base RAM touched first: QEMU's own memory at its steady size
		$V run "$d" "vofirm-mmapio anon - $((120 << 20)) 1" >/dev/null
		if [ "$pct" != 0 ] && [ "$pct" != 100 ]; then
			# the budget before the DIMM: every page of it is charged as it comes in
			local anon; anon=$(awk '/^RssAnon/ {print $2}' "/proc/$qpid/status")
			"$B/vofirmctl" budget --pid "$qpid" --limit $(( anon * 1024 + (DIMM << 20) * pct / 100 )) \
				--id "bench-$name-$$" >/dev/null
			cg=/sys/fs/cgroup/memory/vofirm-bench-$name-$$
			[ -d "$cg" ] || cg=/sys/fs/cgroup/vofirm-bench-$name-$$
		fi
		if [ "$pct" != 0 ]; then
			"$B/vofirmctl" grow --qmp "$d/qmp.sock" --mount "$VM_MOUNT" --size ${DIMM}M --id dimm1 \
				${GROW_OPTS:-} >/dev/null 2>&1
			$V run "$d" "for i in \$(seq 300); do [ \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) -ge 700000 ] && break; sleep 0.1; done" >/dev/null
		fi
	}
	vm_down() { # NAME DIR
		$V stop "$2"
		[ -n "$cg" ] && rmdir "$cg" 2>/dev/null
		rm -f "$VM_MOUNT/$1/dimm1"
	}
	# fill, secs and ops_s from vofirm-mmapio's output; 1 if they are missing
	mmapio_figures() {
		fill=$(echo "$1" | sed -n 's/^anon: wrote and verified .* in \([0-9.]*\) s.*/\1/p')
		secs=$(echo "$1" | sed -n 's/^rand: .* checked in \([0-9.]*\) s.*/\1/p')
		ops_s=$(echo "$1" | sed -n 's/^rand: .*(\([0-9]*\) ops\/s).*/\1/p')
		[ -n "$ops_s" ] && [ -n "$fill" ]
	}
	vm_case() { # NAME PCT(0: all local) SHIM(0/1) RUN
		local name=$1 pct=$2 shim=$3 run=$4 d=$OUT/vm-$1 qpid cg
		vm_up "$name" "$pct" "$shim" "$d"
		local r0; r0=$(stat_read)
		local outp; outp=$($V run "$d" "vofirm-mmapio anon - $((WORK << 20)) 2 rand $OPS" --timeout 1200)
		local r1; r1=$(stat_read)
		vm_down "$name" "$d"
		local fill secs ops_s
		mmapio_figures "$outp" || { echo "$outp" >&2; echo "bench: VM case $name failed" >&2; return 1; }
		rec "$name" "$run" "{\"bench\": \"vm-rand\", \"samples\": $OPS, \"budget_pct\": $pct, \"companion\": $shim, \"fill_s\": $fill, \"seconds\": $secs, \"ops_s\": $ops_s, \"fetched_mib\": $(( (r1 - r0) >> 20 ))}"
		echo "  run $run: VM $name: fill+verify ${fill} s, random $ops_s ops/s, $(( (r1 - r0) >> 20 )) MiB fetched"
	}
	# the stock alternative: guest swap on nbdkit's memory plugin through QEMU's
	# NBD client; the local budget is the guest's own RAM
	nbd_case() { # NAME PCT RUN
		local name=$1 pct=$2 run=$3 d=$OUT/vm-$1
		local mem=$((256 + DIMM * pct / 100))M
		rm -rf "$d"
		mkdir -p "$d"
		nbdkit -f -U "$d/nbd.sock" memory size=1G 2>"$d/nbdkit.log" &
		local npid=$!
		for _ in $(seq 50); do [ -S "$d/nbd.sock" ] && break; sleep 0.1; done
		$V start "$d" --name "$name" --mem "$mem" \
			--extra "-blockdev driver=nbd,node-name=swap0,server.type=unix,server.path=$d/nbd.sock" \
			--extra "-device virtio-blk-pci,drive=swap0" >/dev/null
		$V run "$d" "modprobe virtio_blk; for i in \$(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done; mkswap /dev/vda >/dev/null && swapon /dev/vda" ||
			{ kill $npid; echo "bench: NBD swap did not come up" >&2; return 1; }
		local outp; outp=$($V run "$d" "vofirm-mmapio anon - $((WORK << 20)) 2 rand $OPS; awk '/SwapTotal|SwapFree/' /proc/meminfo" --timeout 1800)
		$V stop "$d"
		kill $npid 2>/dev/null
		wait $npid 2>/dev/null
		local fill secs ops_s
		mmapio_figures "$outp" || { echo "$outp" >&2; echo "bench: VM case $name failed" >&2; return 1; }
		rec "$name" "$run" "{\"bench\": \"vm-rand\", \"samples\": $OPS, \"budget_pct\": $pct, \"companion\": 0, \"fill_s\": $fill, \"seconds\": $secs, \"ops_s\": $ops_s, \"fetched_mib\": null}"
		echo "  run $run: VM $name: fill+verify ${fill} s, random $ops_s ops/s"
	}
	# The guest while a lost copy is rebuilt (issue 9): three memds (lease
	# 2 s, as in the repair above), a mount of them, the VM's DIMM grown
	# there with 2 copies, at a 25 % local budget with the companion (its
	# random misses reach the servers).  In the guest, random pages read,
	# checked and rewritten without end (vofirm-mmapio ... timed), a line
	# per tick; on the host, after a few seconds, the memd holding the most
	# of the DIMM killed, the repair watched (at the options given), a few
	# seconds more, then the workload stopped.  The guest's clock is set
	# against the host's (vofirm-mmapio clock, bracketed): each tick counts
	# in the phase it lies in whole (before, detect, repair, after).
	vm_repair_case() { # NAME RUN [vofirm-fs options]
		local name=$1 run=$2 d=$OUT/vm-$1 ropt=("${@:3}") m=$OUT/vofirm-$1 i u url victim= vh=0 h
		local urls=() srv=() qpid cg t_kill rep res syncs=() ret=0
		local -A mp
		for i in 0 1 2; do
			# room for every copy of the DIMM on the two that are left
			start_memd "$m-memd$i.log" $(( (DIMM + 128) << 20 )) --lease 2s
			urls+=("tcp://127.0.0.1:$MPORT")
			mp[tcp://127.0.0.1:$MPORT]=$MPID
			srv+=(--server "tcp://127.0.0.1:$MPORT")
		done
		mkdir -p "$m"
		mount_fs "$m" "${srv[@]}" "${ropt[@]}" --prefetch auto --log-level notice
		local VM_MOUNT=$m GROW_OPTS="--replicas 2"
		vm_up "$name" 25 1 "$d"
		$V run "$d" "rm -rf /tmp/vr; mkdir -p /tmp/vr; (vofirm-mmapio anon - $((WORK << 20)) 2 timed 200 /tmp/vr >/tmp/vr/out 2>&1 &)" >/dev/null
		$V run "$d" "while [ ! -e /tmp/vr/filled ]; do sleep 0.2; done" --timeout 1800 >/dev/null || ret=1
		if [ $ret = 0 ]; then
			sleep 4 # the workload before the kill
			for u in "${urls[@]}"; do
				h=$(python3 "$TOP/tests/bench/repair.py" held "$m" "$u")
				if [ "${h:-0}" -gt "$vh" ]; then victim=$u vh=$h; fi
			done
			[ -n "$victim" ] || { echo "bench: no memd holds the DIMM" >&2; ret=1; }
		fi
		# the guest's clock against the host's: once before the kill, three
		# times after the workload (the tightest bracket gives the offset)
		clock_sync() {
			local h0 g h1
			h0=$(date +%s.%N)
			g=$($V run "$d" "vofirm-mmapio clock") || return 0
			h1=$(date +%s.%N)
			[[ $g =~ ^[0-9]+\.[0-9]+$ ]] && syncs+=("$h0,$g,$h1")
			return 0
		}
		[ $ret = 0 ] && clock_sync
		if [ $ret = 0 ]; then
			t_kill=$(date +%s.%N)
			kill -KILL "${mp[$victim]}"
			{ wait "${mp[$victim]}"; } 2>/dev/null || true
			# done when stats.json has nothing degraded (0 extents: an extent
			# the guest had not written yet when held was read is rebuilt too)
			rep=$(python3 "$TOP/tests/bench/repair.py" "done" "$m" "$m.log" "$victim" \
				0 "$t_kill" 300) || ret=1
			sleep 3 # and after the repair
		fi
		$V run "$d" "touch /tmp/vr/stop; while ! grep -q '^timed:' /tmp/vr/out; do sleep 0.2; done" \
			--timeout 120 >/dev/null || ret=1
		$V run "$d" "cat /tmp/vr/out" >"$d.$run.ticks" || ret=1
		for i in 1 2 3; do clock_sync; done
		vm_down "$name" "$d"
		fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || true
		for u in "${urls[@]}"; do [ "$u" = "$victim" ] || kill "${mp[$u]}" 2>/dev/null || true; done
		if [ $ret = 0 ] && ! grep -q '^timed: .*, 0 bad; every word checked after: 0 bad$' "$d.$run.ticks"; then
			tail -5 "$d.$run.ticks" >&2
			echo "bench: the guest read wrong data during the repair" >&2
			ret=1
		fi
		[ $ret = 0 ] || return 1
		[ ${#syncs[@]} -gt 0 ] || { echo "bench: the guest's clock could not be read" >&2; return 1; }
		res=$(python3 "$TOP/tests/bench/repair.py" vm "$d.$run.ticks" "$t_kill" "$rep" "${syncs[@]}") ||
			return 1
		rec "$name" "$run" "$res" "{\"budget_pct\": 25, \"companion\": 1, \"opts\": \"${ropt[*]}\", \"default_rate\": \"$REPAIR_DEFAULT\", \"default_busy_rate\": \"$REPAIR_BUSY_DEFAULT\", \"dimm_mib\": $DIMM}"
		echo "  run $run: VM during a repair: $res"
	}
	if ! command -v nbdkit >/dev/null && [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nbdkit >/dev/null
	fi
	for run in $(seq "$RUNS"); do
		[ -n "$ONLY" ] && break
		try vm_case local 0 0 "$run"
		try vm_case vofirm-100 100 0 "$run"
		try vm_case vofirm-50 50 0 "$run"
		try vm_case vofirm-25 25 0 "$run"
		try vm_case vofirm-50-companion 50 1 "$run"
		try vm_case vofirm-25-companion 25 1 "$run"
		if command -v nbdkit >/dev/null; then
			try nbd_case nbd-swap-50 50 "$run"
			try nbd_case nbd-swap-25 25 "$run"
		fi
	done
	if [ "$VMR" != 0 ] && [ "$ONLY" != prefetch ]; then
		for run in $(seq "$RUNS"); do
			try vm_repair_case vm-repair "$run"
			try vm_repair_case vm-repair-busy64m "$run" --repair-rate-busy 64M
		done
	fi
fi

# ---- the prefetcher (issue 12) ----
# One VM per configuration and budget; in it one vofirm-mmapio fills its
# memory once, then runs each pattern when told (pats ... DIR), so that
# each pattern's traffic is counted apart: the server's bytes read, and
# vofirm-fs's demand misses and prefetch counters (the mount's).
if [ "${VOFIRM_BENCH_VM:-1}" = 1 ] && [ "$PF" != 0 ] && [ "$ONLY" != vm-repair ]; then
	# Quick mode: 10 000 touches, each pattern run 3 times in a row in the
	# same VM (a repetition draws other pages, or scans on), the median and
	# the range reported.  With 3 000 touches once (0.01-1.3 s of TCG) one
	# wake-up of the vCPU moved a figure 2-5 times.
	if [ $MODE = quick ]; then PF_OPS=10000; PF_SEQ=32768; PF_REPS=3; else PF_OPS=20000; PF_SEQ=131072; PF_REPS=1; fi
	PF_REPS=${VOFIRM_BENCH_PREFETCH_REPS:-$PF_REPS}
	PF_LIST=${VOFIRM_BENCH_PREFETCH_PATTERNS:-rand,seq:$PF_SEQ,stride16,zipf,chase}
	PF_RUN= # each pattern PF_REPS times in a row
	for item in ${PF_LIST//,/ }; do
		for _ in $(seq "$PF_REPS"); do PF_RUN=${PF_RUN:+$PF_RUN,}$item; done
	done
	PF_BUDGETS=${VOFIRM_BENCH_PREFETCH_BUDGETS:-100 50 25}
	mkdir -p "$OUT/vofirm-pf-auto"
	mount_fs "$OUT/vofirm-pf-auto" --server "tcp://127.0.0.1:$PORT" --prefetch auto \
		${VOFIRM_BENCH_PREFETCH_ARGS:-}
	# the cold fault latency on each mount (host, random, cold): the bound
	# of a random workload is its misses at this latency
	for m in vofirm-tcp vofirm-pf-auto; do
		f=$OUT/$m/pfbench
		"$B/tests/vofirm-mmapio" fill "$f" "$SIZE" 1 >/dev/null
		drop_file "$f"
		rec "pf-fault-$m" 0 "$("$PB" readfault "$f" "$SIZE" rand "$N")"
		rm -f "$f"
	done
	pf_snap() { # MOUNT: the server's bytes read and the mount's prefetch counters
		python3 -c 'import json, sys
p = json.load(open(sys.argv[1] + "/.vofirm/stats.json"))["prefetch"] if sys.argv[1] else {}
p = {k: v for k, v in p.items() if isinstance(v, int)}
p["server_bytes"] = int(sys.argv[2] or 0)
p["server_written"] = int(sys.argv[3] or 0)
print(json.dumps(p))' "$1" "$(stat_read)" "$(stat_read bytes_written)"
	}
	# QEMU's page faults (all its threads: minor, major) and, under a
	# budget, its cgroup's pages reclaimed (pgpgout): where a miss's time
	# goes besides vofirm's read
	pf_faults() {
		local out
		out=$(awk '{print $10, $12}' "/proc/$qpid/stat" 2>/dev/null)
		[ -n "$cg" ] && out="$out $(awk '$1 == "pgpgout" {print $2}' "$cg/memory.stat" 2>/dev/null)"
		echo "$out"
	}
	pf_case() { # NAME PCT SHIM MOUNT(empty: all local) MODE RUN
		local name=$1 pct=$2 shim=$3 mnt=$4 mode=$5 run=$6 d=$OUT/vm-$1 qpid cg i=0 item pat s0 s1 f0 f1 outp
		# this case's mount only: the Redis cases after it grow on vofirm-tcp
		local VM_MOUNT=${mnt:-$OUT/vofirm-tcp}
		vm_up "$name" "$pct" "$shim" "$d"
		$V run "$d" "rm -rf /tmp/pf; mkdir -p /tmp/pf; (vofirm-mmapio anon - $((WORK << 20)) 2 pats $PF_RUN $PF_OPS /tmp/pf >/tmp/pf/out 2>&1 &)" >/dev/null
		$V run "$d" "while [ ! -e /tmp/pf/filled ]; do sleep 0.2; done" --timeout 1800 >/dev/null ||
			{ vm_down "$name" "$d"; return 1; }
		for item in ${PF_RUN//,/ }; do
			pat=${item%%:*}
			s0=$(pf_snap "$mnt")
			f0=$(pf_faults)
			outp=$($V run "$d" "touch /tmp/pf/go.$i; while [ ! -e /tmp/pf/done.$i ]; do sleep 0.1; done; cat /tmp/pf/done.$i" --timeout 1800)
			f1=$(pf_faults)
			s1=$(pf_snap "$mnt")
			i=$((i + 1))
			echo "$outp" | grep -q BAD && { echo "bench: $name $pat read wrong data" >&2; continue; }
			rec "$name" "$run" "$(python3 -c 'import json, re, sys
a, b, outp = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
m = re.search(r"(\d+) pages checked in ([0-9.]+) s \((\d+) ops/s\)", outp)
d = {k: b[k] - a.get(k, 0) for k in b}
need = d.get("demand_misses", 0) + d.get("used", 0)
# pages still pending when the pattern started are the last window of
# the pattern before: they expire in this one (their stream is
# replaced), and are not counted against it
pb = a.get("pending", 0)
done = d.get("used", 0) + d.get("wasted", 0) + max(0, d.get("expired", 0) - pb)
print(json.dumps({"bench": "vm-prefetch", "pattern": sys.argv[4], "budget_pct": int(sys.argv[5]),
    "companion": int(sys.argv[6]), "mode": sys.argv[7], "samples": int(m.group(1)),
    "seconds": float(m.group(2)), "ops_s": int(m.group(3)),
    "fetched_mib": d["server_bytes"] / 2**20 if sys.argv[8] else 0,
    "written_mib": d.get("server_written", 0) / 2**20 if sys.argv[8] else 0,
    "misses": d.get("demand_misses", 0), "prefetch_used": d.get("used", 0),
    "prefetch": dict({k: d.get(k, 0) for k in ("issued_pages", "prefetched_pages", "used", "wasted",
                                               "expired", "cached", "late", "dropped")},
                     pending_before=pb, pending_after=b.get("pending", 0)),
    "amplification": d["server_bytes"] / 4096 / need if need and sys.argv[8] else None,
    "hit_rate": d.get("used", 0) / done if done else None,
    **{k: int(y) - int(x) for k, x, y in zip(("qemu_minflt", "qemu_majflt", "cg_pgpgout"),
                                             sys.argv[9].split(), sys.argv[10].split())}}))' \
				"$s0" "$s1" "$outp" "$pat" "$pct" "$shim" "$mode" "$mnt" "$f0" "$f1")"
			echo "  run $run: VM $name $pat: $(echo "$outp" | tail -1)"
		done
		vm_down "$name" "$d"
	}
	for run in $(seq "$RUNS"); do
		try pf_case pf-local 0 0 "" local "$run"
		for pct in $PF_BUDGETS; do
			try pf_case "pf-kernel-$pct" "$pct" 0 "$OUT/vofirm-tcp" kernel "$run"
			try pf_case "pf-kernel-companion-$pct" "$pct" 1 "$OUT/vofirm-tcp" kernel "$run"
			try pf_case "pf-auto-$pct" "$pct" 1 "$OUT/vofirm-pf-auto" auto "$run"
		done
	done
fi

# ---- the Redis case study ----
if [ "${VOFIRM_BENCH_VM:-1}" = 1 ] && [ "${VOFIRM_BENCH_REDIS:-1}" = 1 ] && [ -z "$ONLY" ]; then
	if ! [ -x /usr/bin/redis-server ] && [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
		systemctl disable --now redis-server >/dev/null 2>&1 || true
	fi
	if [ $MODE = quick ]; then NKEYS=250000; ROPS=20000; else NKEYS=300000; ROPS=100000; fi
	redis_case() { # NAME PCT(0: all local) RUN [nocompanion]
		local name=$1 pct=$2 run=$3 d=$OUT/redis-$1 shim=1 qpid cg
		[ "${4:-}" = nocompanion ] && shim=0
		vm_up "$name" "$pct" "$shim" "$d"
		$V run "$d" "echo 1 > /proc/sys/vm/overcommit_memory; redis-server --unixsocket /tmp/r.sock --port 0 --save '' --appendonly no --daemonize yes --logfile /tmp/redis.log; for i in \$(seq 100); do [ -S /tmp/r.sock ] && break; sleep 0.1; done; vofirm-rmix fill /tmp/r.sock $NKEYS 1024" >/dev/null ||
			{ echo "bench: Redis did not start or fill in $name" >&2; vm_down "$name" "$d"; return 1; }
		for mix in 90 50; do
			local outp ops_s
			outp=$($V run "$d" "vofirm-rmix mix /tmp/r.sock $ROPS $mix $NKEYS 1024" --timeout 1800)
			ops_s=$(echo "$outp" | sed -n 's/.*: \([0-9]*\) ops\/s, 0 bad$/\1/p')
			[ -n "$ops_s" ] || { echo "$outp" >&2; echo "bench: Redis mix failed in $name" >&2; vm_down "$name" "$d"; return 1; }
			rec "$name" "$run" "{\"bench\": \"redis\", \"samples\": $ROPS, \"budget_pct\": $pct, \"companion\": $shim, \"get_pct\": $mix, \"ops_s\": $ops_s}"
			echo "  run $run: Redis $name, $mix % GET: $ops_s ops/s"
		done
		vm_down "$name" "$d"
	}
	for run in $(seq "$RUNS"); do
		try redis_case redis-local 0 "$run"
		try redis_case redis-100 100 "$run"
		try redis_case redis-50 50 "$run"
		try redis_case redis-25 25 "$run"
		try redis_case redis-25-nocompanion 25 "$run" nocompanion
	done
fi
if [ "${VOFIRM_BENCH_VM:-1}" = 1 ] && [ "${VOFIRM_BENCH_MIGRATE:-1}" = 1 ] && [ -z "$ONLY" ]; then
	migrate_bench
fi
cat /proc/loadavg >"$OUT/load-end"
python3 "$TOP/tests/bench/report.py" "$OUT" "$MODE"
