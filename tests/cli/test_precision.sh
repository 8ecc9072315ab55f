#!/usr/bin/env bash
# --precision bf16 end to end (tensor/precision.hpp), on generated CIFAR-10-format files:
#   - a new run in bf16 records "precision": "bf16" in config.json and in its checkpoints' metadata; --resume
#     keeps it, --resume --precision fp32 changes it; a preset's key (--set precision=bf16) works too, and a bad
#     value is refused naming the key;
#   - sample, evaluate and benchmark take --precision bf16 (benchmark's JSON says so);
#   - where oneDNN has no native bf16 (here: ONEDNN_MAX_CPU_ISA=AVX512_CORE takes it away), --precision bf16 is
#     refused with a message naming the missing CPU feature, and --allow-emulated runs it emulated;
#   - the program flags may come before the verb (--allow-emulated takes no value).
# Usage: test_precision.sh path/to/diffuse
set -uo pipefail
source "$(dirname "$0")/harness.sh"

mkdir cifar
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  for i in 0 1 2 3; do printf "\\x0$i"; head -c 3072 /dev/urandom; done > "cifar/$f.bin"
done
metadata() { head -c 65536 "$1" | tr -d '\0' | grep -ao '"precision":"[a-z0-9]*"' | head -1; }
common=(--preset ddpm-cifar10-tiny --data cifar --threads 1 --set diffusion.timesteps=20 --set train.sample_every=0)

# A run in bf16 where the CPU has it natively; with --allow-emulated elsewhere (the run records bf16 either way).
native=1
if ! "$diffuse" benchmark --workload unet-sample --batch 1 --steps 1 --warmup 0 --threads 1 --precision bf16 > /dev/null 2> isa.txt; then
  native=0
  echo "note: no native bf16 here ($(cat isa.txt)); the runs below use --allow-emulated"
fi
emulate=(); [ "$native" -eq 1 ] || emulate=(--allow-emulated)

"$diffuse" train "${common[@]}" --out run --steps 2 --precision bf16 "${emulate[@]}" > run.log 2> run.err || fail "bf16 train: $(tail -3 run.err)"
grep -q '^precision: bf16 ' run.err || fail "no precision line on stderr: $(head -3 run.err)"
grep -q '"precision": "bf16"' run/config.json || fail "config.json lacks precision bf16"
[ "$(metadata run/ckpt-000000002.safetensors)" = '"precision":"bf16"' ] || fail "checkpoint metadata: $(metadata run/ckpt-000000002.safetensors)"
"$diffuse" train --data cifar --out run --resume --steps 3 --threads 1 "${emulate[@]}" > /dev/null 2> resume.err || fail "bf16 resume"
grep -q '^precision: bf16 ' resume.err || fail "the resume did not keep bf16: $(head -3 resume.err)"
[ "$(metadata run/ckpt-000000003.safetensors)" = '"precision":"bf16"' ] || fail "resumed checkpoint: $(metadata run/ckpt-000000003.safetensors)"
"$diffuse" train --data cifar --out run --resume --steps 4 --threads 1 --precision fp32 > /dev/null 2> back.err || fail "fp32 resume"
grep -q '^precision: bf16' back.err && fail "--precision fp32 on resume still ran bf16"
[ "$(metadata run/ckpt-000000004.safetensors)" = '"precision":"fp32"' ] || fail "fp32 resume's checkpoint: $(metadata run/ckpt-000000004.safetensors)"

# The preset key.
"$diffuse" train "${common[@]}" --out keyed --steps 1 --set precision=bf16 "${emulate[@]}" > /dev/null 2> keyed.err || fail "--set precision=bf16"
grep -q '"precision": "bf16"' keyed/config.json || fail "--set precision=bf16 not recorded"
expect_error "precision: unknown precision 'bf17'" "$diffuse" train "${common[@]}" --out bad --steps 1 --set precision=bf17
"$diffuse" train "${common[@]}" --out plain --steps 1 > /dev/null 2>&1 || fail "fp32 train"
[ "$(metadata plain/ckpt-000000001.safetensors)" = '"precision":"fp32"' ] || fail "a preset's default is not fp32"

# sample, evaluate, benchmark.
"$diffuse" sample --checkpoint run/ckpt-000000002.safetensors --n 2 --out s.png --threads 1 --quiet --precision bf16 "${emulate[@]}" \
  > /dev/null 2> sample.err || fail "bf16 sample: $(tail -2 sample.err)"
[ -f s.png ] || fail "bf16 sample wrote no PNG"
"$diffuse" evaluate --checkpoint run/ckpt-000000002.safetensors --data cifar --images 2 --estimate --json --threads 1 --quiet \
  --precision bf16 "${emulate[@]}" > eval.json 2> eval.err || fail "bf16 evaluate: $(tail -2 eval.err)"
grep -q '"bits_per_dim":[0-9.]*' eval.json || fail "bf16 evaluate JSON: $(cat eval.json)"
"$diffuse" --precision bf16 "${emulate[@]}" benchmark --workload transformer-sample --batch 1 --steps 1 --warmup 0 --threads 1 --json \
  > bench.json 2> /dev/null || fail "bf16 benchmark with the flags before the verb"
grep -q '"precision":"bf16"' bench.json || fail "benchmark JSON lacks precision bf16: $(cat bench.json)"

# Without native bf16: refused, naming the feature; emulated with --allow-emulated.
expect_error "lacks" env ONEDNN_MAX_CPU_ISA=AVX512_CORE "$diffuse" benchmark --workload unet-sample --batch 1 --steps 1 --warmup 0 \
  --threads 1 --precision bf16
grep -q "avx512_bf16" err.txt || fail "the refusal does not name avx512_bf16: $(cat err.txt)"
ONEDNN_MAX_CPU_ISA=AVX512_CORE "$diffuse" benchmark --workload unet-train --batch 2 --steps 1 --warmup 0 --threads 1 --json \
  --precision bf16 --allow-emulated > emulated.json 2> emulated.err || fail "--allow-emulated: $(cat emulated.err)"
grep -q '"bf16_emulated":true' emulated.json || fail "not emulated: $(cat emulated.json)"
grep -q '^precision: bf16 emulated' emulated.err || fail "no emulation note: $(cat emulated.err)"

finish test_precision_cli
