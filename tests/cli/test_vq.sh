#!/usr/bin/env bash
# End-to-end tests of the vqvae and vq-diffusion families through build/diffuse (docs/math.md §12), on CIFAR-10-format
# files this script generates (two classes: bright top half or bright bottom half, with noise):
#   - a tiny VQ-VAE: its reconstruction loss falls; a run stopped at 20 steps and resumed equals the straight run byte
#     for byte (the EMA codebook's statistics and the restart counters ride in the checkpoint); evaluate reports MSE,
#     PSNR, perplexity and codes used and writes the PNG of originals and reconstructions;
#   - tokenize writes token files naming the VQ-VAE by hash; a token model trains on them, samples a row per class
#     (truncation, guidance, skipping) into a PNG and an .npz with labels, in chunks through a journal that resumes
#     to the same bytes, and evaluates its bound on the test tokens;
#   - refusals, each naming both sides: a token file of another VQ-VAE, a grid of another size, a codebook size that
#     is not the token model's, tokenize of a checkpoint that is not a VQ-VAE.
# Usage: test_vq.sh path/to/diffuse
set -uo pipefail
source "$(dirname "$0")/harness.sh"

mkdir data
for i in 1 2 3 4 5; do cifar "data/data_batch_$i.bin" 20 "$i"; done
cifar data/test_batch.bin 64 9

# ---- the VQ-VAE: training, exact resume, evaluation ------------------------------------------------------------
common=(--preset vqvae-cifar10-tiny --data data --threads 1 --set train.checkpoint_every=20 --set train.keep_checkpoints=5
        --set train.eval_every=20 --set train.sample_every=20 --set vq.restart_after=5)
"$diffuse" train "${common[@]}" --out vq --steps 40 > vq.log || fail "train vqvae: $(tail -3 vq.log)"
"$diffuse" train "${common[@]}" --out vq-split --steps 20 > split1.log || fail "train vqvae, first half"
"$diffuse" train --data data --out vq-split --resume --steps 40 --threads 1 > split2.log || fail "resume vqvae: $(tail -3 split2.log)"
cmp -s vq/ckpt-000000040.safetensors vq-split/ckpt-000000040.safetensors || fail "vqvae: stop at 20 + resume differs from the straight run"
awk -v a="$(first_loss vq)" -v b="$(last_loss vq)" 'BEGIN { exit !(b < 0.7 * a) }' || fail "the VQ-VAE's loss did not fall: $(first_loss vq) -> $(last_loss vq)"
grep -q '"evaluation":{"split":"test","items":64,"mse":' vq/metrics.jsonl || fail "vq/metrics.jsonl: no test MSE: $(grep evaluation vq/metrics.jsonl)"
[ -s vq/samples/step-40.png ] || fail "no reconstruction grid at step 40: $(ls vq/samples)"
vq=vq/ckpt-000000040.safetensors
"$diffuse" evaluate --checkpoint "$vq" --data data --json --out recon.png --threads 1 > eval.json 2> /dev/null || fail "evaluate vqvae: $(cat eval.json)"
between "$(json_field eval.json mse)" 0 0.5 && between "$(json_field eval.json psnr)" 9 100 && between "$(json_field eval.json perplexity)" 1 32 &&
  between "$(json_field eval.json codes_used)" 1 32 && [ "$(json_field eval.json images)" = 64 ] || fail "evaluate vqvae JSON: $(cat eval.json)"
[ -s recon.png ] && [ -s recon.npz ] || fail "evaluate --out wrote no PNG or .npz"
"$diffuse" evaluate --checkpoint "$vq" --data data --images 16 --threads 1 2> /dev/null | grep -q '^MSE [0-9.]* (+- [0-9.]*, on \[-1, 1\]), PSNR [0-9.]* dB on 16 test images; codebook perplexity' ||
  fail "evaluate vqvae's text line"

# ---- tokenize -------------------------------------------------------------------------------------------------
"$diffuse" tokenize --checkpoint "$vq" --data data --out train.tok --threads 1 --quiet > tok.log || fail "tokenize: $(cat tok.log)"
grep -q '^100 train images of cifar10 as 8x8 grids of 32 codes (VQ-VAE hash [0-9a-f]\{16\}) -> train.tok' tok.log || fail "tokenize's line: $(cat tok.log)"
"$diffuse" tokenize --checkpoint "$vq" --data data --split test --out test.tok --threads 1 --quiet > /dev/null || fail "tokenize test"
head -c 200 train.tok | grep -q "^vqvae_checkpoint $vq\$" || fail "the token file's header names no VQ-VAE: $(head -c 200 train.tok)"

# ---- the token model -----------------------------------------------------------------------------------------
"$diffuse" train --preset vq-diffusion-tiny --data train.tok --out vqd --steps 20 --threads 1 --set diffusion.timesteps=20 > vqd.log ||
  fail "train vq-diffusion: $(tail -3 vqd.log)"
vqd=vqd/ckpt-000000020.safetensors
[ -s vqd/samples/step-20.png ] || fail "no token-model samples at step 20"
"$diffuse" sample --checkpoint "$vqd" --class 0,1 --per-class 3 --steps 5 --truncation 0.86 --guidance-scale 1 --out s.png --threads 1 --quiet > s.log ||
  fail "sample vq-diffusion: $(cat s.log)"
[ -s s.png ] && [ -s s.npz ] || fail "sample wrote no s.png, s.npz"
grep -q 'sampling 6 grids of 8x8: 5 network evaluations; classes 0 airplane, 1 automobile, a row each, truncation r = 0.86, guidance w = 1' s.log ||
  fail "sample's summary: $(cat s.log)"
# In chunks through a journal (apps/sample_journal.hpp, as the DDPM's): a chunk lost from the journal is drawn again
# to the same bytes, a journal of other settings is refused, and --batch of all the grids is the default's output.
chunked=(sample --checkpoint "$vqd" --class 0,1 --per-class 3 --steps 5 --guidance-scale 1 --seed 3 --threads 1 --quiet)
"$diffuse" "${chunked[@]}" --batch 4 --journal j --out c1.png > c1.log || fail "sample --batch 4 --journal j: $(cat c1.log)"
grep -q '; 2 chunks of up to 4, 0 of them found in j$' c1.log && [ -f j/chunk-0.npz ] && [ -f j/chunk-1.npz ] || fail "chunks: $(cat c1.log; ls j)"
rm j/chunk-1.npz
"$diffuse" "${chunked[@]}" --batch 4 --journal j --out c2.png > c2.log && grep -q '1 of them found in j$' c2.log && cmp -s c1.npz c2.npz ||
  fail "a chunk drawn again differs: $(cat c2.log)"
"$diffuse" "${chunked[@]}" --batch 6 --out c3.png > /dev/null && "$diffuse" "${chunked[@]}" --out c4.png > /dev/null && cmp -s c3.npz c4.npz &&
  ! cmp -s c1.npz c3.npz || fail "one chunk of 6 should be the default's grids, and two chunks other grids"
expect_error "--journal j: written for other settings: truncation was 1.0, now 0.9" "$diffuse" "${chunked[@]}" --truncation 0.9 \
  --batch 4 --journal j --out c5.png
"$diffuse" evaluate --checkpoint "$vqd" --data test.tok --estimate --json --threads 1 > bound.json 2> /dev/null || fail "evaluate vq-diffusion: $(cat bound.json)"
between "$(json_field bound.json bits_per_token)" 0 100 && [ "$(json_field bound.json num_sequences)" = 64 ] || fail "the bound's JSON: $(cat bound.json)"

# Importance sampling of t (the preset's train.t_sampling): at T = 4 the history warms up in 6 steps of 8 grids; a
# run stopped at 10 steps and resumed equals the straight run byte for byte, the history of L_t included.
imp=(--preset vq-diffusion-tiny --data train.tok --threads 1 --set diffusion.timesteps=4 --set train.sample_every=0 --set train.checkpoint_every=10)
"$diffuse" train "${imp[@]}" --out imp --steps 20 > imp.log || fail "train with importance sampling: $(tail -3 imp.log)"
"$diffuse" train "${imp[@]}" --out imp-split --steps 10 > /dev/null || fail "train with importance sampling, 10 steps"
"$diffuse" train --resume --out imp-split --data train.tok --steps 20 --threads 1 > /dev/null || fail "resume with importance sampling"
cmp -s imp/ckpt-000000020.safetensors imp-split/ckpt-000000020.safetensors || fail "importance sampling: stop at 10 + resume differs from the straight run"
grep -aq '"t_importance":"{\\"counts\\":\[' imp/ckpt-000000020.safetensors || fail "the checkpoint records no history of L_t"
expect_error "train.t_sampling: uniform or importance, got 'sometimes'" "$diffuse" train --preset vq-diffusion-tiny --data train.tok --out bad0 \
  --steps 1 --threads 1 --set train.t_sampling=sometimes

# ---- refusals ------------------------------------------------------------------------------------------------
"$diffuse" train "${common[@]}" --out vq2 --steps 2 --seed 7 --set train.eval_every=0 --set train.sample_every=0 > /dev/null || fail "train a second vqvae"
"$diffuse" tokenize --checkpoint vq2/ckpt-000000002.safetensors --data data --split test --out other.tok --threads 1 --quiet > /dev/null || fail "tokenize with vq2"
expect_error "other.tok: made by the VQ-VAE vq2/ckpt-000000002.safetensors (hash" "$diffuse" evaluate --checkpoint "$vqd" --data other.tok --estimate --threads 1
grep -qF "not by $vq (hash" err.txt || fail "the refusal names only one VQ-VAE: $(cat err.txt)"
expect_error "made by the VQ-VAE vq2/ckpt-000000002.safetensors" "$diffuse" train --preset vq-diffusion-tiny --data other.tok --out bad1 --steps 1 \
  --threads 1 --set vqvae.checkpoint="$vq"
expect_error "has 32 codes on a 8 x 8 grid, but model.in_states - 1 = 32 and the grid is 4 x 16" "$diffuse" train --preset vq-diffusion-tiny --data train.tok \
  --out bad2 --steps 1 --threads 1 --set model.grid_rows=4 --set model.grid_cols=16
expect_error "has 32 codes on a 8 x 8 grid, but model.in_states - 1 = 64" "$diffuse" train --preset vq-diffusion-tiny --data train.tok --out bad3 \
  --steps 1 --threads 1 --set model.in_states=65 --set model.out_states=65
expect_error "tokenize needs a vqvae one" "$diffuse" tokenize --checkpoint "$vqd" --data data --out x.tok
expect_error "is a VQ-VAE: it does not sample" "$diffuse" sample --checkpoint "$vq" --out x.png
expect_error "--out: for --task pairs or a vqvae checkpoint" "$diffuse" evaluate --checkpoint "$vqd" --data test.tok --out x.txt
expect_error "--steps: must be in 1.." "$diffuse" evaluate --checkpoint "$vqd" --data test.tok --steps 100000 --threads 1
expect_error "--steps: the Monte-Carlo estimate is of the full T-step bound" "$diffuse" evaluate --checkpoint "$vqd" --data test.tok \
  --estimate --steps 2 --threads 1

finish test_vq
