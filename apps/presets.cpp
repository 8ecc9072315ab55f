#include "apps/presets.hpp"

#include <stdexcept>

namespace diffuse {

namespace {
using json = nlohmann::json;

json unet(int64_t ch, json ch_mult, int64_t res_blocks, json attn, double dropout, int64_t in_ch = 3,
          int64_t resolution = 32, int64_t groups = 32) {
  return {{"in_channels", in_ch}, {"out_channels", in_ch}, {"resolution", resolution}, {"ch", ch},
          {"ch_mult", ch_mult}, {"num_res_blocks", res_blocks}, {"attn_resolutions", attn}, {"dropout", dropout},
          {"groups", groups}};
}

// base with the fields of `changes` set.
json with(json base, const json& changes) {
  base.update(changes);
  return base;
}

// One preset: the preset it starts from (none for a paper's), the fields it changes (merged into the base,
// section by section), and its deviations (added to the base's). A paper preset's `changes` is the whole
// configuration as the paper and its released code set it.
struct Preset {
  std::string name;
  std::string summary;
  std::string base;
  json changes;
  std::vector<std::string> deviations;
};

// What the word presets change from text8, in their deviations.
const std::string kVerseRows =
    "words instead of text8's characters: a verse file (scripts/export_bible.sh verses WEB web.tsv), one verse a row of 64 "
    "positions [<bos> tokens <eos> <pad>...], split by whole books; a training verse of more than 62 tokens is dropped and "
    "counted (426 of the WEB's 33,804), a held-out one refused; bits per token count the text tokens and <eos>";
const std::string kVerseVocabulary =
    "a vocabulary of the training books' tokens seen at least data.min_count = 5 times, with <pad> <unk> <bos> <eos> (5,940 on "
    "the WEB); model.in_states and model.out_states are V + 1 and V, set when the run starts";
constexpr int64_t kBibleDemoSteps = 600;
constexpr int64_t kFashionCondSteps = 8000;  // ddpm-fashion-mnist-cond: about an hour on 2 threads

// What the pair presets change from the verse presets, in their deviations (docs/math.md §9).
const std::string kPairRows =
    "pairs of aligned verses instead of single verses: a pair file (scripts/export_bible.sh pairs KJV WEB kjv_web.tsv), one "
    "pair a row of 128 positions [<bos> source <eos> target <eos> <pad>...], split by whole books; a side holds at most 62 "
    "tokens (a training pair with a longer side is dropped and counted, a held-out one refused or, with evaluate --task pairs "
    "--skip-long, left out and counted); the model is given <bos>, "
    "the source and its <eos>, and its loss, bound (bits per target token, counting the target's <eos>) and samples cover "
    "the rest";
const std::string kPairVocabulary =
    "one vocabulary for both sides: the training books' source and target tokens seen at least data.min_count = 5 times, "
    "with <pad> <unk> <bos> <eos> (7,215 on KJV -> WEB); the vocabulary sizes the embedding (and the output layer of the "
    "masked and autoregressive models) when the run starts";
const json kPairData = {{"dataset", "pairs"}, {"min_count", 5}};
constexpr int64_t kPairDemoSteps = 1000;

// The DDPM presets' diffusion section (Ho et al.'s), which a noisy image classifier starts from.
const json kDdpmDiffusion = {{"timesteps", 1000}, {"beta_schedule", "linear"}, {"beta_start", 1e-4}, {"beta_end", 0.02},
                             {"loss", "simple"},  {"variance", "large"},      {"clip_denoised", true}};

// The table of presets. A new preset is one entry.
const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {
      // ---- DDPM (Ho et al. 2020), CIFAR-10, and the released reference config -----------------------
      {"ddpm-cifar10-paper", "DDPM on CIFAR-10 as Ho et al. 2020: U-Net ch 128 (35.7M), T = 1000, 800k steps of 128", "",
       {{"kind", "ddpm"},
        {"model", with(unet(128, {1, 2, 2, 2}, 2, {16}, 0.1), {{"num_classes", 0}})},
        {"diffusion",
         {{"timesteps", 1000}, {"beta_schedule", "linear"}, {"beta_start", 1e-4}, {"beta_end", 0.02},
          {"loss", "simple"}, {"variance", "large"}, {"clip_denoised", true}}},
        {"train",
         {{"steps", 800000}, {"batch", 128}, {"micro_batch", 0}, {"lr", 2e-4}, {"warmup", 5000}, {"grad_clip", 1.0},
          {"ema_decay", 0.9999}, {"ema_warmup", false}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999}, {"adam_eps", 1e-8},
          {"tf_adam_epsilon", false}, {"random_flip", true}, {"log_every", 100}, {"sample_every", 5000},
          {"sample_count", 64}, {"checkpoint_every", 5000}, {"keep_checkpoints", 3},
          {"replica_check_every", 100}, {"eval_every", 0}, {"eval_items", 64},
          // a class-conditional U-Net (model.num_classes > 0) trains without its label this often (Ho & Salimans)
          {"p_uncond", 0.1}}},
        {"data", {{"dataset", "cifar10"}}}},
       {"gradient clipping is global over the whole batch (the reference clipped per TPU shard)",
        "Adam puts eps as PyTorch does (set train.tf_adam_epsilon=true for TensorFlow's placement)",
        "stride-2 downsampling convs pad 1 on every side (TF 'SAME' pads bottom/right only)"}},
      {"ddpm-cifar10-small", "DDPM on CIFAR-10 sized for a CPU: U-Net ch 64 (9.0M), batch 32", "ddpm-cifar10-paper",
       {{"model", {{"ch", 64}}},
        {"train",
         {{"batch", 32}, {"warmup", 1000}, {"steps", 100000}, {"ema_decay", 0.999}, {"ema_warmup", true},
          {"log_every", 10}, {"sample_every", 1000}, {"checkpoint_every", 500}, {"eval_every", 1000}, {"eval_items", 64}}}},
       {"U-Net ch 64 instead of 128 (8.95M parameters instead of 35.7M)",
        "batch 32 instead of 128, warmup 1000 instead of 5000, 100k steps instead of 800k",
        "EMA decay 0.999 instead of 0.9999, with warm-up min(decay, (1+n)/(10+n)) (a short run's EMA must forget its start)"}},
      {"ddpm-cifar10-tiny", "DDPM on CIFAR-10 for smoke tests: U-Net ch 32, one res block, batch 8", "ddpm-cifar10-paper",
       {{"model", {{"ch", 32}, {"num_res_blocks", 1}, {"ch_mult", {1, 2, 2}}, {"groups", 8}}},
        {"train",
         {{"batch", 8}, {"warmup", 100}, {"steps", 2000}, {"ema_decay", 0.99}, {"ema_warmup", true}, {"log_every", 10},
          {"sample_every", 500}, {"sample_count", 16}, {"checkpoint_every", 200}}}},
       {"U-Net ch 32, ch_mult (1,2,2), 1 res block, GroupNorm 8 groups: a smoke-test model",
        "batch 8, warmup 100, 2000 steps, EMA 0.99 with warm-up"}},
      // The README's demo: a small DDPM on Fashion-MNIST (Debian's dataset-fashion-mnist, 28x28x1), sized to
      // train in a few minutes on 2 cores. 28 -> 14 -> 7 needs three levels, not the paper's four.
      {"ddpm-fashion-mnist-demo", "The demo: DDPM on Fashion-MNIST (28x28x1), U-Net ch 32 (1.1M), minutes on 2 cores",
       "ddpm-cifar10-paper",
       {{"model", unet(32, {1, 2, 2}, 1, {7}, 0.0, /*in_ch=*/1, /*resolution=*/28, /*groups=*/8)},
        {"train",
         {{"steps", 600}, {"batch", 64}, {"lr", 1e-3}, {"warmup", 50}, {"ema_decay", 0.995}, {"ema_warmup", true},
          {"log_every", 25}, {"sample_every", 0}, {"sample_count", 16}, {"checkpoint_every", 200},
          {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}},
        {"data", {{"dataset", "fashion-mnist"}}}},
       {"Fashion-MNIST 28x28x1 instead of CIFAR-10: U-Net ch 32, ch_mult (1,2,2), 1 res block, attention at 7x7 "
        "only, GroupNorm 8 groups, no dropout (1.1M parameters)",
        "batch 64, lr 1e-3, warmup 50, 600 steps, EMA 0.995 with warm-up: minutes, not days"}},

      // ---- Class-conditional DDPM with classifier-free guidance (Ho & Salimans 2021; docs/math.md §11) ----------
      {"ddpm-cifar10-cond-small",
       "Class-conditional DDPM on CIFAR-10 for classifier-free guidance: the ddpm-cifar10-small U-Net (ch 64) with 10 "
       "classes, labels dropped with p_uncond 0.1",
       "ddpm-cifar10-small", {{"model", {{"num_classes", 10}}}},
       {"class-conditional (not in Ho et al.): a class embedding [11, 256] added to the timestep embedding, id 10 the "
        "null class; each training label dropped to it with probability train.p_uncond = 0.1 (Ho & Salimans)"}},
      {"ddpm-fashion-mnist-cond",
       "Class-conditional DDPM on Fashion-MNIST: the demo's U-Net ch 32 with 10 classes, " + std::to_string(kFashionCondSteps) +
           " steps (about an hour on 2 threads)",
       "ddpm-fashion-mnist-demo",
       {{"model", {{"num_classes", 10}}},
        {"train",
         {{"steps", kFashionCondSteps}, {"ema_decay", 0.999}, {"log_every", 50}, {"sample_every", 2000}, {"sample_count", 40},
          {"checkpoint_every", 500}, {"keep_checkpoints", 3}, {"eval_every", 2000}, {"eval_items", 256}}}},
       {"class-conditional (not in Ho et al.): a class embedding [11, 128] added to the timestep embedding, id 10 the "
        "null class; each training label dropped to it with probability train.p_uncond = 0.1 (Ho & Salimans)",
        std::to_string(kFashionCondSteps) + " steps, EMA 0.999 with warm-up: about an hour at the 444 ms a step that "
        "ddpm-fashion-mnist-demo's identical "
        "network takes on 2 threads (README; the class embedding adds one lookup a step)"}},
      {"ddpm-fashion-mnist-cond-demo",
       "The conditional demo: ddpm-fashion-mnist-cond for the demo's 600 steps, minutes on 2 cores", "ddpm-fashion-mnist-cond",
       {{"train",
         {{"steps", 600}, {"ema_decay", 0.995}, {"log_every", 25}, {"sample_every", 0}, {"checkpoint_every", 200},
          {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"600 steps, EMA 0.995 with warm-up, as ddpm-fashion-mnist-demo: minutes, not an hour"}},

      // ---- D3PM (Austin et al. 2021), CIFAR-10 (§6, "D3PM Gauss + logistic"), and the reference image config
      {"d3pm-cifar10-paper", "D3PM Gauss + logistic on CIFAR-10 as Austin et al. 2021: U-Net ch 128, T = 1000, lambda 0.001",
       "",
       {{"kind", "d3pm-image"},
        // 6 outputs: the location and log-scale of each of the 3 channels' logistic
        {"model", with(unet(128, {1, 2, 2, 2}, 2, {16}, 0.1), {{"out_channels", 6}, {"output", "logistic"}})},
        {"diffusion",
         {{"kind", "gaussian"}, {"schedule", "linear"}, {"timesteps", 1000}, {"hybrid_lambda", 0.001},
          {"decoder", "ptilde"}, {"beta_start", 1e-4}, {"beta_end", 0.02}, {"cosine_s", 0.008}, {"max_beta", 0.999},
          {"nn_knn", 10}, {"nn_final_mask", true}, {"nn_embeddings", ""}, {"spindle_lambda", 0.3},
          {"loss_bits_per_dim", true}}},
        {"train",
         {{"steps", 1500000}, {"batch", 128}, {"micro_batch", 0}, {"lr", 2e-4}, {"warmup", 0}, {"grad_clip", 1.0},
          {"ema_decay", 0.9999}, {"ema_warmup", false}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999}, {"adam_eps", 1e-8},
          {"tf_adam_epsilon", false}, {"random_flip", true}, {"log_every", 100}, {"sample_every", 10000},
          {"sample_count", 16}, {"sample_steps", 0}, {"checkpoint_every", 5000}, {"keep_checkpoints", 3},
          {"replica_check_every", 100}, {"eval_every", 0}, {"eval_items", 64}}},
        {"data", {{"dataset", "cifar10"}}}},
       {"log-space eps 1e-20 and KL terms clamped at >= 0 (the reference image code: eps 1e-6, no clamp)",
        "L_0 = -log ptilde(x0 | x_1), as the image code; the absorbing kind's mask is mid-gray 128, a data value",
        "stride-2 downsampling convs pad 1 on every side (TF 'SAME' pads bottom/right only)"}},
      {"d3pm-cifar10-small", "D3PM Gauss + logistic on CIFAR-10 sized for a CPU: U-Net ch 64, batch 32", "d3pm-cifar10-paper",
       {{"model", {{"ch", 64}}},
        {"train",
         {{"batch", 32}, {"steps", 100000}, {"warmup", 100}, {"ema_decay", 0.999}, {"ema_warmup", true},
          {"log_every", 10}, {"sample_every", 1000}, {"sample_steps", 100}, {"checkpoint_every", 500}, {"eval_every", 1000},
          {"eval_items", 64}}}},
       {"U-Net ch 64 instead of 128 (the DDPM small preset's network, with 6 output channels)",
        "batch 32 instead of 128, warmup 100 (the paper has none), 100k steps instead of 1.5M, EMA 0.999 with "
        "warm-up; training-time samples take 100 steps"}},
      {"d3pm-cifar10-tiny", "D3PM on CIFAR-10 for smoke tests: U-Net ch 32, one res block, batch 4, T = 40",
       "d3pm-cifar10-paper",
       {{"model", {{"ch", 32}, {"num_res_blocks", 1}, {"ch_mult", {1, 2, 2}}, {"groups", 8}}},
        {"diffusion", {{"timesteps", 40}, {"beta_end", 0.3}}},
        {"train",
         {{"batch", 4}, {"steps", 200}, {"warmup", 10}, {"ema_decay", 0.9}, {"ema_warmup", true}, {"log_every", 10},
          {"sample_every", 100}, {"sample_count", 4}, {"checkpoint_every", 100}}}},
       {"U-Net ch 32, ch_mult (1,2,2), 1 res block, GroupNorm 8; T = 40 with beta up to 0.3: a smoke-test model"}},

      // ---- D3PM, text8 (Table 1) and the reference text config -------------------------------------------
      {"d3pm-text8-paper", "D3PM absorbing on text8 as Austin et al. 2021: transformer 12 x 768, T = 1000, lambda 0.01, 1M steps of 512",
       "",
       {{"kind", "d3pm-text"},
        {"model",
         {{"in_states", 28}, {"out_states", 28}, {"seq_len", 256}, {"width", 768}, {"layers", 12}, {"heads", 12},
          {"mlp", 3072}, {"dropout", 0.0}}},
        {"diffusion",
         {{"kind", "absorbing"}, {"schedule", "auto"}, {"timesteps", 1000}, {"hybrid_lambda", 0.01},
          {"decoder", "posterior"}, {"beta_start", 1e-4}, {"beta_end", 0.02}, {"cosine_s", 0.008}, {"max_beta", 0.999},
          {"nn_knn", 10}, {"nn_final_mask", true}, {"nn_embeddings", "bigram"}, {"spindle_lambda", 0.3},
          {"loss_bits_per_dim", false}}},
        {"train",
         {{"steps", 1000000}, {"batch", 512}, {"micro_batch", 0}, {"lr", 2e-4}, {"warmup", 5000}, {"grad_clip", 0.25},
          {"ema_decay", 0.9999}, {"ema_warmup", false}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999}, {"adam_eps", 1e-8},
          {"tf_adam_epsilon", false}, {"log_every", 100}, {"sample_every", 10000}, {"sample_count", 4},
          {"sample_steps", 0}, {"checkpoint_every", 5000}, {"keep_checkpoints", 3},
          {"replica_check_every", 100}, {"eval_every", 0}, {"eval_items", 64}}},
        {"data", {{"dataset", "text8"}}}},
       {"EMA of the weights at 0.9999 (the paper states none for text8); sample and evaluate use it",
        "schedule 'auto' picks 1/(T-t+1) for absorbing, cosine for uniform, mutual information for nn "
        "(set diffusion.schedule to choose)",
        "nearest-neighbour kind: kNN over bigram-context character embeddings of the training split by default "
        "(diffusion.nn_embeddings: bigram, a checkpoint or a text matrix)",
        "stated choices where the paper is silent: the per-example loss is L_{t-1} + lambda * CE summed over "
        "the 256 positions (not T * L_{t-1}); L_0 uses the posterior formula with Qbar_0 = I (the text code's)"}},
      {"d3pm-text8-small", "D3PM on text8 sized for a CPU: transformer 6 x 256 (4.95M), batch 32", "d3pm-text8-paper",
       {{"model", {{"width", 256}, {"layers", 6}, {"heads", 8}, {"mlp", 1024}}},
        {"train",
         {{"batch", 32}, {"lr", 1e-3}, {"warmup", 100}, {"steps", 100000}, {"ema_decay", 0.995}, {"ema_warmup", true},
          {"log_every", 10}, {"sample_every", 1000}, {"sample_steps", 100}, {"checkpoint_every", 500}, {"eval_every", 1000},
          {"eval_items", 64}}}},
       {"transformer 6 layers x width 256, 8 heads, MLP 1024 (4.95M parameters) instead of 12 x 768",
        "batch 32 instead of 512, lr 1e-3 with 100 warmup steps instead of 2e-4 with 5000 (sized for runs of hours, "
        "not days), 100k steps instead of 1M, EMA 0.995 with warm-up",
        "training-time samples take 100 steps (sample_steps); `diffuse sample` takes all T by default"}},
      {"d3pm-text8-tiny", "D3PM on text8 for smoke tests: transformer 2 x 64, windows of 32, T = 50", "d3pm-text8-paper",
       {{"model", {{"width", 64}, {"layers", 2}, {"heads", 4}, {"mlp", 256}, {"seq_len", 32}}},
        {"diffusion", {{"timesteps", 50}}},
        {"train",
         {{"batch", 8}, {"lr", 1e-3}, {"warmup", 20}, {"steps", 300}, {"ema_decay", 0.9}, {"ema_warmup", true},
          {"log_every", 10}, {"sample_every", 100}, {"sample_count", 2}, {"sample_steps", 0}, {"checkpoint_every", 100}}}},
       {"transformer 2 x 64, windows of 32 characters, T = 50: a smoke-test model",
        "batch 8, lr 1e-3, warmup 20, 300 steps, EMA 0.9 with warm-up"}},
      // The README's demo: D3PM absorbing on the bundled KJV Gospels (demo/kjv-gospels.txt, text8 format).
      {"d3pm-text-demo", "The demo: D3PM absorbing on the bundled KJV Gospels, transformer 2 x 128, minutes on 2 cores",
       "d3pm-text8-paper",
       {{"model", {{"seq_len", 64}, {"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"diffusion", {{"hybrid_lambda", 1.0}}},
        {"train",
         {{"steps", 2000}, {"batch", 64}, {"lr", 1e-3}, {"warmup", 100}, {"grad_clip", 1.0}, {"ema_decay", 0.99},
          {"ema_warmup", true}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2}, {"sample_steps", 0},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"a 420,000-character corpus (the KJV Gospels) instead of text8's 100M; windows of 64",
        "transformer 2 x 128, 4 heads, MLP 512 (0.45M parameters) instead of 12 x 768",
        "hybrid lambda 1.0 instead of 0.01: the cross-entropy term teaches the denoiser in minutes "
        "(at 0.01 a few thousand steps stay at the unigram level, about 4 bits/char)",
        "batch 64, lr 1e-3, warmup 100, clip 1.0, 2000 steps, EMA 0.99 with warm-up: minutes, not days"}},

      // ---- Masked diffusion in continuous time (MD4: Shi et al. 2024; MDLM: Sahoo et al. 2024), text8 ----
      {"mdlm-text8-paper",
       "Masked diffusion on text8 as MD4's configs/md4/text8.py: transformer 12 x 768, linear schedule, 1M steps of 512", "",
       {{"kind", "masked-text"},
        {"model",
         {{"in_states", 28}, {"out_states", 27}, {"seq_len", 256}, {"width", 768}, {"layers", 12}, {"heads", 12},
          {"mlp", 3072}, {"dropout", 0.0}, {"causal", false}, {"time_embedding", true}}},
        {"diffusion", {{"schedule", "linear"}, {"eps", 1e-4}, {"exponent", 1.0}}},
        {"train",
         {{"steps", 1000000}, {"batch", 512}, {"micro_batch", 0}, {"lr", 3e-4}, {"lr_schedule", "cosine"}, {"min_lr", 0.0},
          {"warmup", 2000}, {"grad_clip", 0.0}, {"ema_decay", 0.9999}, {"ema_warmup", false}, {"adam_beta1", 0.9},
          {"adam_beta2", 0.999}, {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"log_every", 500},
          {"sample_every", 10000}, {"sample_count", 4}, {"sample_steps", 1000}, {"checkpoint_every", 5000},
          {"keep_checkpoints", 3}, {"replica_check_every", 100},
          // MD4 evaluates every 5000 steps on the whole validation split (eval_every_steps, num_eval_steps -1):
          // text8's 5M characters are 19531 chunks of 256
          {"eval_every", 5000}, {"eval_items", 19531}}},
        {"data", {{"dataset", "text8"}}}},
       {"positions: learned absolute embeddings (MD4: rotary embeddings in every attention layer)",
        "time: sinusoidal(1000 t) through an MLP, added to every token (MD4: the same embedding of 1000 t drives "
        "adaLN-zero, parameter-free LayerNorms modulated by zero-initialised shift, scale and gate)",
        "blocks: pre-LN LayerNorm with scale and bias; MLP fc2(gelu(fc1 x)), hidden 3072, with biases (MD4: a "
        "sigmoid-gated GLU, hidden 2048, no biases); q, k, v with biases (MD4: none)",
        "tokens: a 768-wide embedding (MD4: a 64-wide embedding projected to 768); init N(0, 0.02^2) everywhere (MD4: "
        "depth-scaled MLP init, zero-initialised output layer)",
        "the bound's end terms: the prior KL L alpha_1 log 27 is counted (MD4 takes it as 0; 1e-4 x 4.75 bits)"}},
      {"mdlm-text8-small", "Masked diffusion on text8 sized for a CPU: the d3pm-text8-small transformer 6 x 256, batch 32",
       "mdlm-text8-paper",
       {{"model", {{"width", 256}, {"layers", 6}, {"heads", 8}, {"mlp", 1024}, {"time_embedding", false}}},
        {"train",
         {{"batch", 32}, {"lr", 1e-3}, {"lr_schedule", "constant"}, {"warmup", 100}, {"steps", 100000}, {"grad_clip", 1.0},
          {"ema_decay", 0.995}, {"ema_warmup", true}, {"log_every", 10}, {"sample_every", 1000}, {"sample_steps", 100},
          {"checkpoint_every", 500}, {"eval_every", 1000}, {"eval_items", 64}}}},
       {"transformer 6 layers x width 256, 8 heads, MLP 1024 instead of 12 x 768: the size of d3pm-text8-small",
        "no time input (MDLM's choice: the share of masks tells the network t), so sampling reuses the output of a "
        "sequence none of whose tokens changed",
        "batch 32, constant lr 1e-3 after 100 warmup steps, clip 1.0, 100k steps, EMA 0.995 with warm-up: "
        "d3pm-text8-small's optimiser, for a like-for-like comparison"}},
      {"mdlm-text-demo", "The demo's masked diffusion: the bundled KJV Gospels, transformer 2 x 128, minutes on 2 cores",
       "mdlm-text8-small",
       {{"model", {{"seq_len", 64}, {"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", 2000}, {"batch", 64}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"sample_steps", 64}, {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"the d3pm-text-demo network and optimiser: windows of 64, transformer 2 x 128, batch 64, 2000 steps"}},

      // ---- Diffusion-LM (Li et al. 2022): Gaussian diffusion on learned word embeddings, with rounding ------------
      {"diffusion-lm-e2e-paper",
       "Diffusion-LM's E2E setting (Li et al. 2022, Appendix A): transformer 12 x 768, d = 16, T = 2000 sqrt, batch 64, "
       "lr 1e-4, 200k steps; on a verse file you supply",
       "",
       {{"kind", "diffusion-lm"},
        {"model",
         {{"out_states", 16}, {"input_dim", 16}, {"seq_len", 64}, {"width", 768}, {"layers", 12}, {"heads", 12}, {"mlp", 3072},
          {"dropout", 0.1}, {"causal", false}, {"time_embedding", true}, {"pooled", false}}},
        {"diffusion", {{"beta_schedule", "sqrt"}, {"timesteps", 2000}, {"sqrt_s", 1e-4}, {"variance", "large"}}},
        {"train",
         {{"steps", 200000}, {"batch", 64}, {"micro_batch", 0}, {"lr", 1e-4}, {"lr_schedule", "constant"}, {"warmup", 0},
          {"grad_clip", 0.0}, {"ema_decay", 0.9999}, {"ema_warmup", false}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999},
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"log_every", 10}, {"sample_every", 5000}, {"sample_count", 4},
          {"sample_steps", 200}, {"checkpoint_every", 5000}, {"keep_checkpoints", 3}, {"replica_check_every", 100},
          {"eval_every", 5000}, {"eval_items", 256}}},
        {"data", {{"dataset", "verses"}, {"min_count", 5}}}},
       {"data: E2E (restaurant descriptions) is not in Debian; the preset trains on the verse file given as --data",
        "transformer: pre-LN blocks (the reference uses BERT-base's post-LN encoder), no token-type embedding and no "
        "LayerNorm/dropout on the summed input; the head is one Linear to d (the reference's output_down_proj is "
        "Linear-tanh-Linear)",
        "lr constant (the reference anneals it linearly to 0 over the run); no weight decay, no gradient clipping (the "
        "reference's defaults)",
        "sampling defaults to 200 evenly spaced steps of the 2000 (step skipping; the paper decodes with the full chain)"}},
      {"diffusion-lm-bible-small",
       "Diffusion-LM on a Bible verse file sized for a CPU: the d3pm-text8-small transformer 6 x 256, d = 16, T = 2000, batch 64",
       "diffusion-lm-e2e-paper",
       {{"model", {{"width", 256}, {"layers", 6}, {"heads", 8}, {"mlp", 1024}, {"dropout", 0.0}}},
        {"train",
         {{"steps", 100000}, {"lr", 1e-3}, {"warmup", 100}, {"grad_clip", 1.0}, {"ema_decay", 0.995}, {"ema_warmup", true},
          {"sample_every", 1000}, {"checkpoint_every", 500}, {"eval_every", 1000}, {"eval_items", 64}}}},
       {"transformer 6 layers x width 256, 8 heads, MLP 1024, no dropout: the size of d3pm-text8-small",
        "batch 64, constant lr 1e-3 after 100 warmup steps, clip 1.0, EMA 0.995 with warm-up: the optimiser of the "
        "small text presets, for a like-for-like comparison"}},
      {"diffusion-lm-bible-demo", "Diffusion-LM demo on a Bible verse file: transformer 2 x 128, d = 16, T = 200, minutes on 2 cores",
       "diffusion-lm-bible-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"diffusion", {{"timesteps", 200}}},
        {"train",
         {{"steps", 2000}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2}, {"sample_steps", 50},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"transformer 2 x 128 and T = 200 (the sqrt schedule at T = 200), 2000 steps: minutes on 2 cores"}},
      {"diffusion-lm-text8-small",
       "Diffusion-LM on text8 characters: the d3pm-text8-small transformer 6 x 256 on windows of 256, d = 16, batch 32",
       "diffusion-lm-bible-small",
       {{"model", {{"in_states", 27}, {"seq_len", 256}}},
        {"train", {{"batch", 32}}},
        {"data", {{"dataset", "text8"}, {"min_count", nullptr}}}},
       {"characters instead of words: an embedding of the 27 characters, windows of 256 and batch 32 as d3pm-text8-small"}},

      // ---- Verse classifiers for Diffusion-LM's control (a pooled transformer) ----------------------------------
      {"verse-classifier-noisy",
       "The guide of Diffusion-LM's control: a pooled transformer 2 x 128 on the noisy embeddings of the Diffusion-LM run "
       "named by classifier.diffusion_lm; classifier.target testament, group or words",
       "",
       {{"kind", "text-classifier"},
        {"classifier", {{"target", "group"}, {"input", "noisy"}, {"diffusion_lm", ""}}},
        {"model",
         {{"seq_len", 64}, {"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}, {"dropout", 0.0}, {"causal", false},
          {"time_embedding", true}, {"pooled", true}}},
        {"train",
         {{"steps", 3000}, {"batch", 64}, {"micro_batch", 0}, {"lr", 1e-3}, {"lr_schedule", "constant"}, {"warmup", 100},
          {"grad_clip", 1.0}, {"ema_decay", 0.99}, {"ema_warmup", true}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999},
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 4},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"replica_check_every", 100}, {"eval_every", 500},
          {"eval_items", 512}}},
        {"data", {{"dataset", "verses"}}}},
       {"the reference's classifiers are fine-tuned GPT-2 or BERT models on the task's labels; here a small pooled "
        "transformer on this corpus's books (testament, group) or the words of each verse"}},
      {"verse-classifier-clean",
       "The judge of Diffusion-LM's control: the same pooled transformer on clean text, never used for guidance",
       "verse-classifier-noisy",
       {{"classifier", {{"input", "clean"}}}, {"model", {{"time_embedding", false}}}},
       {"reads token ids and no t: an independent judge of guided samples"}},

      // ---- Image classifiers: the U-Net's encoder half, pooled (nn/unet_encoder.hpp) ---------------------
      // Clean: the judge whose penultimate features FD-classifier, precision and recall use; noisy: the guide
      // p_phi(c | x_t, t) of classifier guidance, on the x_t of the DDPM run named by classifier.ddpm.
      {"classifier-fashion-mnist",
       "Clean classifier of Fashion-MNIST (the judge of samples): U-Net encoder ch 32 x (1,2,4), 2 res blocks, 128 features",
       "",
       {{"kind", "image-classifier"},
        {"classifier", {{"input", "clean"}, {"ddpm", ""}}},
        {"model",
         {{"in_channels", 1}, {"resolution", 28}, {"ch", 32}, {"ch_mult", {1, 2, 4}}, {"num_res_blocks", 2},
          {"attn_resolutions", json::array()}, {"dropout", 0.1}, {"groups", 8}, {"classes", 10}, {"time_embedding", false}}},
        {"train",
         {{"steps", 4000}, {"batch", 64}, {"micro_batch", 0}, {"lr", 2e-3}, {"lr_schedule", "cosine"}, {"warmup", 200},
          {"grad_clip", 1.0}, {"ema_decay", 0.999}, {"ema_warmup", true}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999},
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"random_flip", true}, {"log_every", 50}, {"sample_every", 0},
          {"sample_count", 0}, {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"replica_check_every", 100},
          {"eval_every", 500}, {"eval_items", 2000}}},
        {"data", {{"dataset", "fashion-mnist"}}}},
       {"not a paper's classifier: a pre-activation ResNet with GroupNorm (the U-Net's ResBlocks, its down path and middle), "
        "global average pooling and a linear head; Adam at 2e-3 with a cosine decay, random flips, dropout 0.1"}},
      {"classifier-fashion-mnist-demo",
       "The demo's judge of Fashion-MNIST samples: U-Net encoder ch 16 x (1,2,4), 1 res block, 600 steps (a minute or two)",
       "classifier-fashion-mnist",
       {{"model", {{"ch", 16}, {"num_res_blocks", 1}, {"groups", 4}}},
        {"train", {{"steps", 600}, {"warmup", 50}, {"log_every", 50}, {"checkpoint_every", 200}, {"eval_every", 600}}}},
       {"ch 16, 1 res block, GroupNorm 4 groups, 600 steps of 64: a weaker judge than classifier-fashion-mnist, "
        "so its FD-classifier is comparable only with its own"}},
      {"classifier-cifar10", "Clean classifier of CIFAR-10 (the judge of samples): U-Net encoder ch 64 x (1,2,2), 2 res blocks, 128 features",
       "classifier-fashion-mnist",
       {{"model", {{"in_channels", 3}, {"resolution", 32}, {"ch", 64}, {"ch_mult", {1, 2, 2}}, {"groups", 16}}},
        {"train", {{"steps", 20000}, {"eval_every", 1000}}},
        {"data", {{"dataset", "cifar10"}}}},
       {"CIFAR-10 32x32x3: ch 64, ch_mult (1,2,2), GroupNorm 16 groups, 20k steps of 64"}},
      {"classifier-cifar10-tiny", "Clean image classifier for smoke tests: ch 8 x (1,2), one res block, batch 16",
       "classifier-cifar10",
       {{"model", {{"ch", 8}, {"ch_mult", {1, 2}}, {"num_res_blocks", 1}, {"groups", 4}, {"dropout", 0.0}}},
        {"train", {{"steps", 100}, {"batch", 16}, {"warmup", 10}, {"log_every", 10}, {"checkpoint_every", 50},
                   {"eval_every", 50}, {"eval_items", 64}}}},
       {"ch 8, ch_mult (1,2), 1 res block, GroupNorm 4 groups, batch 16, 100 steps: a smoke-test model"}},
      {"noisy-classifier-fashion-mnist",
       "Noise-aware classifier p(c | x_t, t) of Fashion-MNIST (the guide): the judge's network with the timestep embedding, "
       "on the x_t of the DDPM run named by classifier.ddpm",
       "classifier-fashion-mnist",
       {{"classifier", {{"input", "noisy"}}},
        {"model", {{"time_embedding", true}}},
        {"diffusion", kDdpmDiffusion},
        {"train", {{"steps", 8000}}}},
       {"Dhariwal & Nichol's classifier is the U-Net's downsampling trunk with an attention pool at 8x8; here global "
        "average pooling (their 'adaptive' pool) on a CPU-sized trunk",
        "classifier.ddpm names the DDPM checkpoint it guides: a new run copies its diffusion section (T and betas) and refuses "
        "one of another dataset, resolution or channels; without it the section above (the DDPM presets') is used"}},
      {"noisy-classifier-cifar10", "Noise-aware classifier p(c | x_t, t) of CIFAR-10 (the guide): the CIFAR-10 judge's network with t",
       "classifier-cifar10",
       {{"classifier", {{"input", "noisy"}}},
        {"model", {{"time_embedding", true}}},
        {"diffusion", kDdpmDiffusion}},
       {"as noisy-classifier-fashion-mnist, on CIFAR-10"}},
      {"noisy-classifier-cifar10-tiny", "Noise-aware image classifier for smoke tests: the tiny judge's network with t, T = 20",
       "classifier-cifar10-tiny",
       {{"classifier", {{"input", "noisy"}}},
        {"model", {{"time_embedding", true}}},
        {"diffusion", with(kDdpmDiffusion, {{"timesteps", 20}})}},
       {"T = 20: the smoke tests' DDPM runs use diffusion.timesteps=20"}},

      // ---- The VQ-VAE (van den Oord et al. 2017; docs/math.md §12): the tokenizer of VQ-Diffusion ----------------
      {"vqvae-cifar10-small",
       "VQ-VAE of CIFAR-10 32x32 -> 8x8 codes: hidden 128, 2 res blocks, codebook 512 x 64, EMA codebook, restarts",
       "",
       {{"kind", "vqvae"},
        {"model",
         {{"in_channels", 3}, {"resolution", 32}, {"hidden", 128}, {"res_hidden", 32}, {"res_blocks", 2},
          {"codebook_size", 512}, {"code_dim", 64}}},
        {"vq", {{"beta", 0.25}, {"codebook", "ema"}, {"ema_decay", 0.99}, {"ema_epsilon", 1e-5}, {"restart_after", 100}}},
        {"train",
         {{"steps", 10000}, {"batch", 64}, {"micro_batch", 0}, {"lr", 2e-4}, {"lr_schedule", "constant"}, {"warmup", 0},
          {"grad_clip", 0.0}, {"ema_decay", 0.999}, {"ema_warmup", true}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999},
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"random_flip", true}, {"log_every", 50}, {"sample_every", 1000},
          {"sample_count", 32}, {"checkpoint_every", 1000}, {"keep_checkpoints", 2}, {"replica_check_every", 100},
          {"eval_every", 1000}, {"eval_items", 1000}}},
        {"data", {{"dataset", "cifar10"}}}},
       {"the paper's CIFAR-10 VQ-VAE (§4.1: two stride-2 4x4 convolutions, two 3x3 residual blocks, 256 hidden channels, "
        "K = 512, Adam 2e-4, batch 128, 250k steps) downsamples to 8x8 as here; here 128 hidden channels, batch 64, 10k steps",
        "the decoder upsamples by nearest neighbour and a 3x3 convolution instead of transposed convolutions",
        "the squared errors are means over elements (the reference implementations'), the EMA codebook (Appendix A.1) is on, "
        "with Laplace-smoothed counts and no zero-debiasing, and a code unused for 100 steps restarts from the batch's "
        "encoder outputs (Jukebox's random restarts, not in the paper)",
        "the weights' EMA (decay 0.999) is what evaluate and tokenize use by default"}},
      {"vqvae-fashion-mnist",
       "VQ-VAE of Fashion-MNIST 28x28 -> 7x7 codes: hidden 64, 2 res blocks, codebook 512 x 64, EMA codebook, restarts",
       "vqvae-cifar10-small",
       {{"model", {{"in_channels", 1}, {"resolution", 28}, {"hidden", 64}}},
        {"train", {{"steps", 5000}, {"random_flip", false}}},
        {"data", {{"dataset", "fashion-mnist"}}}},
       {"Fashion-MNIST 28x28x1 (not in the paper): a 7x7 grid, hidden 64, 5k steps, no flips"}},
      {"vqvae-cifar10-tiny", "VQ-VAE for tests: hidden 16, 1 res block, codebook 32 x 8, batch 16, restarts after 20 steps",
       "vqvae-cifar10-small",
       {{"model", {{"hidden", 16}, {"res_hidden", 8}, {"res_blocks", 1}, {"codebook_size", 32}, {"code_dim", 8}}},
        {"vq", {{"restart_after", 20}}},
        {"train", {{"steps", 100}, {"batch", 16}, {"log_every", 10}, {"sample_every", 50}, {"sample_count", 8},
                   {"checkpoint_every", 50}, {"eval_every", 50}, {"eval_items", 64}, {"ema_decay", 0.9}}}},
       {"hidden 16, 1 res block, K = 32, d = 8, batch 16, 100 steps: a smoke-test model"}},

      // ---- VQ-Diffusion (Gu et al. 2022; docs/math.md §12): mask-and-replace diffusion over a VQ-VAE's tokens ---------
      // `diffuse train --data TOKENS` binds the VQ-VAE named by the token file (vqvae.checkpoint, vqvae.hash).
      {"vq-diffusion-paper",
       "VQ-Diffusion-B's transformer (19 x 1024, 16 heads) over the 8x8 tokens of vqvae-cifar10-small, class-conditional, "
       "mask-and-replace T = 100, lambda 5e-4",
       "",
       {{"kind", "vq-diffusion"},
        {"vqvae", {{"checkpoint", ""}, {"hash", ""}}},
        {"model",
         {{"in_states", 513}, {"out_states", 513}, {"seq_len", 64}, {"grid_rows", 8}, {"grid_cols", 8}, {"width", 1024},
          {"layers", 19}, {"heads", 16}, {"mlp", 4096}, {"dropout", 0.0}, {"causal", false}, {"time_embedding", true},
          {"input_dim", 0}, {"pooled", false}, {"classes", 10}}},
        {"diffusion",
         {{"kind", "mask-replace"}, {"schedule", "vq"}, {"timesteps", 100}, {"hybrid_lambda", 5e-4},
          {"decoder", "posterior"}, {"beta_start", 1e-4}, {"beta_end", 0.02}, {"cosine_s", 0.008}, {"max_beta", 0.999},
          {"nn_knn", 10}, {"nn_final_mask", true}, {"nn_embeddings", ""}, {"spindle_lambda", 0.3},
          {"loss_bits_per_dim", false}}},
        {"train",
         {{"steps", 200000}, {"batch", 512}, {"micro_batch", 0}, {"lr", 4.5e-4}, {"lr_schedule", "constant"}, {"warmup", 5000},
          {"grad_clip", 0.0}, {"ema_decay", 0.9999}, {"ema_warmup", false}, {"adam_beta1", 0.9}, {"adam_beta2", 0.96},
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"p_uncond", 0.1}, {"log_every", 100}, {"sample_every", 10000},
          {"sample_count", 40}, {"sample_steps", 0}, {"checkpoint_every", 5000}, {"keep_checkpoints", 3},
          {"replica_check_every", 100}, {"eval_every", 0}, {"eval_items", 0}}},
        {"data", {{"dataset", "tokens"}}}},
       {"class labels instead of CLIP text (none offline), as the paper's ImageNet experiment: a class token before the grid "
        "(and the null class 10 dropped in with train.p_uncond = 0.1 for classifier-free guidance, Tang et al. 2022) instead "
        "of cross-attention on text or adaptive layer norm; the time embedding is added to every position",
        "the tokens are vqvae-cifar10-small's 8x8 grids over K = 512 codes (CIFAR-10 32x32), not VQGAN's 32x32 grids of "
        "256x256 images; learned 2-D positions (row + column embeddings)",
        "Adam without AdamW's weight decay (the training loop has none); no importance sampling of t",
        "the loss per grid is L_{t-1} + lambda CE at one t, summed over the 64 positions (Austin et al. eq. 5 as the engine's "
        "D3PM); L_0 through the posterior with Qbar_0 = I"}},
      {"vq-diffusion-cifar10-small",
       "VQ-Diffusion on the 8x8 tokens of vqvae-cifar10-small sized for a CPU: transformer 6 x 256, batch 64",
       "vq-diffusion-paper",
       {{"model", {{"width", 256}, {"layers", 6}, {"heads", 8}, {"mlp", 1024}}},
        {"train",
         {{"steps", 20000}, {"batch", 64}, {"lr", 5e-4}, {"warmup", 200}, {"grad_clip", 1.0}, {"ema_decay", 0.999},
          {"ema_warmup", true}, {"adam_beta2", 0.99}, {"log_every", 50}, {"sample_every", 2000}, {"sample_count", 40},
          {"sample_steps", 25}, {"checkpoint_every", 1000}}}},
       {"transformer 6 x 256, 8 heads, MLP 1024 instead of 19 x 1024; batch 64, lr 5e-4 with 200 warmup steps, clip 1.0, "
        "20k steps, EMA 0.999 with warm-up; training-time samples take 25 steps"}},
      {"vq-diffusion-fashion-mnist",
       "VQ-Diffusion on the 7x7 tokens of vqvae-fashion-mnist: transformer 6 x 256, batch 64",
       "vq-diffusion-cifar10-small",
       {{"model", {{"seq_len", 49}, {"grid_rows", 7}, {"grid_cols", 7}}}},
       {"Fashion-MNIST 28x28 through vqvae-fashion-mnist: 7x7 grids over K = 512 codes"}},
      {"vq-diffusion-tiny", "VQ-Diffusion for tests: transformer 1 x 32 over the tokens of vqvae-cifar10-tiny (K = 32), T = 100",
       "vq-diffusion-cifar10-small",
       {{"model", {{"in_states", 33}, {"out_states", 33}, {"width", 32}, {"layers", 1}, {"heads", 2}, {"mlp", 64}}},
        {"train",
         {{"steps", 40}, {"batch", 8}, {"lr", 2e-3}, {"warmup", 5}, {"log_every", 10}, {"sample_every", 20}, {"sample_count", 10},
          {"sample_steps", 10}, {"checkpoint_every", 20}, {"ema_decay", 0.9}}}},
       {"transformer 1 x 32 over K = 32 codes, batch 8, 40 steps: a smoke-test model"}},

      // ---- The autoregressive baseline (a causal transformer, next-character cross-entropy), text8 --------
      {"ar-text8-small", "Autoregressive baseline on text8: the d3pm-text8-small transformer 6 x 256, causal, batch 32", "",
       {{"kind", "ar-text"},
        {"model",
         {{"in_states", 28}, {"out_states", 27}, {"seq_len", 256}, {"width", 256}, {"layers", 6}, {"heads", 8}, {"mlp", 1024},
          {"dropout", 0.0}, {"causal", true}, {"time_embedding", false}}},
        {"train",
         {{"steps", 100000}, {"batch", 32}, {"micro_batch", 0}, {"lr", 1e-3}, {"lr_schedule", "constant"}, {"warmup", 100},
          {"grad_clip", 1.0}, {"ema_decay", 0.995}, {"ema_warmup", true}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999},
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"log_every", 10}, {"sample_every", 1000}, {"sample_count", 4},
          {"checkpoint_every", 500}, {"keep_checkpoints", 3}, {"replica_check_every", 100}, {"eval_every", 1000},
          {"eval_items", 64}}},
        {"data", {{"dataset", "text8"}}}},
       {"the transformer of d3pm-text8-small with a causal mask and no time input; id 27 (the text families' mask) "
        "starts every sequence",
        "d3pm-text8-small's optimiser (batch 32, lr 1e-3, 100 warmup steps, EMA 0.995 with warm-up), clip 1.0"}},
      {"ar-text-demo", "The demo's autoregressive baseline: the bundled KJV Gospels, causal transformer 2 x 128", "ar-text8-small",
       {{"model", {{"seq_len", 64}, {"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", 2000}, {"batch", 64}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"the d3pm-text-demo network and optimiser: windows of 64, transformer 2 x 128, batch 64, 2000 steps"}},

      // ---- The same two families on words: verse files of the Bible (apps/text_corpus.hpp) -----------------
      // model.in_states and model.out_states are left out: a run sets them from its vocabulary (V + 1, V).
      {"mdlm-bible-small", "Masked diffusion on verses of words (scripts/export_bible.sh): the transformer 6 x 256, rows of 64",
       "mdlm-text8-small",
       {{"model", {{"in_states", nullptr}, {"out_states", nullptr}, {"seq_len", 64}}},
        {"train", {{"batch", 64}}},
        {"data", {{"dataset", "verses"}, {"min_count", 5}}}},
       {kVerseRows, kVerseVocabulary,
        "batch 64 rows of 64 positions (4,096 a step, half those of d3pm-text8-small's 32 windows of 256)"}},
      {"ar-bible-small", "Autoregressive baseline on verses of words: the causal transformer 6 x 256, rows of 64", "ar-text8-small",
       {{"model", {{"in_states", nullptr}, {"out_states", nullptr}, {"seq_len", 64}}},
        {"train", {{"batch", 64}}},
        {"data", {{"dataset", "verses"}, {"min_count", 5}}}},
       {kVerseRows, kVerseVocabulary,
        "batch 64 rows of 64 positions (4,096 a step, half those of d3pm-text8-small's 32 windows of 256)"}},
      {"mdlm-bible-demo", "Masked diffusion on verses of words, minutes on 2 cores: transformer 2 x 128", "mdlm-bible-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", kBibleDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0},
          {"sample_count", 2}, {"sample_steps", 64}, {"checkpoint_every", 200}, {"keep_checkpoints", 2}, {"eval_every", 200},
          {"eval_items", 64}}}},
       {"the mdlm-text-demo network (transformer 2 x 128, 4 heads, MLP 512) on words; batch 32, " +
        std::to_string(kBibleDemoSteps) + " steps: minutes, not days"}},
      {"ar-bible-demo", "Autoregressive baseline on verses of words, minutes on 2 cores: causal transformer 2 x 128", "ar-bible-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", kBibleDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0},
          {"sample_count", 2}, {"checkpoint_every", 200}, {"keep_checkpoints", 2}, {"eval_every", 200}, {"eval_items", 64}}}},
       {"the ar-text-demo network (causal transformer 2 x 128, 4 heads, MLP 512) on words; batch 32, " +
        std::to_string(kBibleDemoSteps) + " steps: minutes, not days"}},

      // ---- A target given its source: KJV -> WEB paraphrase pairs (issue 23; docs/math.md §9) -----------------
      // The three models share the 6 x 256 transformer, rows of 128 and batch 64; their demos the 2 x 128 one.
      {"diffuseq-kjv-web-small",
       "DiffuSeq (Gong et al. 2022) on KJV -> WEB pairs: Diffusion-LM on [x; y] with the source kept clean (partial "
       "noising), the 6 x 256 transformer, d = 128, T = 2000 sqrt, rows of 128, batch 64",
       "diffusion-lm-bible-small",
       {{"model", {{"seq_len", 128}, {"input_dim", 128}, {"out_states", 128}}}, {"data", kPairData}},
       {"the deviations above are those of the Diffusion-LM presets this one derives from (E2E is Diffusion-LM's data); "
        "DiffuSeq's own follow",
        kPairRows, kPairVocabulary,
        "DiffuSeq's embedding of d = 128 (its hidden_dim) and T = 2000 with the sqrt schedule; its transformer is BERT-base "
        "(12 x 768, post-LN), here the 6 x 256 pre-LN one of the other small text presets",
        "t drawn uniformly (DiffuSeq draws it by loss-aware importance sampling); batch 64 and lr 1e-3 (DiffuSeq: 2048 and "
        "1e-4 for 50k-140k steps)",
        "DiffuSeq's x0 of the source is its embedding plus sigma0 noise in training and its embedding alone in sampling; "
        "so here (docs/math.md §9.1)"}},
      {"mdlm-kjv-web-small",
       "Masked diffusion on KJV -> WEB pairs with the source never masked: the 6 x 256 transformer, rows of 128, batch 64; "
       "ancestral or MaskGIT decoding",
       "mdlm-text8-small",
       {{"model", {{"in_states", nullptr}, {"out_states", nullptr}, {"seq_len", 128}}}, {"train", {{"batch", 64}}}, {"data", kPairData}},
       {kPairRows, kPairVocabulary, "batch 64 rows of 128 positions (8,192 a step, as d3pm-text8-small's 32 windows of 256)"}},
      {"ar-kjv-web-small",
       "Autoregressive baseline on KJV -> WEB pairs, \"x SEP y\" (the source's <eos> the separator) with the loss on the "
       "target: the causal transformer 6 x 256, rows of 128, batch 64",
       "ar-text8-small",
       {{"model", {{"in_states", nullptr}, {"out_states", nullptr}, {"seq_len", 128}}}, {"train", {{"batch", 64}}}, {"data", kPairData}},
       {kPairRows, kPairVocabulary, "batch 64 rows of 128 positions (8,192 a step, as d3pm-text8-small's 32 windows of 256)"}},
      {"diffuseq-kjv-web-demo", "DiffuSeq on KJV -> WEB pairs, minutes on 2 cores: transformer 2 x 128, d = 128, T = 200",
       "diffuseq-kjv-web-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"diffusion", {{"timesteps", 200}}},
        {"train",
         {{"steps", kPairDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"sample_steps", 50}, {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"transformer 2 x 128 and T = 200 (the sqrt schedule at T = 200), batch 32, " + std::to_string(kPairDemoSteps) +
        " steps: minutes, not days"}},
      {"mdlm-kjv-web-demo", "Masked diffusion on KJV -> WEB pairs, minutes on 2 cores: transformer 2 x 128", "mdlm-kjv-web-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", kPairDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"sample_steps", 64}, {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"the mdlm-bible-demo network (transformer 2 x 128, 4 heads, MLP 512) on pairs; batch 32, " + std::to_string(kPairDemoSteps) +
        " steps: minutes, not days"}},
      {"ar-kjv-web-demo", "Autoregressive baseline on KJV -> WEB pairs, minutes on 2 cores: causal transformer 2 x 128", "ar-kjv-web-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", kPairDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"the ar-bible-demo network (causal transformer 2 x 128, 4 heads, MLP 512) on pairs; batch 32, " + std::to_string(kPairDemoSteps) +
        " steps: minutes, not days"}},
  };
  return table;
}
}  // namespace

std::vector<PresetInfo> list_presets() {
  std::vector<PresetInfo> out;
  for (const Preset& p : presets()) out.push_back({p.name, p.summary});
  return out;
}

json preset_config(const std::string& name) {
  for (const Preset& p : presets()) {
    if (p.name != name) continue;
    json c = p.base.empty() ? json::object() : preset_config(p.base);
    std::vector<std::string> deviations = p.base.empty() ? std::vector<std::string>{} : c["deviations"].get<std::vector<std::string>>();
    c.merge_patch(p.changes);
    deviations.insert(deviations.end(), p.deviations.begin(), p.deviations.end());
    c["preset"] = name;
    c["deviations"] = deviations;
    if (!c.contains("precision")) c["precision"] = "fp32";  // a preset may say "bf16" (tensor/precision.hpp)
    return c;
  }
  std::string known;
  for (const Preset& p : presets()) known += (known.empty() ? "" : ", ") + p.name;
  throw std::invalid_argument("--preset: unknown preset '" + name + "' (known: " + known + ")");
}

void apply_overrides(json& config, const std::vector<std::string>& assignments) {
  for (const std::string& a : assignments) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument("--set: expected key=value, got '" + a + "'");
    const std::string key = a.substr(0, eq), value = a.substr(eq + 1);
    json* node = &config;
    size_t start = 0;
    while (true) {
      const size_t dot = key.find('.', start);
      const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!node->is_object() || !node->contains(part)) {
        std::string known;
        if (node->is_object())
          for (auto& [k, v] : node->items()) known += (known.empty() ? "" : ", ") + k;
        throw std::invalid_argument("--set: unknown key '" + key + "'" + (known.empty() ? "" : " (known here: " + known + ")"));
      }
      node = &(*node)[part];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (node->is_object()) throw std::invalid_argument("--set: '" + key + "' is a section, not a value");
    const std::string bad = "--set: '" + key + "' needs ";
    try {
      if (node->is_boolean()) {
        if (value != "true" && value != "false") throw std::invalid_argument(bad + "true or false, got '" + value + "'");
        *node = value == "true";
      } else if (node->is_number_integer()) {
        size_t used = 0;
        const long long v = std::stoll(value, &used);
        if (used != value.size()) throw std::invalid_argument("");
        *node = v;
      } else if (node->is_number()) {
        size_t used = 0;
        const double v = std::stod(value, &used);
        if (used != value.size()) throw std::invalid_argument("");
        *node = v;
      } else if (node->is_array()) {
        const json v = json::parse(value);
        if (!v.is_array()) throw std::invalid_argument("");
        *node = v;
      } else {
        *node = value;
      }
    } catch (const std::invalid_argument& e) {
      if (std::string(e.what()).rfind("--set", 0) == 0) throw;
      throw std::invalid_argument(bad + (node->is_number_integer() ? "an integer" : node->is_number() ? "a number" : "a JSON array") +
                                  ", got '" + value + "'");
    } catch (const std::exception&) {
      throw std::invalid_argument(bad + "a valid value, got '" + value + "'");
    }
  }
}

}  // namespace diffuse
