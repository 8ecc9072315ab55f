// The VQ-Diffusion token model of the `vq-diffusion` family (Gu et al. 2022; docs/math.md §12.3-§12.5): D3PM's
// mask-and-replace kind (diffusion/d3pm_kind_mask_replace.cpp) over the K codes of a VQ-VAE and an extra mask K,
// with VQ-Diffusion's schedule (abar_t 0.99999 -> 0.000009, gbar_t 0.000009 -> 0.99999 linear over T = 100), an
// x0-parameterised transformer over the token grid (nn/transformer.hpp with learned 2-D positions and a class
// token, class N the null class of classifier-free guidance), L_vlb + lambda CE with lambda = 5e-4.
//
// The configuration: "model" (a TransformerConfig: in_states = out_states = K + 1, seq_len = H W, grid_rows H,
// grid_cols W, classes), "diffusion" (apps/d3pm_config.hpp, kind mask-replace, schedule vq), "train" (with
// p_uncond), and "vqvae": {"checkpoint", "hash"}: the VQ-VAE whose token files it trains on and whose decoder
// turns its samples into pixels, recorded by `diffuse train` from the token file and checked whenever it is used.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/progress.hpp"
#include "apps/vqvae_model.hpp"
#include "data/token_grids.hpp"
#include "diffusion/d3pm_diffusion.hpp"
#include "diffusion/d3pm_sampler.hpp"
#include "diffusion/guidance.hpp"
#include "nn/arena.hpp"
#include "nn/transformer.hpp"
#include "tensor/random.hpp"

namespace diffuse {

// The token states: codes 0..K-1 and the extra mask K.
diffusion::D3pmStates token_states(int64_t codes);

struct VqDiffusionModel {
  // config: a resolved vq-diffusion configuration (throws naming the field when it is not one).
  VqDiffusionModel(const nlohmann::json& config, uint64_t seed);
  nlohmann::json config;
  Philox init_rng;
  nn::Transformer net;
  nn::ParameterArena arena;
  diffusion::D3pm d3pm;

  int64_t codes() const { return net.config().in_states - 1; }  // K
  int64_t classes() const { return net.config().classes; }      // 0: unconditional; else the null class's id
  int64_t rows() const { return net.config().grid_rows; }
  int64_t cols() const { return net.config().grid_cols; }
  int64_t length() const { return net.config().seq_len; }
  // ptilde(x0 | x_t, c) logits [B, L, K + 1] (labels undefined for an unconditional model).
  diffusion::ConditionalX0Model conditional(Philox& dropout_rng) const;
  diffusion::X0Model x0_model(Philox& dropout_rng, const Tensor& labels) const;
};

// The token file at `path` as the training or evaluation rows [N, L] int32 with their labels int32 [N]; throws
// std::invalid_argument naming the file and the model when its grid or codebook size is not the model's, or it
// has no labels for a class-conditional model.
struct TokenRows {
  data::TokenGridHeader header;
  Tensor rows, labels;
};
TokenRows read_token_rows(const std::string& path, const VqDiffusionModel& m);

// At `diffuse train`: the VQ-VAE that made the token file (vqvae.checkpoint, or the file's own record of it) loaded
// with its EMA weights; the file refused unless that VQ-VAE's hash, grid and codebook size are the file's and the
// model's; vqvae.checkpoint and vqvae.hash recorded in config.
void bind_vqvae(nlohmann::json& config, const data::TokenGridHeader& tokens, const std::string& tokens_path);

// The VQ-VAE a vq-diffusion configuration names, loaded with its EMA weights for decoding; refused (naming both)
// when its weights' hash is not the recorded one or its codebook size is not the model's K.
std::unique_ptr<VqVaeModel> load_bound_vqvae(const nlohmann::json& config, const std::string& where);

struct TokenSampling {
  Tensor labels;             // int32 [n] (a row per class) or undefined: unconditional
  double guidance_scale = 0; // classifier-free guidance's w (0: the conditional model)
  double truncation = 1;     // r (1: none)
  diffusion::D3pmSampleOptions options;  // steps (skipping), argmax
};
// Token grids int32 [n, L] from the reverse process, under NoGradGuard; progress (may be null) per evaluation.
Tensor sample_tokens(const VqDiffusionModel& m, int64_t n, const TokenSampling& s, Philox& rng, Progress* progress = nullptr);

// Token grids [n, L] -> images [n, C, R, R] through the VQ-VAE's decoder (no tape).
Tensor decode_tokens(const VqVaeModel& vqvae, const Tensor& tokens, int64_t rows, int64_t cols);

}  // namespace diffuse
