#!/usr/bin/env bash
# End-to-end tests of build/diffuse through its command line, on data this script generates:
#   - D3PM text: a run stopped after 20 steps and resumed equals an uninterrupted run, byte for byte; a
#     run stopped by SIGINT at a random moment saves a checkpoint, exits 130, and its resume also equals
#     the uninterrupted run; so does a run SIGKILLed at random moments three times, each time resumed (and
#     each run's metrics.jsonl equals the uninterrupted run's apart from the timings, its periodic evaluations
#     included; a run resumed from a step whose evaluation its log lacks evaluates it first); a
#     SIGINT during a run's sampling stops it at the next network evaluation; a diverging run (lr 1e30)
#     stops with exit 3 naming the step; the checkpoint's metadata records the network's facts (norm eps,
#     GELU form, timestep input, character map, mask id); sample and evaluate (exact, strided, estimate,
#     JSON) work on the checkpoint; an evaluation cut short resumes from its --journal to the same figure.
#   - DDPM and D3PM on images: train (with periodic evaluation on the test images; a SIGINT during the last
#     step's stops the run at the next network evaluation, exit 130, and the resume makes it up), sample (.png and .npz; DDPM also with --sampler ddim and
#     dpm-solver, and their refusals) and evaluate --json on generated CIFAR-10-format files.
#   - The demo presets: D3PM text on the bundled corpus, DDPM on Fashion-MNIST when Debian's package is there.
#   - Bad input: an unknown or misspelt flag or verb (named first, with a suggestion), an unknown --set key, no --data for CIFAR-10, a missing --data, a corpus with a byte outside the alphabet, too many
#     --chunks, a truncated checkpoint, a config.json, an empty file or an .npz as the checkpoint: each exits
#     non-zero with a message naming the flag or file (and what the file is); a run folder train cannot write in.
#   - Progress on stderr: a line per tenth of the work when redirected, never a carriage return; --quiet: none.
#   - diffuse plot: the loss curves of runs, the bound's per-t terms, DDPM's rate-distortion, as PNGs of the
#     asked size; bad run folders are warnings naming the file and line; another family's terms are refused.
# Usage: test_cli.sh path/to/diffuse
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/harness.sh"

# ---- D3PM text ------------------------------------------------------------------------------------
yes "the quick brown fox jumps over the lazy dog while five boxing wizards jump quickly" | head -c 200000 | tr -d '\n' > corpus.txt
common=(--preset d3pm-text8-tiny --data corpus.txt --threads 1 --seed 3 --set train.checkpoint_every=20
        --set train.sample_every=0 --set train.keep_checkpoints=50 --set train.eval_every=50 --set train.eval_items=16)

"$diffuse" train "${common[@]}" --out straight --steps 200 > straight.log || fail "straight run"
"$diffuse" train "${common[@]}" --out split --steps 20 > split1.log || fail "first half"
"$diffuse" train --data corpus.txt --out split --resume --steps 200 --threads 1 > split2.log || fail "resume"
cmp -s straight/ckpt-000000200.safetensors split/ckpt-000000200.safetensors ||
  fail "stop at 20 + resume differs from the straight run"
# metrics.jsonl: a line per logged step (every 10th) and an evaluation object every 50th, the resumed run's
# equal to the straight run's line by line apart from the timings (wall_time, ms_per_step, items_per_second).
same_metrics() {  # same_metrics RUN [REFERENCE]
  local a=${2:-straight}/metrics.jsonl b=$1/metrics.jsonl
  [ -f "$b" ] && [ "$(wc -l < "$a")" -eq "$(wc -l < "$b")" ] && cmp -s <(timeless "$a") <(timeless "$b") ||
    fail "$b differs from $a apart from the timings: $(diff <(timeless "$a") <(timeless "$b") 2>&1 | head -4)"
}
# evaluations RUN FIGURE METHOD ITEMS: the steps of RUN's evaluation objects, each checked for its form and a
# finite figure.
evaluations() {
  local bad
  bad=$(grep '"evaluation"' "$1/metrics.jsonl" | grep -v "^{\"step\":[0-9]*,\"evaluation\":{\"split\":\"[a-z]*\",\"items\":$4,\"$2\":[0-9][0-9.e+-]*,\"stderr\":[0-9][0-9.e+-]*,\"method\":\"$3\"}}$")
  [ -z "$bad" ] || fail "$1/metrics.jsonl: malformed or non-finite evaluation: $bad"
  grep -o '^{"step":[0-9]*,"evaluation"' "$1/metrics.jsonl" | grep -o '[0-9]*' | tr '\n' ' '
}
[ "$(grep -c '"loss"' straight/metrics.jsonl)" -eq 20 ] || fail "straight/metrics.jsonl should hold 20 step lines: $(wc -l < straight/metrics.jsonl)"
[ "$(evaluations straight bits_per_char estimate 16)" = "50 100 150 200 " ] ||
  fail "straight/metrics.jsonl: evaluations at steps $(evaluations straight bits_per_char estimate 16), not 50 100 150 200"
grep -q '^evaluation at step 100: [0-9.]* +- [0-9.]* bits/char on 16 valid chunks (estimate)$' straight.log ||
  fail "no evaluation line in the log: $(grep evaluation straight.log | head -2)"
grep -v '"evaluation"' straight/metrics.jsonl | tail -n 1 | grep -q '^{"step":200,"wall_time":[0-9.e+]*,"lr":[0-9.e+-]*,"loss":[0-9.e+-]*,"loss_parts":{"L_vb":[0-9.e+-]*,"CE":[0-9.e+-]*},"grad_norm":[0-9.e+-]*,"clipped":\(true\|false\),"ms_per_step":[0-9.e+-]*,"items_per_second":[0-9.e+-]*,"ema_decay":0\.[0-9]*}$' ||
  fail "metrics.jsonl's last line: $(tail -n 1 straight/metrics.jsonl)"
# The loss is its parts: L_lambda = L_vb + lambda CE (lambda = 0.01 in d3pm-text8-tiny).
grep -v '"evaluation"' straight/metrics.jsonl | tail -n 1 | sed -E 's/.*"loss":([^,]*),"loss_parts":\{"L_vb":([^,]*),"CE":([^}]*)\}.*/\1 \2 \3/' |
  awk '{ d = $1 - ($2 + 0.01 * $3); exit !(d < 1e-4 * $1 && d > -1e-4 * $1) }' || fail "metrics.jsonl: loss is not L_vb + 0.01 CE"
same_metrics split
# A run dir as a kill leaves it: lines past its last checkpoint (step 20), the last one cut mid-write. The
# resume cuts the file back to step 20 and ends equal to the straight run's.
mkdir rewound && cp straight/config.json straight/ckpt-000000020.safetensors rewound/ &&
  { cat straight/metrics.jsonl; head -c 40 straight/metrics.jsonl; } > rewound/metrics.jsonl
"$diffuse" train --data corpus.txt --out rewound --resume --threads 1 > rewound.log || fail "resume of rewound"
same_metrics rewound
# Killed during the evaluation of step 100, after its checkpoint: the resumed run evaluates step 100 first.
mkdir caught-up && cp straight/config.json straight/ckpt-000000100.safetensors caught-up/ &&
  grep -v '^{"step":100,"evaluation"' straight/metrics.jsonl > caught-up/metrics.jsonl
"$diffuse" train --data corpus.txt --out caught-up --resume --threads 1 > caught-up.log || fail "resume of caught-up"
head -n 5 caught-up.log | grep -q '^evaluation at step 100: ' || fail "the resume did not evaluate step 100 first: $(head -5 caught-up.log)"
same_metrics caught-up

"$diffuse" train "${common[@]}" --out signalled --steps 200 > signalled.log &
pid=$!
sleep "0.$((RANDOM % 9 + 1))"
kill -INT "$pid"
wait "$pid"; rc=$?
if [ "$rc" -eq 130 ]; then
  grep -q "stopped by signal at step" signalled.log || fail "no stop message: $(tail -2 signalled.log)"
  "$diffuse" train --data corpus.txt --out signalled --resume --threads 1 > signalled2.log || fail "resume after SIGINT"
elif [ "$rc" -ne 0 ]; then
  fail "SIGINT run exited $rc"
fi
cmp -s straight/ckpt-000000200.safetensors signalled/ckpt-000000200.safetensors ||
  fail "SIGINT + resume differs from the straight run"
same_metrics signalled

# SIGKILL at random moments, three times over: each resume continues from the last checkpoint, and the
# run ends equal to the uninterrupted one.
"$diffuse" train "${common[@]}" --out killed --steps 200 > killed.log &
for round in 1 2 3; do
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  kill -KILL "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
  if ls killed/ckpt-*.safetensors > /dev/null 2>&1; then
    "$diffuse" train --data corpus.txt --out killed --resume --threads 1 >> killed.log &
  else
    "$diffuse" train "${common[@]}" --out killed --steps 200 >> killed.log &
  fi
done
wait $! || fail "the last resume after SIGKILL: $(tail -2 killed.log)"
cmp -s straight/ckpt-000000200.safetensors killed/ckpt-000000200.safetensors ||
  fail "SIGKILL x3 + resume differs from the straight run"
same_metrics killed

# diffusion.loss_bits_per_dim sets the D3PM training loss's scale: nats summed over the 32 positions (the
# text presets, as the reference text code) or bits per position (the image presets): 32 ln 2 apart.
for units in true false; do
  "$diffuse" train "${common[@]}" --out "units-$units" --steps 1 --set train.log_every=1 \
    --set diffusion.loss_bits_per_dim=$units > "units-$units.log" || fail "train with loss_bits_per_dim=$units"
done
bits=$(awk '/^step 1\/1/ {print $4}' units-true.log) nats=$(awk '/^step 1\/1/ {print $4}' units-false.log)
awk -v b="$bits" -v n="$nats" 'BEGIN { r = n / (b * 32 * log(2)); exit !(b > 0 && r > 0.999 && r < 1.001) }' ||
  fail "loss in bits per position $bits vs nats per sequence $nats: not a factor of 32 ln 2"

# SIGINT while a run writes its samples (3000 network evaluations, many seconds): the sampler stops at its
# next evaluation, the step's checkpoint is already written (it comes first), no samples, exit 130.
"$diffuse" train --preset d3pm-text8-tiny --data corpus.txt --threads 1 --out sampling --steps 3 --set train.sample_every=1 \
  --set train.checkpoint_every=1 --set diffusion.timesteps=3000 --set train.sample_count=64 > sampling.log &
pid=$!
for _ in $(seq 1 300); do [ -f sampling/ckpt-000000001.safetensors ] && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"; rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT during sampling exited $rc, not 130: $(tail -2 sampling.log)"
[ -f sampling/ckpt-000000001.safetensors ] && [ ! -e sampling/ckpt-000000002.safetensors ] ||
  fail "SIGINT during sampling: expected the step-1 checkpoint only: $(ls sampling)"
[ ! -e sampling/samples/step-1.txt ] || fail "SIGINT during sampling: the sampler ran to its end"

"$diffuse" train "${common[@]}" --out diverged --steps 50 --set train.lr=1e30 --set train.warmup=0 > diverged.log
rc=$?
[ "$rc" -eq 3 ] || fail "a diverging run exited $rc, not 3"
grep -q "error: step [0-9]*: the .* is not finite" diverged.log || fail "no NaN message: $(tail -2 diverged.log)"

ckpt=straight/ckpt-000000200.safetensors
# Its metadata alone describes the network (apps/network_metadata.hpp): values as they stand, escaped, in
# the JSON header (the architecture and tokens entries are JSON strings inside it).
in_metadata() {
  local file=$1; shift
  for want in "$@"; do grep -aqF -- "$want" "$file" || fail "$file: the metadata lacks $want"; done
}
in_metadata "$ckpt" '"schedule_resolved":"jsd"' '\"gelu\":\"erf\"' '\"layer_norm_eps\":1e-05' \
  '\"input\":\"t - 1 (0-based step)\"' '\"id_to_char\":\"abcdefghijklmnopqrstuvwxyz \"' '\"mask_id\":27' \
  '\"mask_logit\":\"-inf'
"$diffuse" sample --checkpoint "$ckpt" --n 3 --steps 10 --progressive --every 10 --out samples.txt --threads 1 > sample.log ||
  fail "sample"
[ "$(wc -l < samples.txt)" -eq 3 ] || fail "samples.txt should hold 3 lines"
"$diffuse" sample --checkpoint "$ckpt" --n 1 --steps 5 --raw-weights --threads 1 > /dev/null || fail "sample --raw-weights"
grep -q "^t=  50 | _\{32\}$" sample.log || fail "the trajectory should start all mask: $(head -3 sample.log)"
# Progress goes to stderr: redirected, a line per tenth of the work and no carriage return; --quiet: none.
"$diffuse" sample --checkpoint "$ckpt" --n 2 --steps 10 --threads 1 > /dev/null 2> progress.txt || fail "sample (progress)"
[ "$(grep -c '^sample: [0-9]*/10 network evaluations ([0-9]*%), .* ETA ' progress.txt)" -eq 10 ] ||
  fail "sample's redirected progress should be 10 lines: $(cat progress.txt)"
grep -q $'\r' progress.txt && fail "redirected progress holds a carriage return"
"$diffuse" sample --checkpoint "$ckpt" --n 2 --steps 10 --quiet --threads 1 > /dev/null 2> quiet.txt || fail "sample --quiet"
[ ! -s quiet.txt ] || fail "sample --quiet wrote to stderr: $(cat quiet.txt)"
"$diffuse" evaluate --checkpoint "$ckpt" --data corpus.txt --chunks 2 --steps 5 --threads 1 > /dev/null 2> progress.txt ||
  fail "evaluate (progress)"
grep -q '^evaluate: 5/5 network evaluations (100%)' progress.txt && ! grep -q $'\r' progress.txt ||
  fail "evaluate's redirected progress: $(cat progress.txt)"
"$diffuse" evaluate --checkpoint "$ckpt" --data corpus.txt --chunks 2 --steps 5 --quiet --threads 1 > /dev/null 2> quiet.txt ||
  fail "evaluate --quiet"
[ ! -s quiet.txt ] || fail "evaluate --quiet wrote to stderr: $(cat quiet.txt)"
# The bound's per-t terms as a figure; D3PM has no progressive coding's rate-distortion.
"$diffuse" evaluate --checkpoint "$ckpt" --data corpus.txt --chunks 2 --terms-out text-terms.json --quiet --threads 1 > /dev/null ||
  fail "evaluate --terms-out"
grep -q '"family": "d3pm-text"' text-terms.json || fail "the terms file names no family"
"$diffuse" plot --terms text-terms.json --out text-terms.png > /dev/null || fail "plot --terms (d3pm-text)"
expect_error "text-terms.json holds the terms of family 'd3pm-text'" "$diffuse" plot --progressive text-terms.json --out x.png
expect_error "--rate-distortion: only for DDPM" "$diffuse" evaluate --checkpoint "$ckpt" --data corpus.txt --chunks 2 \
  --rate-distortion x.json
for flags in "" "--steps 5" "--estimate"; do
  # shellcheck disable=SC2086
  "$diffuse" evaluate --checkpoint "$ckpt" --data corpus.txt --chunks 8 --json --threads 1 $flags > eval.json 2> /dev/null ||
    fail "evaluate $flags"
  grep -q '"bits_per_char":[0-9.]*,.*"chunks":8,.*"method":"e' eval.json || fail "evaluate $flags JSON: $(cat eval.json)"
done
# An evaluation stopped part-way resumes from its journal to the same figure, to the last digit.
journaled=(evaluate --checkpoint "$ckpt" --data corpus.txt --chunks 8 --batch 2 --steps 5 --json --threads 1)
"$diffuse" "${journaled[@]}" > straight.json 2> /dev/null || fail "evaluate --batch 2"
"$diffuse" "${journaled[@]}" --journal journal > journaled.json 2> /dev/null || fail "evaluate --journal"
[ "$(wc -l < journal/part-0.jsonl)" -eq 5 ] || fail "the journal should hold the settings and 4 batches"
# Keep the settings, 2 batches and half of the third line, as a kill would leave it.
{ head -n 3 journal/part-0.jsonl; sed -n 4p journal/part-0.jsonl | head -c 100; } > cut.jsonl && mv cut.jsonl journal/part-0.jsonl
"$diffuse" "${journaled[@]}" --journal journal > resumed.json 2> /dev/null || fail "evaluate --journal, resumed"
figure() { grep -o '"bits_per_char":[0-9.e+-]*' "$1"; }
[ -n "$(figure straight.json)" ] && [ "$(figure straight.json)" = "$(figure journaled.json)" ] &&
  [ "$(figure straight.json)" = "$(figure resumed.json)" ] ||
  fail "journal: $(figure straight.json) straight, $(figure journaled.json) journaled, $(figure resumed.json) resumed"
[ "$(wc -l < journal/part-0.jsonl)" -eq 5 ] || fail "the resumed journal should again hold 4 batches: $(wc -l < journal/part-0.jsonl)"
expect_error "written for another evaluation" "$diffuse" "${journaled[@]}" --journal journal --seed 9

# ---- DDPM on generated CIFAR-10-format files --------------------------------------------------------
mkdir cifar
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  for i in 0 1 2 3; do printf "\\x0$i"; head -c 3072 /dev/urandom; done > "cifar/$f.bin"
done
"$diffuse" train --preset ddpm-cifar10-tiny --data cifar --out ddpm --steps 3 --threads 1 --set diffusion.timesteps=20 \
  --set train.sample_every=3 --set train.sample_count=4 > ddpm.log || fail "ddpm train: $(tail -3 ddpm.log)"
[ -f ddpm/samples/step-3.png ] || fail "no EMA sample grid"
in_metadata ddpm/ckpt-000000003.safetensors '"schedule_resolved":"linear"' '\"group_norm_eps\":1e-06' \
  '\"padding\":[1,1,1,1]' '\"input\":\"t - 1 (0-based step)\"'
ddpm_common=(--preset ddpm-cifar10-tiny --data cifar --threads 1 --set diffusion.timesteps=20 --set train.sample_every=0
             --set train.eval_every=2 --set train.eval_items=4)
"$diffuse" train "${ddpm_common[@]}" --out ddpm-a --steps 4 > /dev/null || fail "ddpm straight"
"$diffuse" train "${ddpm_common[@]}" --out ddpm-b --steps 2 > /dev/null || fail "ddpm first half"
"$diffuse" train --data cifar --out ddpm-b --resume --steps 4 --threads 1 > /dev/null || fail "ddpm resume"
cmp -s ddpm-a/ckpt-000000004.safetensors ddpm-b/ckpt-000000004.safetensors || fail "ddpm: stop at 2 + resume differs"
[ "$(evaluations ddpm-a bits_per_dim estimate 4)" = "2 4 " ] || fail "ddpm: evaluations at $(evaluations ddpm-a bits_per_dim estimate 4)"
same_metrics ddpm-b ddpm-a
# SIGINT during a long evaluation (1000 test images), the last step's: it stops at the next network evaluation,
# after the step's checkpoint, with no evaluation written; exit 130, not done. Its resume makes the evaluation up.
mkdir cifar-eval && cp cifar/data_batch_*.bin cifar-eval/ &&
  for i in $(seq 1 1000); do printf '\x01'; head -c 3072 /dev/urandom; done > cifar-eval/test_batch.bin
"$diffuse" train --preset ddpm-cifar10-tiny --data cifar-eval --threads 1 --set diffusion.timesteps=20 --set train.sample_every=0 \
  --out eval-stop --steps 1 --set train.checkpoint_every=1 --set train.eval_every=1 --set train.eval_items=1000 > eval-stop.log &
pid=$!
for _ in $(seq 1 300); do [ -f eval-stop/ckpt-000000001.safetensors ] && break; sleep 0.1; done
sleep 0.5
kill -INT "$pid"
wait "$pid"; rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT during evaluation exited $rc, not 130: $(tail -2 eval-stop.log)"
grep -q "evaluation at step 1 stopped by signal" eval-stop.log && grep -q "^stopped by signal at step 1; saved " eval-stop.log &&
  ! grep -q "^done" eval-stop.log || fail "no stop message for the evaluation: $(tail -3 eval-stop.log)"
! grep -q '"evaluation"' eval-stop/metrics.jsonl || fail "SIGINT during evaluation: an evaluation was written"
"$diffuse" train --data cifar-eval --out eval-stop --resume --threads 1 > eval-stop2.log || fail "resume after SIGINT during evaluation"
[ "$(evaluations eval-stop bits_per_dim estimate 1000)" = "1 " ] && grep -q "^done: 1 steps" eval-stop2.log ||
  fail "the resume did not make up the evaluation of step 1: $(tail -2 eval-stop2.log)"
"$diffuse" sample --checkpoint ddpm/ckpt-000000003.safetensors --n 2 --out s.png --threads 1 > /dev/null || fail "ddpm sample"
[ -f s.png ] && [ -f s.npz ] || fail "ddpm sample wrote no .png/.npz"
# A grid a person can read: 2 samples of 32 x 32 drawn 8 times larger (2 * (8 * 32 + 2) + 2 = 518 >= 512 wide);
# --scale 1 draws them at one pixel per pixel (70 wide). The width is the PNG header's (bytes 16-19).
png_width() { od -An -tu1 -j16 -N4 "$1" | awk '{ print ($1 * 16777216) + ($2 * 65536) + ($3 * 256) + $4 }'; }
[ "$(png_width s.png)" -eq 518 ] || fail "ddpm sample grid is $(png_width s.png) pixels wide, not 518"
"$diffuse" sample --checkpoint ddpm/ckpt-000000003.safetensors --n 2 --scale 1 --out s1.png --threads 1 > /dev/null ||
  fail "ddpm sample --scale 1"
[ "$(png_width s1.png)" -eq 70 ] || fail "--scale 1 grid is $(png_width s1.png) pixels wide, not 70"
cmp -s s.npz s1.npz || fail "--scale changed the .npz (it keeps the raw samples)"
# The fast samplers (docs/math.md §8): DDIM and DPM-Solver++(2M) in 10 of the T = 20 steps write a grid and an
# .npz, the summary line naming the sampler, the steps and eta; a progress line per tenth of the 10 evaluations.
# --steps beyond T (T - 1 for DPM-Solver++, which needs K + 1 distinct times), --steps for the ancestral sampler,
# --eta outside [0, 1] or for another sampler, and --sampler for another family are refused, naming the flag.
ddpm_ckpt=ddpm/ckpt-000000003.safetensors
for sampler in ddim dpm-solver; do
  "$diffuse" sample --checkpoint $ddpm_ckpt --n 2 --sampler $sampler --steps 10 --out "fast-$sampler.png" --threads 1 \
    > "fast-$sampler.log" 2> "fast-$sampler.err" || fail "ddpm sample --sampler $sampler: $(tail -2 "fast-$sampler.err")"
  [ -f "fast-$sampler.png" ] && [ -f "fast-$sampler.npz" ] || fail "--sampler $sampler wrote no .png/.npz"
  [ "$(png_width "fast-$sampler.png")" -eq 518 ] || fail "--sampler $sampler: the grid is $(png_width "fast-$sampler.png") pixels wide"
  [ "$(grep -c '^sample: [0-9]*/10 network evaluations' "fast-$sampler.err")" -eq 10 ] ||
    fail "--sampler $sampler: the progress should count 10 evaluations: $(cat "fast-$sampler.err")"
done
grep -q '^sampling 2 images: sampler ddim (Song et al. 2021), 10 of T = 20 steps (uniform), eta 0, ' fast-ddim.log ||
  fail "the ddim summary line: $(head -1 fast-ddim.log)"
grep -q '^sampling 2 images: sampler dpm-solver (DPM-Solver++(2M), Lu et al. 2022), 10 of T = 20 steps (logsnr), eta 0 ' \
  fast-dpm-solver.log || fail "the dpm-solver summary line: $(head -1 fast-dpm-solver.log)"
grep -q '^sampling 1 images: sampler ancestral (Ho et al. Algorithm 2), 20 steps, variance large' < <("$diffuse" sample --checkpoint $ddpm_ckpt \
  --n 1 --out anc.png --threads 1 --quiet) || fail "the ancestral summary line"
"$diffuse" sample --checkpoint $ddpm_ckpt --n 2 --sampler ddim --steps 5 --eta 1 --grid quadratic --progressive --out q.png \
  --threads 1 --quiet > q.log || fail "ddim --eta 1 --grid quadratic --progressive: $(tail -2 q.log)"
[ -f q-progressive.png ] && grep -q "(5 steps per row)" q.log || fail "ddim --progressive: $(cat q.log)"
cmp -s fast-ddim.npz q.npz && fail "--eta 1 and --grid quadratic changed nothing"
expect_error "--steps: DDIM takes 1..T = 20 steps" "$diffuse" sample --checkpoint $ddpm_ckpt --sampler ddim --steps 30 --out x.png
expect_error "--steps: DPM-Solver++ takes 1..T - 1 = 19 steps" \
  "$diffuse" sample --checkpoint $ddpm_ckpt --sampler dpm-solver --steps 20 --out x.png
expect_error "--steps: the ancestral sampler takes all T = 20 steps" "$diffuse" sample --checkpoint $ddpm_ckpt --steps 10 --out x.png
expect_error "--eta: DDIM's eta must be in [0, 1]" "$diffuse" sample --checkpoint $ddpm_ckpt --sampler ddim --eta 1.5 --out x.png
expect_error "--eta: only for --sampler ddim" "$diffuse" sample --checkpoint $ddpm_ckpt --sampler dpm-solver --eta 0.5 --out x.png
expect_error "--grid: DDIM's spacing is 'uniform' or 'quadratic'" \
  "$diffuse" sample --checkpoint $ddpm_ckpt --sampler ddim --grid logsnr --out x.png
expect_error "--sampler: not an option of d3pm-text checkpoints" "$diffuse" sample --checkpoint "$ckpt" --sampler ddim
[ ! -e x.png ] || fail "a refused sample wrote x.png"
"$diffuse" evaluate --checkpoint ddpm/ckpt-000000003.safetensors --data cifar --images 4 --json --threads 1 > ddpm.json ||
  fail "ddpm evaluate"
grep -q '"bits_per_dim":[0-9.]*,.*"images":4,.*"method":"exact"' ddpm.json || fail "ddpm evaluate JSON: $(cat ddpm.json)"
# Figures (diffuse plot, PLplot's PNGs): the runs' loss curves, the bound's per-t terms, progressive decoding.
"$diffuse" evaluate --checkpoint ddpm/ckpt-000000003.safetensors --data cifar --images 2 --threads 1 --quiet \
  --terms-out ddpm-terms.json --rate-distortion ddpm-rd.json > /dev/null || fail "ddpm evaluate --rate-distortion"
grep -q '"rate_bpd"' ddpm-rd.json && grep -q '"distortion_rmse"' ddpm-rd.json || fail "ddpm-rd.json: $(head -c 300 ddpm-rd.json)"
png_height() { od -An -tu1 -j20 -N4 "$1" | awk '{ print ($1 * 16777216) + ($2 * 65536) + ($3 * 256) + $4 }'; }
"$diffuse" plot --runs ddpm ddpm-a straight --out loss.png > /dev/null || fail "plot --runs"
[ "$(png_width loss.png)" -eq 1000 ] && [ "$(png_height loss.png)" -eq 700 ] || fail "loss.png is not 1000 x 700"
grep -q '"overrides": \[' ddpm/config.json || fail "config.json records no overrides"
"$diffuse" plot --terms ddpm-terms.json --family ddpm --out ddpm-terms.png --width 640 --height 480 > /dev/null ||
  fail "plot --terms (ddpm)"
[ "$(png_width ddpm-terms.png)" -eq 640 ] && [ "$(png_height ddpm-terms.png)" -eq 480 ] || fail "ddpm-terms.png is not 640 x 480"
"$diffuse" plot --progressive ddpm-rd.json --out rd.png > /dev/null && [ -s rd.png ] || fail "plot --progressive"
expect_error "ddpm-terms.json holds the terms of family 'ddpm', not d3pm" \
  "$diffuse" plot --terms ddpm-terms.json --family d3pm --out x.png
# A run folder without metrics.jsonl, or with a malformed line: a warning naming the file and line, the rest drawn.
mkdir -p no-metrics && cp ddpm-a/metrics.jsonl bad-line.jsonl && mkdir -p bad-line && cp ddpm-a/config.json bad-line/ &&
  { head -n 1 bad-line.jsonl; echo '{"step": 2, "lo'; } > bad-line/metrics.jsonl
"$diffuse" plot --runs ddpm no-metrics bad-line --out partial.png > /dev/null 2> plot-err.txt || fail "plot with bad folders"
grep -q "warning: no-metrics/metrics.jsonl: missing" plot-err.txt && grep -q "warning: bad-line/metrics.jsonl: line 2 " plot-err.txt ||
  fail "plot's warnings: $(cat plot-err.txt)"
expect_error "no run holds a loss to draw" "$diffuse" plot --runs no-metrics --out none.png

# ---- D3PM on the same images ------------------------------------------------------------------------
"$diffuse" train --preset d3pm-cifar10-tiny --data cifar --out d3pm-img --steps 2 --threads 1 --set train.sample_every=0 \
  --set train.eval_every=1 --set train.eval_items=2 > d3pm-img.log || fail "d3pm image train: $(tail -3 d3pm-img.log)"
[ "$(evaluations d3pm-img bits_per_dim estimate 2)" = "1 2 " ] || fail "d3pm image: evaluations at $(evaluations d3pm-img bits_per_dim estimate 2)"
grep -q '^evaluation at step 2: [0-9.]* +- [0-9.]* bits/dim on 2 test images (estimate)$' d3pm-img.log ||
  fail "d3pm image: no evaluation line: $(grep evaluation d3pm-img.log)"
"$diffuse" sample --checkpoint d3pm-img/ckpt-000000002.safetensors --n 2 --steps 4 --progressive --out d.png --threads 1 \
  > /dev/null || fail "d3pm image sample"
[ -f d.png ] && [ -f d.npz ] && [ -f d-progressive.png ] || fail "d3pm image sample wrote no .png/.npz/trajectory"
"$diffuse" evaluate --checkpoint d3pm-img/ckpt-000000002.safetensors --data cifar --images 2 --steps 4 --json --threads 1 \
  > d3pm-img.json 2> /dev/null || fail "d3pm image evaluate"
grep -q '"bits_per_dim":[0-9.]*,.*"images":2,.*"method":"exact"' d3pm-img.json || fail "d3pm image JSON: $(cat d3pm-img.json)"

# ---- the demo's presets (scripts/demo.sh) ------------------------------------------------------------
"$diffuse" train --preset d3pm-text-demo --data "$root/demo/kjv-gospels.txt" --out text-demo --steps 2 --threads 1 \
  > text-demo.log || fail "text demo train: $(tail -3 text-demo.log)"
"$diffuse" evaluate --checkpoint text-demo/ckpt-000000002.safetensors --data "$root/demo/kjv-gospels.txt" --chunks 2 \
  --steps 5 --json --threads 1 > text-demo.json 2> /dev/null || fail "text demo evaluate"
grep -q '"bits_per_char":[0-9.]*,.*"chunk_length":64,"chunks":2,' text-demo.json || fail "text demo JSON: $(cat text-demo.json)"
if [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then  # scripts/setup.sh installs it
  # No --data: Fashion-MNIST is read from where Debian's dataset-fashion-mnist puts it.
  "$diffuse" train --preset ddpm-fashion-mnist-cond-demo --out fashion --steps 2 --threads 1 > fashion.log ||
    fail "fashion demo train: $(tail -3 fashion.log)"
  "$diffuse" evaluate --checkpoint fashion/ckpt-000000002.safetensors --images 8 --estimate --json --threads 1 \
    > fashion.json 2> /dev/null || fail "fashion demo evaluate"
  grep -q '"bits_per_dim":[0-9.]*,.*"images":8,.*"method":"estimate"' fashion.json || fail "fashion JSON: $(cat fashion.json)"
  # The demo's grid and its judge: a row per class by DDIM with CFG, scored by the demo's classifier.
  "$diffuse" train --preset classifier-fashion-mnist-demo --out judge --steps 2 --set train.eval_items=16 --threads 1 \
    > judge.log || fail "the demo's judge: $(tail -3 judge.log)"
  "$diffuse" sample --checkpoint fashion/ckpt-000000002.safetensors --per-class 2 --sampler ddim --steps 2 \
    --guidance-scale 1 --out fm.png --threads 1 > /dev/null 2>&1 || fail "the demo's conditional sampling"
  "$diffuse" evaluate --samples fm.npz --classifier judge/ckpt-000000002.safetensors --json --threads 1 > fm.json 2> /dev/null ||
    fail "the demo's sample scores"
  grep -q '"class_accuracy":[0-9.]*' fm.json && grep -q '"fd_classifier":[0-9.e+-]*' fm.json ||
    fail "the demo's sample scores JSON: $(cat fm.json)"
else
  echo "note: dataset-fashion-mnist is not installed; the Fashion-MNIST demo preset is not exercised"
fi

# ---- benchmark --------------------------------------------------------------------------------------
for w in unet-train transformer-sample; do
  "$diffuse" benchmark --workload $w --batch 1 --steps 1 --warmup 0 --json --threads 1 > bench.json || fail "benchmark $w"
  grep -q '"gflop_per_second":[0-9.e+-]*,.*"ms_per_step_median":[0-9.e+-]*,.*"peak_rss_mib":' bench.json ||
    fail "benchmark $w JSON: $(cat bench.json)"
done

# ---- bad input --------------------------------------------------------------------------------------
expect_error "train.nope" "$diffuse" train --preset d3pm-text8-tiny --data corpus.txt --out bad1 --set train.nope=1
expect_error "--data is required" "$diffuse" train --preset ddpm-cifar10-tiny --out bad0
[ ! -e bad0 ] || fail "a refused run left its --out directory behind"
expect_error "missing.txt" "$diffuse" train --preset d3pm-text8-tiny --data missing.txt --out bad2
printf 'hello world\nbye' > bad.txt
expect_error "bad.txt" "$diffuse" train --preset d3pm-text8-tiny --data bad.txt --out bad3
grep -q "offset 11" err.txt || fail "the bad byte's offset: $(cat err.txt)"
expect_error "--chunks" "$diffuse" evaluate --checkpoint "$ckpt" --data corpus.txt --chunks 100000
head -c 5000 "$ckpt" > truncated.safetensors
expect_error "truncated.safetensors: truncated or corrupt safetensors file: " \
  "$diffuse" sample --checkpoint truncated.safetensors
# A run's config.json or an empty file given as the checkpoint: named for what it is.
expect_error "straight/config.json: not a safetensors checkpoint: it looks like JSON text (a config.json?)" \
  "$diffuse" sample --checkpoint straight/config.json
: > empty.safetensors
expect_error "empty.safetensors: not a safetensors checkpoint: it is empty (0 bytes)" \
  "$diffuse" sample --checkpoint empty.safetensors
expect_error "s.npz: not a safetensors checkpoint: it looks like a NumPy .npz archive" \
  "$diffuse" evaluate --checkpoint s.npz --data cifar
expect_error "--preset" "$diffuse" train --preset no-such-preset --data corpus.txt --out bad4
# A run folder train cannot write in is refused before training, naming it. Root ignores permission bits, so
# /proc (which refuses root too) and a path under a regular file make the test hold for root as for others.
expect_error "--out: the run folder /proc/self is not writable" "$diffuse" train --preset d3pm-text8-tiny --data corpus.txt --out /proc/self
grep -q "training\|step 1" out.txt && fail "train started in /proc/self: $(cat out.txt)"
expect_error "corpus.txt is not a folder" "$diffuse" train --preset d3pm-text8-tiny --data corpus.txt --out corpus.txt/run
mkdir readonly && chmod 555 readonly
if ! touch readonly/probe 2> /dev/null; then  # not root: the permission bits hold
  expect_error "--out: the run folder readonly is not writable" "$diffuse" train --preset d3pm-text8-tiny --data corpus.txt --out readonly
fi
rm -f readonly/probe
expect_error "diffusion.kind" "$diffuse" info --preset d3pm-text8-tiny --set diffusion.kind=zigzag
# An unknown or misspelt flag is named first (before any missing required flag), with the nearest known one.
expect_error "train: unknown flag --bogus" "$diffuse" train --bogus
grep -q "required" err.txt && fail "a missing flag was named before the unknown one: $(cat err.txt)"
expect_error "sample: unknown flag --chekpoint; did you mean --checkpoint?" "$diffuse" sample --chekpoint "$ckpt"
expect_error "evaluate: unknown flag --image; did you mean --images?" "$diffuse" --threads 1 evaluate --checkpoint "$ckpt" --image=3
expect_error "unknown command 'trian'; did you mean train?" "$diffuse" trian --preset d3pm-text8-tiny

# train --steps 0 writes the untrained model's checkpoint (step 0), which evaluates.
"$diffuse" train --preset d3pm-text8-tiny --data corpus.txt --out zero --steps 0 --threads 1 > zero.log || fail "--steps 0"
[ -f zero/ckpt-000000000.safetensors ] || fail "--steps 0 wrote no step-0 checkpoint: $(cat zero.log)"
grep -q "checkpoint zero/ckpt-000000000.safetensors" zero.log || fail "--steps 0 reported: $(tail -1 zero.log)"
"$diffuse" evaluate --checkpoint zero/ckpt-000000000.safetensors --data corpus.txt --chunks 2 --threads 1 --json > zero.json ||
  fail "evaluating the step-0 checkpoint"

finish "the command line"
