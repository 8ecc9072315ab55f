#include "nn/embedding_transformer.hpp"

#include <stdexcept>
#include <string>

namespace diffuse::nn {

EmbeddingTransformer::EmbeddingTransformer(const TransformerConfig& config, Philox& rng) {
  if (config.input_dim < 1 || config.out_states != config.input_dim || config.pooled)
    throw std::invalid_argument("model: an embedding transformer reads and writes vectors of the embedding's dimension: "
                                "model.input_dim = model.out_states = d, not pooled (got input_dim " +
                                std::to_string(config.input_dim) + ", out_states " + std::to_string(config.out_states) + ")");
  word_emb_ = register_module("word_emb", std::make_shared<Embedding>(config.in_states, config.input_dim, 1.0, rng));
  net_ = register_module("net", std::make_shared<Transformer>(config, rng));
}

}  // namespace diffuse::nn
