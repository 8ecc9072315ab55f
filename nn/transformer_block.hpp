// One pre-LN transformer block (the D3PM text model's layer):
//   h = x + attn(ln1(x));  y = h + fc2(gelu(fc1(ln2(h))))
// x [B, T, C] -> y [B, T, C]. GELU in its erf form (kMlpGelu); LayerNorm eps kLayerNormEps (1e-5);
// linear weights N(0, 0.02^2), biases 0.
// Parameters: ln1, attn.qkv, attn.proj, ln2, mlp.fc1 [M, C], mlp.fc2 [C, M].
#pragma once
#include "nn/attention.hpp"
#include "tensor/ops.hpp"

namespace diffuse::nn {

// The MLP's GELU: the exact erf form x/2 (1 + erf(x / sqrt 2)), not the tanh approximation.
inline constexpr GeluForm kMlpGelu = GeluForm::Erf;

class Mlp : public Module {
 public:
  Mlp(int64_t channels, int64_t hidden, Philox& rng);
  Tensor forward(const Tensor& x) const;
  std::shared_ptr<Linear> fc1, fc2;
};

class TransformerBlock : public Module {
 public:
  TransformerBlock(int64_t channels, int64_t heads, int64_t mlp_hidden, double dropout, Philox& rng);
  // mask: an additive attention mask (nn::causal_mask), or undefined for none.
  Tensor forward(const Tensor& x, Philox& rng, const Tensor& mask = Tensor()) const;
  std::shared_ptr<LayerNorm> ln1, ln2;
  std::shared_ptr<MultiHeadSelfAttention> attn;
  std::shared_ptr<Mlp> mlp;
  std::shared_ptr<Dropout> drop;
};

}  // namespace diffuse::nn
