// The D3PM text model: a bidirectional pre-LN transformer over token ids that predicts the logits of
// ptilde(x0 | x_t) at every position (Austin et al. 2021, text8 experiments).
//
//   h = tok_emb(x_t) + pos_emb[0..L) + time_mlp(sinusoidal(t))      [B, L, C]
//   h = block_n(... block_1(h))                                       pre-LN blocks (transformer_block.hpp)
//   logits = head(ln_f(h))                                            [B, L, out_states]
//
// time_mlp = dense1(SiLU(dense0(sinusoidal(t, C)))), as the U-Net's. Learned positions. Weights
// N(0, 0.02^2), biases 0, LayerNorm 1/0. Parameters (the names checkpoints store): pos_emb,
// tok_emb.weight, time.{0,1}.{weight,bias} (dense0, dense1 above), blocks.{i}.*, ln_f, head.
//
// Two options make the same network serve the other text families:
// - time_embedding = false drops the time MLP (and its parameters): the network sees x_t alone. Masked
//   diffusion needs no time input (the share of masks tells it; MDLM trains without it), and the
//   autoregressive model has no time at all.
// - causal = true adds the mask -inf above the diagonal to every attention score, so position n sees
//   positions 0..n only: the autoregressive baseline's next-token model.
// - input_dim = d > 0 reads continuous vectors x_t [B, L, d] instead of token ids: tok_emb gives way to
//   in_proj = Linear(C, C)(tanh(Linear(d, C) x_t)), Diffusion-LM's input_up_proj (parameters in_proj.{0,1}.*).
//   The head then writes out_states = d numbers per position: the x0 prediction of Diffusion-LM and DiffuSeq.
// - A distribution over the token ids, float q [B, L, in_states] (input_dim = 0), is read as its expected
//   embedding, h = q tok_emb (sum_w q_w tok_emb[w]); a one-hot q gives exactly tok_emb[id]. The verse
//   classifier that guides Diffusion-LM reads the posterior q(w | x_t) this way (apps/text_classifier.hpp).
// - pooled = true averages ln_f(h) over the positions before the head: logits [B, out_states] of a
//   sequence's class (Diffusion-LM's classifier on noisy x_t, and the clean-text classifier that scores it).
// - grid_rows = H > 0 (with grid_cols = W, seq_len = H W): learned 2-D positions, pos(i, j) = row_emb[i] +
//   col_emb[j] for position n = i W + j, in place of pos_emb (VQ-Diffusion's token grids).
// - half_positions = true: the row is two halves of L / 2 (a pair's source and target, data/pair_rows.hpp's
//   halves layout) that share their positions, pos(n) = side_emb[n / (L/2)] + pos_emb[n % (L/2)], with pos_emb
//   [L/2, C] and side_emb [2, C]: the source word x^j and the target position j read the same pos_emb[j], so one
//   attention pattern aligns every position of the target with the source's (XLM's translation language
//   model resets the target's positions the same way, with a language embedding: Lample & Conneau 2019).
// - classes = N > 0: a class token. class_emb [N + 1, C] (row N: the null class of classifier-free guidance)
//   gives one more token, class_emb[c] (+ the time embedding), put before the sequence; every block attends to
//   it, and its output is dropped before ln_f. forward then takes labels int32 [B] in 0..N.
#pragma once
#include <nlohmann/json.hpp>

#include "nn/transformer_block.hpp"

namespace diffuse::nn {

struct TransformerConfig {
  int64_t in_states = 28;   // token ids the model reads: 27 characters + the mask
  int64_t out_states = 28;  // logits it writes (the mask's is forced to -inf by the diffusion)
  int64_t seq_len = 256;
  int64_t width = 768;
  int64_t layers = 12;
  int64_t heads = 12;
  int64_t mlp = 3072;
  double dropout = 0.0;
  bool causal = false;         // attention sees only earlier positions
  bool time_embedding = true;  // add time_mlp(sinusoidal(step)) to every position
  int64_t input_dim = 0;       // 0: int32 token ids; d > 0: float vectors [B, L, d] through in_proj
  bool pooled = false;         // the head reads the mean over positions: [B, out_states]
  int64_t grid_rows = 0, grid_cols = 0;  // > 0: learned 2-D positions over a grid_rows x grid_cols grid
  int64_t classes = 0;         // > 0: a class token over classes + 1 labels (the last: null)
  bool half_positions = false;  // the two halves of the row share positions, a side embedding tells them apart

  nlohmann::json to_json() const;
  static TransformerConfig from_json(const nlohmann::json& j);  // throws naming the bad field
  void validate() const;
};

// The causal attention mask [L, L]: 0 on and below the diagonal, -inf above (query q sees keys 0..q).
Tensor causal_mask(int64_t length);

class Transformer : public Module {
 public:
  Transformer(const TransformerConfig& config, Philox& rng);
  // x_t int32 [B, L] (L <= seq_len), or float [B, L, in_states] (a distribution over the ids; both when
  // input_dim = 0), or float [B, L, input_dim] when input_dim > 0; step [B] (int32 0-based
  // paper t - 1, or float32 for continuous time; undefined when time_embedding is false) -> logits
  // [B, L, out_states] ([B, out_states] when pooled). labels: int32 [B] in 0..classes when classes > 0 (else
  // undefined).
  Tensor forward(const Tensor& x_t, const Tensor& step, Philox& rng, const Tensor& labels = Tensor()) const;
  const TransformerConfig& config() const { return config_; }

 private:
  TransformerConfig config_;
  std::shared_ptr<Embedding> tok_emb_;         // token ids (input_dim == 0)
  std::shared_ptr<ModuleList<Linear>> in_proj_;  // continuous vectors (input_dim > 0)
  Tensor pos_emb_;  // [seq_len, width] (1-D positions)
  Tensor row_emb_, col_emb_;  // [grid_rows, width], [grid_cols, width] (2-D positions)
  Tensor side_emb_;           // [2, width] (half_positions; pos_emb_ is then [seq_len / 2, width])
  std::shared_ptr<Embedding> class_emb_;  // [classes + 1, width]
  std::shared_ptr<ModuleList<Linear>> time_;
  std::shared_ptr<ModuleList<TransformerBlock>> blocks_;
  std::shared_ptr<LayerNorm> ln_f_;
  std::shared_ptr<Linear> head_;
};

}  // namespace diffuse::nn
