// The autoregressive text model (ar_text_commands.cpp), shared with the generative-perplexity scorer
// (text_sample_scores.cpp), which loads one as its teacher. It reads the V ids of its vocabulary (27
// characters, or a word vocabulary: apps/text_corpus.hpp) and a start id V before a row's first position.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/command_options.hpp"
#include "apps/text_corpus.hpp"
#include "diffusion/autoregressive.hpp"
#include "nn/arena.hpp"
#include "nn/transformer.hpp"

namespace diffuse {

class Progress;

// The configuration's network, checked for the autoregressive model: causal, no time input, V + 1 input ids
// (the data and the start id) and V outputs. Throws naming the model.* key.
nn::TransformerConfig ar_network_config(const nlohmann::json& config);

struct ArTextModel {
  ArTextModel(const nlohmann::json& config, uint64_t seed);
  nlohmann::json config;
  std::shared_ptr<const TextVocabulary> vocabulary;
  Philox init_rng;
  nn::Transformer net;
  nn::ParameterArena arena;

  int64_t seq_len() const { return net.config().seq_len; }
  int32_t start_id() const { return vocabulary->mask_id(); }  // the one input id outside the data: V
  diffusion::NextTokenModel next_token_model(Philox& dropout_rng) const;
  // -log p(x^n | x^{<n}) summed over the positions n >= skip of each row, nats, without a tape: x int32
  // [B, L <= seq_len] -> float [B]. The positions before `skip` are context only, and so are the given ones
  // (given int32 [B, L], 1 where given: a pair's source; undefined: none).
  Tensor nll(const Tensor& x, int64_t skip = 0, const Tensor& given = Tensor()) const;
  // progress (may be null) advances once per network evaluation.
  Tensor sample(int64_t n, Philox& rng, const diffusion::AutoregressiveSampleOptions& options, int64_t* evaluations = nullptr,
                Progress* progress = nullptr) const;
};

}  // namespace diffuse
