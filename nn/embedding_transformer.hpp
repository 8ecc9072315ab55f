// The network of Diffusion-LM and DiffuSeq (Li et al. 2022; Gong et al. 2022): a learned word embedding
// EMB [V, d] and a bidirectional transformer that reads noisy embedding vectors x_t [B, L, d] with the time
// and predicts x0 [B, L, d] (the x0-parameterisation).
//
//   EMB(w) = word_emb.weight[w]                                  [B, L, d]   (init N(0, 1), nn.Embedding's)
//   f_theta(x_t, t) = net(x_t, t)                                [B, L, d]   (transformer.hpp with input_dim = d)
//
// The rounding head p(w | x0) = softmax(EMB x0) is tied to word_emb (diffusion/embedding_diffusion.hpp), so
// it has no parameters of its own. Parameter names: word_emb.weight, net.* (transformer.hpp's names, in_proj
// in place of tok_emb).
#pragma once
#include <memory>

#include "nn/layers.hpp"
#include "nn/transformer.hpp"

namespace diffuse::nn {

class EmbeddingTransformer : public Module {
 public:
  // config.input_dim = config.out_states = d; config.in_states = V, the vocabulary's size.
  EmbeddingTransformer(const TransformerConfig& config, Philox& rng);
  // x_t float [B, L, d], step int32 [B] -> the x0 prediction [B, L, d].
  Tensor forward(const Tensor& x_t, const Tensor& step, Philox& rng) const { return net_->forward(x_t, step, rng); }
  const Tensor& embedding() const { return word_emb_->weight; }  // EMB [V, d]
  const TransformerConfig& config() const { return net_->config(); }

 private:
  std::shared_ptr<Embedding> word_emb_;
  std::shared_ptr<Transformer> net_;
};

}  // namespace diffuse::nn
