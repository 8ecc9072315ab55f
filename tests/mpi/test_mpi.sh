#!/usr/bin/env bash
# Data-parallel training over MPI, end to end on localhost (CTest runs it when the build found MPI):
#   - 2 processes x batch 4 each and 1 process x batch 8, from the same seed, log the same losses for 20
#     steps (relative difference < 1e-4: only the order of the gradient sums differs); process 0 alone
#     evaluates every 5 steps while the other waits at the next step's collective;
#   - a checkpoint written by the 2-process run at step 10 resumes in 1 process, and steps 11..20 match
#     the straight 1-process run;
#   - the replica check catches a process whose weights were perturbed (DIFFUSE_TEST_PERTURB) and stops
#     the job with exit code 4 and a message naming the disagreement;
#   - evaluation sharded over 2 processes gives the single process's bits/char and bits/dim (relative
#     difference < 1e-9: the same per-batch streams, merged in a different grouping);
#     a journal begun by one process is finished by two, to the same figure;
#   - SIGKILL of one process ends the whole job within a bounded time, with a non-zero exit; the last
#     checkpoint still loads and --resume continues.
# Usage: test_mpi.sh path/to/diffuse path/to/mpiexec
set -uo pipefail
diffuse=$(realpath "$1")
mpiexec=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # CI runs as root
mpi=("$mpiexec" -np 2 --oversubscribe)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

corpus=$root/demo/kjv-gospels.txt
common=(--preset d3pm-text8-tiny --data "$corpus" --seed 5 --set train.batch=8 --set train.log_every=1
        --set train.sample_every=0 --set train.checkpoint_every=10 --set train.keep_checkpoints=10
        --set train.eval_every=5 --set train.eval_items=8)
# The loss column of "step N/M  loss X ..." lines, one per step (progress-bar lines are split on \r and ESC).
losses() { tr '\r\033' '\n\n' < "$1" | sed -n 's/.*step \([0-9]*\)\/[0-9]*  loss \([0-9.]*\).*/\1 \2/p' | sort -u -k1,1; }
# compare A B FIRST LAST: the losses of steps FIRST..LAST agree to a relative 1e-4.
compare() {
  join <(losses "$1") <(losses "$2") | awk -v a="$3" -v b="$4" '
    $1 >= a && $1 <= b { n++; d = $2 - $3; if (d < 0) d = -d; r = d / ($2 > 1e-12 ? $2 : 1e-12); if (r > worst) worst = r }
    END { printf "steps compared: %d, worst relative difference: %.2e\n", n, worst; exit !(n == b - a + 1 && worst < 1e-4) }'
}

"$diffuse" train "${common[@]}" --out one --steps 20 --threads 1 > one.log 2>&1 || fail "1-process run: $(tail -3 one.log)"
"${mpi[@]}" "$diffuse" train "${common[@]}" --out two --steps 20 > two.log 2>&1 || fail "2-process run: $(tail -3 two.log)"
grep -q "x 2 processes" two.log || fail "the 2-process run does not say so: $(head -3 two.log)"
compare one.log two.log 1 20 || fail "1 x 8 and 2 x 4 losses differ"
[ "$(grep -c '^{"step":[0-9]*,"evaluation":{"split":"valid","items":8,"bits_per_char":[0-9]' two/metrics.jsonl)" -eq 4 ] &&
  [ "$(grep -c '^evaluation at step' two.log)" -eq 4 ] || fail "the 2-process run's evaluations: $(grep evaluation two/metrics.jsonl)"

# Resume the 2-process run's step-10 checkpoint in one process.
mkdir resumed && cp two/config.json two/ckpt-000000010.safetensors resumed/
"$diffuse" train --data "$corpus" --out resumed --resume --steps 20 --threads 1 > resumed.log 2>&1 || fail "resume in 1 process"
compare one.log resumed.log 11 20 || fail "2 -> 1 process resume differs from the straight run"

# A replica that drifts is caught at the next check.
DIFFUSE_TEST_PERTURB=1:6 "${mpi[@]}" -x DIFFUSE_TEST_PERTURB "$diffuse" train "${common[@]}" --out drift --steps 20 \
  --set train.replica_check_every=4 > drift.log 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "a perturbed replica went unnoticed"
grep -q "step 8: the processes' parameters disagree" drift.log || fail "no replica-check message: $(tail -3 drift.log)"
[ ! -e drift/ckpt-000000020.safetensors ] || fail "the drifted run went on to the end"

# Sharded evaluation: D3PM text (exact, strided, estimate) and DDPM images equal one process's figures.
# same_figure KEY FILE1 FILE2: the JSON field KEY agrees to a relative 1e-9.
same_figure() {
  local a b
  a=$(grep -o "\"$1\":[0-9.e+-]*" "$2" | cut -d: -f2)
  b=$(grep -o "\"$1\":[0-9.e+-]*" "$3" | cut -d: -f2)
  awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-9 * (a < 0 ? -a : a)) }' ||
    fail "$1 differs between one and two processes: $a vs $b ($2, $3)"
}
for flags in "--steps 10" "--estimate" ""; do
  ev=(evaluate --checkpoint one/ckpt-000000020.safetensors --data "$corpus" --chunks 6 --batch 2 --json $flags)
  "$diffuse" "${ev[@]}" --threads 1 > ev1.json 2> /dev/null || fail "1-process evaluate $flags"
  "${mpi[@]}" "$diffuse" "${ev[@]}" > ev2.json 2> ev2.err || fail "2-process evaluate $flags: $(tail -2 ev2.err)"
  same_figure bits_per_char ev1.json ev2.json
  grep -q '"chunks":6,' ev2.json || fail "2-process evaluate reports other chunks: $(cat ev2.json)"
done
# A journal written by one process, cut after its first batch, is finished by two.
ev=(evaluate --checkpoint one/ckpt-000000020.safetensors --data "$corpus" --chunks 6 --batch 2 --steps 10 --json)
"$diffuse" "${ev[@]}" --threads 1 > straight.json 2> /dev/null || fail "1-process evaluate"
"$diffuse" "${ev[@]}" --threads 1 --journal journal > /dev/null 2>&1 || fail "1-process evaluate --journal"
head -n 2 journal/part-0.jsonl > cut.jsonl && mv cut.jsonl journal/part-0.jsonl
"${mpi[@]}" "$diffuse" "${ev[@]}" --journal journal > resumed.json 2> resumed.err || fail "2-process resume: $(tail -2 resumed.err)"
same_figure bits_per_char straight.json resumed.json
[ "$(cat journal/part-*.jsonl | grep -c '"result"')" -eq 3 ] || fail "the journal should hold 3 batches: $(wc -l journal/*)"
mkdir cifar
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  for i in 0 1 2 3 4 5; do printf "\\x0$i"; head -c 3072 /dev/urandom; done > "cifar/$f.bin"
done
"$diffuse" train --preset ddpm-cifar10-tiny --data cifar --out ddpm --steps 2 --threads 1 --set diffusion.timesteps=20 \
  --set train.sample_every=0 > ddpm.log 2>&1 || fail "ddpm train: $(tail -3 ddpm.log)"
ev=(evaluate --checkpoint ddpm/ckpt-000000002.safetensors --data cifar --images 6 --batch 2 --json)
"$diffuse" "${ev[@]}" --threads 1 > ev1.json 2> /dev/null || fail "1-process DDPM evaluate"
"${mpi[@]}" "$diffuse" "${ev[@]}" > ev2.json 2> ev2.err || fail "2-process DDPM evaluate: $(tail -2 ev2.err)"
same_figure bits_per_dim ev1.json ev2.json
"${mpi[@]}" "$diffuse" evaluate --checkpoint ddpm/ckpt-000000002.safetensors --data cifar --images 2 --batch 2 \
  > few.log 2>&1 && fail "2 processes accepted 1 batch"
grep -q "cannot be shared by 2 processes" few.log || fail "no message for too few batches: $(tail -3 few.log)"

# Kill one process: the job ends, nothing is damaged, --resume continues.
"${mpi[@]}" "$diffuse" train "${common[@]}" --out killed --steps 100000 --set train.checkpoint_every=5 > killed.log 2>&1 &
launcher=$!
for _ in $(seq 1 300); do [ -e killed/ckpt-000000010.safetensors ] && break; sleep 0.1; done
victim=""
for pid in $(pgrep -f "diffuse train.*--out killed"); do
  tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$pid
done
if [ -z "$victim" ]; then
  fail "could not find process 1 of the job"
  kill "$launcher"
else
  kill -9 "$victim"
  start=$SECONDS
  for _ in $(seq 1 300); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$launcher" 2>/dev/null; then
    fail "the job still runs 30 s after one process was killed"
    pkill -9 -f "diffuse train.*--out killed"
  fi
  wait "$launcher"
  rc=$?
  echo "job ended $((SECONDS - start)) s after the kill, exit code $rc"
  [ "$rc" -ne 0 ] || fail "the job exited 0 although a process was killed"
  "$diffuse" train --data "$corpus" --out killed --resume --steps 30 --threads 1 > killed-resume.log 2>&1 ||
    fail "resume after the kill: $(tail -3 killed-resume.log)"
fi

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
