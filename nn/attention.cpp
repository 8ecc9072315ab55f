#include "nn/attention.hpp"

#include "tensor/attention.hpp"
#include "tensor/ops.hpp"

namespace diffuse::nn {

MultiHeadSelfAttention::MultiHeadSelfAttention(int64_t channels, int64_t heads, Init init, Init proj_init, Philox& rng)
    : channels(channels), heads(heads) {
  if (heads < 1 || channels % heads != 0)
    throw std::invalid_argument("MultiHeadSelfAttention: " + std::to_string(heads) + " heads do not divide width " +
                                std::to_string(channels));
  qkv = register_module("qkv", std::make_shared<Linear>(channels, 3 * channels, init, rng));
  proj = register_module("proj", std::make_shared<Linear>(channels, channels, proj_init, rng));
}

Tensor MultiHeadSelfAttention::forward(const Tensor& x, const Tensor& mask) const {
  const int64_t B = x.size(0), T = x.size(1), C = channels, H = heads, D = C / H;
  // [B, T, 3C] -> [B, T, 3, H, D] -> [3, B, H, T, D]: q, k, v as strided views of one buffer
  const Tensor qkv5 = qkv->forward(x).view({B, T, 3, H, D}).permute({2, 0, 3, 1, 4});
  const Tensor attended = attention(qkv5.narrow(0, 0, 1).squeeze(0), qkv5.narrow(0, 1, 1).squeeze(0),
                                    qkv5.narrow(0, 2, 1).squeeze(0), mask);  // [B, H, T, D]
  return proj->forward(attended.permute({0, 2, 1, 3}).reshape({B, T, C}));
}

SpatialSelfAttention::SpatialSelfAttention(int64_t channels, int64_t groups, Philox& rng) {
  norm = register_module("norm", std::make_shared<GroupNorm>(groups, channels, kGroupNormEps));
  q = register_module("q", std::make_shared<Linear>(channels, channels, Init::VarianceScaling, rng));
  k = register_module("k", std::make_shared<Linear>(channels, channels, Init::VarianceScaling, rng));
  v = register_module("v", std::make_shared<Linear>(channels, channels, Init::VarianceScaling, rng));
  proj_out = register_module("proj_out", std::make_shared<Linear>(channels, channels, Init::Zero, rng));
}

Tensor SpatialSelfAttention::forward(const Tensor& x) const {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  // [B, C, H, W] -> tokens [B, HW, C], made contiguous once here rather than by each of q, k and v
  const Tensor h = norm->forward(x).view({B, C, H * W}).transpose(1, 2).contiguous();
  const Tensor attended = attention(q->forward(h).unsqueeze(1), k->forward(h).unsqueeze(1), v->forward(h).unsqueeze(1));
  const Tensor out = proj_out->forward(attended.squeeze(1));  // [B, HW, C]
  return x + out.transpose(1, 2).reshape({B, C, H, W});
}

}  // namespace diffuse::nn
