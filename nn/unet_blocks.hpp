// The DDPM U-Net's building blocks (Ho et al. 2020, reference code `diffusion_tf/models/unet.py`).
#pragma once
#include "nn/attention.hpp"

namespace diffuse::nn {

// x [B, in, H, W], temb [B, T] -> [B, out, H, W]:
//   h = conv1(SiLU(GN(x)));  h += temb_proj(SiLU(temb))[:, :, None, None]
//   h = conv2(dropout(SiLU(GN(h))));  return shortcut(x) + h
// shortcut is a 1x1 conv (nin_shortcut) when in != out. conv2 starts at zero (the reference's 1e-10
// variance scaling); the others use fan-avg uniform variance scaling. GroupNorm eps kGroupNormEps (1e-6).
class ResBlock : public Module {
 public:
  ResBlock(int64_t in, int64_t out, int64_t temb_channels, int64_t groups, double dropout, Philox& rng);
  Tensor forward(const Tensor& x, const Tensor& temb_silu, Philox& rng) const;  // temb_silu = SiLU(temb)
  std::shared_ptr<GroupNorm> norm1, norm2;
  std::shared_ptr<Conv2d> conv1, conv2, nin_shortcut;
  std::shared_ptr<Linear> temb_proj;
  std::shared_ptr<Dropout> drop;
};

// Stride-2 3x3 conv: [B, C, H, W] -> [B, C, H/2, W/2]. Symmetric padding 1 (the reference's TF 'SAME'
// pads only bottom/right; both give the same size, the taps differ by one pixel's offset).
inline constexpr int64_t kDownsampleKernel = 3, kDownsampleStride = 2, kDownsamplePadding = 1;  // padding on every side
class Downsample : public Module {
 public:
  Downsample(int64_t channels, Philox& rng);
  Tensor forward(const Tensor& x) const;
  std::shared_ptr<Conv2d> conv;
};

// Nearest 2x upsampling then a 3x3 conv: [B, C, H, W] -> [B, C, 2H, 2W].
class Upsample : public Module {
 public:
  Upsample(int64_t channels, Philox& rng);
  Tensor forward(const Tensor& x) const;
  std::shared_ptr<Conv2d> conv;
};

}  // namespace diffuse::nn
