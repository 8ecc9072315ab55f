#include "nn/unet_blocks.hpp"

#include "tensor/ops.hpp"
#include "tensor/resample.hpp"

namespace diffuse::nn {

ResBlock::ResBlock(int64_t in, int64_t out, int64_t temb_channels, int64_t groups, double dropout, Philox& rng) {
  norm1 = register_module("norm1", std::make_shared<GroupNorm>(groups, in, kGroupNormEps));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, 1, 1, Init::VarianceScaling, rng));
  temb_proj = register_module("temb_proj", std::make_shared<Linear>(temb_channels, out, Init::VarianceScaling, rng));
  norm2 = register_module("norm2", std::make_shared<GroupNorm>(groups, out, kGroupNormEps));
  drop = register_module("drop", std::make_shared<Dropout>(dropout));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, Init::Zero, rng));
  if (in != out)
    nin_shortcut = register_module("nin_shortcut", std::make_shared<Conv2d>(in, out, 1, 1, 0, Init::VarianceScaling, rng));
}

Tensor ResBlock::forward(const Tensor& x, const Tensor& temb_silu, Philox& rng) const {
  Tensor h = conv1->forward(norm1->forward_silu(x));
  h = h + temb_proj->forward(temb_silu).unsqueeze(-1).unsqueeze(-1);  // [B, out] -> [B, out, 1, 1]
  h = conv2->forward(drop->forward(norm2->forward_silu(h), rng));
  return (nin_shortcut ? nin_shortcut->forward(x) : x) + h;
}

Downsample::Downsample(int64_t channels, Philox& rng) {
  conv = register_module("conv", std::make_shared<Conv2d>(channels, channels, kDownsampleKernel, kDownsampleStride,
                                                          kDownsamplePadding, Init::VarianceScaling, rng));
}

Tensor Downsample::forward(const Tensor& x) const { return conv->forward(x); }

Upsample::Upsample(int64_t channels, Philox& rng) {
  conv = register_module("conv", std::make_shared<Conv2d>(channels, channels, 3, 1, 1, Init::VarianceScaling, rng));
}

Tensor Upsample::forward(const Tensor& x) const { return conv->forward(upsample_nearest2x(x)); }

}  // namespace diffuse::nn
