#include "nn/transformer_block.hpp"

#include "tensor/ops.hpp"

namespace diffuse::nn {

Mlp::Mlp(int64_t channels, int64_t hidden, Philox& rng) {
  fc1 = register_module("fc1", std::make_shared<Linear>(channels, hidden, Init::Normal002, rng));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, channels, Init::Normal002, rng));
}

Tensor Mlp::forward(const Tensor& x) const { return fc2->forward(gelu(fc1->forward(x), kMlpGelu)); }

TransformerBlock::TransformerBlock(int64_t channels, int64_t heads, int64_t mlp_hidden, double dropout, Philox& rng) {
  ln1 = register_module("ln1", std::make_shared<LayerNorm>(channels));
  attn = register_module("attn", std::make_shared<MultiHeadSelfAttention>(channels, heads, Init::Normal002, Init::Normal002, rng));
  ln2 = register_module("ln2", std::make_shared<LayerNorm>(channels));
  mlp = register_module("mlp", std::make_shared<Mlp>(channels, mlp_hidden, rng));
  drop = register_module("drop", std::make_shared<Dropout>(dropout));
}

Tensor TransformerBlock::forward(const Tensor& x, Philox& rng, const Tensor& mask) const {
  const Tensor h = x + drop->forward(attn->forward(ln1->forward(x), mask), rng);
  return h + drop->forward(mlp->forward(ln2->forward(h)), rng);
}

}  // namespace diffuse::nn
