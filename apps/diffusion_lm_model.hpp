// The Diffusion-LM model of a configuration (diffusion_lm_commands.cpp), shared with the verse classifiers
// (text_classifier_commands.cpp), which train on its noisy embeddings: the vocabulary, the embedding and
// denoiser (nn/embedding_transformer.hpp) and the process (diffusion/embedding_diffusion.hpp).
#pragma once
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/text_corpus.hpp"
#include "diffusion/embedding_diffusion.hpp"
#include "nn/arena.hpp"
#include "nn/embedding_transformer.hpp"

namespace diffuse {

// The configuration's network, checked for Diffusion-LM: model.in_states = V embedding rows, model.input_dim
// = model.out_states = d, bidirectional, reading t. Throws naming the model.* key.
nn::TransformerConfig diffusion_lm_network_config(const nlohmann::json& config);
// The configuration's diffusion section: beta_schedule (sqrt), timesteps, variance.
diffusion::EmbeddingDiffusion diffusion_lm_process(const nlohmann::json& config);

struct DiffusionLmModel {
  DiffusionLmModel(const nlohmann::json& config, uint64_t seed);
  nlohmann::json config;
  std::shared_ptr<const TextVocabulary> vocabulary;
  Philox init_rng;
  nn::EmbeddingTransformer net;
  nn::ParameterArena arena;
  diffusion::EmbeddingDiffusion diffusion;

  diffusion::EmbeddingX0Model x0_model(Philox& dropout_rng) const {
    return [this, &dropout_rng](const Tensor& x_t, const Tensor& step) { return net.forward(x_t, step, dropout_rng); };
  }
  int64_t seq_len() const { return net.config().seq_len; }
  int64_t dim() const { return net.config().input_dim; }
};

}  // namespace diffuse
