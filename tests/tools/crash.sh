# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by tests/cases/crash/*.sh after tests/lib/common.sh: vofirm-fs's
# supervisor and its worker, seen from the mount's stats.json.
#   fs_field MNT FIELD             a top-level field of MNT/.vofirm/stats.json
#                                  (null prints as "null")
#   worker_of MNT                  the worker's pid, checked against the
#                                  supervisor's children
#   kill_worker MNT                SIGKILL to the worker; sets OLD_WORKER
#   wait_worker MNT OLD [SECS]     until a worker other than OLD serves MNT
#                                  (default 30 s); sets WORKER
#   verify_loop NAME FILE SIZE SEED  in the background until NAME.stop exists:
#                                  the file read through the file system with
#                                  its page cache dropped (vofirm-mmapio check),
#                                  then through a shared mapping (verify);
#                                  passes in NAME.passes, every failure in
#                                  NAME.errors; sets LOOP_PID
#   stop_loop NAME                 stops it, waits for it; fails on an error or
#                                  if it did not finish
#   memd_granted URL               slabs the server has granted (every session)

fs_field() {
	python3 - "$1/.vofirm/stats.json" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
print("null" if v is None else v)
PY
}

worker_of() {
	local sup w
	sup=$(fs_field "$1" supervisor_pid)
	w=$(fs_field "$1" worker_pid)
	[ "$(awk '/^PPid:/ {print $2}' "/proc/$w/status" 2>/dev/null)" = "$sup" ] ||
		fail "stats.json's worker_pid $w is not a child of supervisor_pid $sup"
	echo "$w"
}

kill_worker() {
	OLD_WORKER=$(worker_of "$1")
	kill -KILL "$OLD_WORKER"
}

wait_worker() {
	local mnt=$1 old=$2 secs=${3:-30} w
	for _ in $(seq $((secs * 10))); do
		# stats.json is served by the worker: this read waits for a new one
		w=$(timeout 10 python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["worker_pid"])' \
			"$mnt/.vofirm/stats.json" 2>/dev/null || true)
		if [ -n "$w" ] && [ "$w" != "$old" ]; then
			WORKER=$w
			return 0
		fi
		sleep 0.1
	done
	fail "no new worker (the last was $old) within $secs s"
}

verify_loop() {
	local name=$1 file=$2 size=$3 seed=$4
	rm -f "$WORK/$name.stop" "$WORK/$name.errors"
	echo 0 >"$WORK/$name.passes"
	(
		n=0
		while [ ! -e "$WORK/$name.stop" ]; do
			if ! out=$("$MMAPIO" check "$file" "$size" "$seed" 2>&1); then
				echo "pass $n: check (pread, cache dropped): $out" >>"$WORK/$name.errors"
			fi
			if ! out=$("$MMAPIO" verify "$file" "$size" "$seed" 2>&1); then
				echo "pass $n: verify (shared mapping): $out" >>"$WORK/$name.errors"
			fi
			n=$((n + 1))
			echo "$n" >"$WORK/$name.passes.tmp"
			mv "$WORK/$name.passes.tmp" "$WORK/$name.passes"
		done
	) &
	LOOP_PID=$!
	_pids+=("$LOOP_PID")
}

stop_loop() {
	local name=$1 pid=$2
	touch "$WORK/$name.stop"
	for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && fail "the verifier $name did not finish within 60 s (a request lost?)"
	wait "$pid" || true
	if [ -s "$WORK/$name.errors" ]; then
		cat "$WORK/$name.errors" >&2
		fail "the verifier $name saw $(wc -l <"$WORK/$name.errors") error(s)"
	fi
	echo "verifier $name: $(cat "$WORK/$name.passes") passes, no error"
}

memd_granted() {
	stat_of "$1" slabs_granted
}
