#!/usr/bin/env bash
# A rank that dies mid-run ends the whole expert-parallel job, with an error and a non-zero
# exit, within a bounded time (no rank waits forever for the dead one):
#   ep_kill_rank.sh SECONDS MPIRUN... -- SLUICE ARGS...
# starts `MPIRUN -np 2 SLUICE ARGS...` (a long generation), waits until it generates, kills
# rank 1 with SIGKILL and passes when mpirun exits non-zero within SECONDS of the kill and
# says which rank died.
set -u
limit=$1
shift
mpirun=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    mpirun+=("$1")
    shift
done
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"${mpirun[@]}" -np 2 "$@" >"$out" 2>&1 &
job=$!

# Rank 1: a sluice process of this job whose environment says OMPI_COMM_WORLD_RANK=1.
rank1=""
for _ in $(seq 1 200); do
    for dir in /proc/[0-9]*; do
        if tr '\0' '\n' <"$dir/cmdline" 2>/dev/null | grep -qxF -- "$1" &&
            tr '\0' '\n' <"$dir/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
            rank1=${dir#/proc/}
        fi
    done
    # Killed once it generates: the output (rank 0's text) has started.
    if [ -n "$rank1" ] && [ -s "$out" ]; then
        break
    fi
    sleep 0.1
done
if [ -z "$rank1" ] || ! kill -0 "$job" 2>/dev/null; then
    cat "$out"
    echo "ep_kill_rank.sh: the job did not start generating (rank 1: '${rank1}')" >&2
    kill -9 "$job" 2>/dev/null
    exit 1
fi
start=$(date +%s%N)
kill -9 "$rank1"
code=0
deadline=$(( $(date +%s) + limit ))
while kill -0 "$job" 2>/dev/null; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
        tail -5 "$out"
        echo "ep_kill_rank.sh: the job still runs ${limit} s after rank 1 was killed" >&2
        kill -9 "$job" 2>/dev/null
        exit 1
    fi
    sleep 0.1
done
wait "$job"
code=$?
took=$((($(date +%s%N) - start) / 1000000))
tail -5 "$out"
echo "ep_kill_rank.sh: mpirun exited with status $code, $took ms after rank 1 was killed"
if [ "$code" -eq 0 ]; then
    echo "ep_kill_rank.sh: exit status 0 after a rank died" >&2
    exit 1
fi
if ! grep -q "rank 1" "$out"; then
    echo "ep_kill_rank.sh: no message names rank 1" >&2
    exit 1
fi
