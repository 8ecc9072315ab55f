// The images' presets: a new one is one entry (apps/preset_table.hpp).
#include "apps/preset_table.hpp"

namespace diffuse::preset_table {

namespace {
constexpr int64_t kFashionCondSteps = 8000;  // ddpm-fashion-mnist-cond: about an hour on 2 threads
}  // namespace

std::vector<Preset> image_presets() {
  return {
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
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"p_uncond", 0.1}, {"t_sampling", "importance"}, {"log_every", 100},
          {"sample_every", 10000}, {"sample_count", 40}, {"sample_steps", 0}, {"checkpoint_every", 5000}, {"keep_checkpoints", 3},
          {"replica_check_every", 100}, {"eval_every", 0}, {"eval_items", 0}}},
        {"data", {{"dataset", "tokens"}}}},
       {"class labels instead of CLIP text (none offline), as the paper's ImageNet experiment: a class token before the grid "
        "(and the null class 10 dropped in with train.p_uncond = 0.1 for classifier-free guidance, Tang et al. 2022) instead "
        "of cross-attention on text or adaptive layer norm; the time embedding is added to every position",
        "the tokens are vqvae-cifar10-small's 8x8 grids over K = 512 codes (CIFAR-10 32x32), not VQGAN's 32x32 grids of "
        "256x256 images; learned 2-D positions (row + column embeddings)",
        "Adam without AdamW's weight decay (the training loop has none)",
        "importance sampling of t by the running L_t as VQ-Diffusion's code (train.t_sampling = importance; "
        "diffusion/time_importance.hpp), its history updated example by example; one process only (no data parallelism)",
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
       {"the tokens are vqvae-fashion-mnist's 7x7 grids over K = 512 codes (Fashion-MNIST 28x28), in place of the CIFAR-10 "
        "8x8 grids named above"}},
      {"vq-diffusion-tiny", "VQ-Diffusion for tests: transformer 1 x 32 over the tokens of vqvae-cifar10-tiny (K = 32), T = 100",
       "vq-diffusion-cifar10-small",
       {{"model", {{"in_states", 33}, {"out_states", 33}, {"width", 32}, {"layers", 1}, {"heads", 2}, {"mlp", 64}}},
        {"train",
         {{"steps", 40}, {"batch", 8}, {"lr", 2e-3}, {"warmup", 5}, {"log_every", 10}, {"sample_every", 20}, {"sample_count", 10},
          {"sample_steps", 10}, {"checkpoint_every", 20}, {"ema_decay", 0.9}}}},
       {"transformer 1 x 32 over K = 32 codes, batch 8, 40 steps: a smoke-test model"}},

  };
}

}  // namespace diffuse::preset_table
