// The autoregressive text model (ar_text_commands.cpp), shared with the generative-perplexity scorer
// (text_sample_scores.cpp), which loads one as its teacher.
#pragma once
#include <nlohmann/json.hpp>

#include "apps/command_options.hpp"
#include "data/text8.hpp"
#include "diffusion/autoregressive.hpp"
#include "nn/arena.hpp"
#include "nn/transformer.hpp"

namespace diffuse {

class Progress;

// The configuration's network, checked for the autoregressive model: causal, no time input, 28 input ids
// (the 27 characters and the beginning-of-sequence id) and 27 outputs. Throws naming the model.* key.
nn::TransformerConfig ar_network_config(const nlohmann::json& config);

struct ArTextModel {
  static constexpr int32_t kBos = data::kText8Mask;  // the one input id outside the data

  ArTextModel(const nlohmann::json& config, uint64_t seed);
  nlohmann::json config;
  Philox init_rng;
  nn::Transformer net;
  nn::ParameterArena arena;

  int64_t seq_len() const { return net.config().seq_len; }
  diffusion::NextTokenModel next_token_model(Philox& dropout_rng) const;
  // -log p(x) per row, nats, without a tape: x int32 [B, L <= seq_len] -> float [B].
  Tensor nll(const Tensor& x) const;
  // progress (may be null) advances once per network evaluation.
  Tensor sample(int64_t n, Philox& rng, const diffusion::AutoregressiveSampleOptions& options, int64_t* evaluations = nullptr,
                Progress* progress = nullptr) const;
};

}  // namespace diffuse
