// The DDPM U-Net's building blocks (Ho et al. 2020, reference code `diffusion_tf/models/unet.py`).
#pragma once
#include <vector>

#include "nn/attention.hpp"

namespace diffuse::nn {

// x [B, in, H, W], temb [B, T] -> [B, out, H, W]:
//   h = conv1(SiLU(GN(x)));  h += temb_proj(SiLU(temb))[:, :, None, None]
//   h = conv2(dropout(SiLU(GN(h))));  return shortcut(x) + h
// shortcut is a 1x1 conv (nin_shortcut) when in != out. conv2 starts at zero (the reference's 1e-10
// variance scaling); the others use fan-avg uniform variance scaling. GroupNorm eps kGroupNormEps (1e-6).
// A pre-activation residual block (He et al. 2016, "Identity Mappings in Deep Residual Networks", Fig. 4e)
// with GroupNorm; temb_channels = 0 gives one without a time input (no temb_proj): the clean classifier's.
class ResBlock : public Module {
 public:
  ResBlock(int64_t in, int64_t out, int64_t temb_channels, int64_t groups, double dropout, Philox& rng);
  // temb_silu = SiLU(temb) [B, temb_channels], undefined when temb_channels = 0.
  Tensor forward(const Tensor& x, const Tensor& temb_silu, Philox& rng) const;
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

// temb = dense.1(SiLU(dense.0(sinusoidal(step, ch))))   [B, 4 ch]   (the reference's "temb" block)
struct TimeEmbedding : Module {
  TimeEmbedding(int64_t ch, Philox& rng);
  Tensor forward(const Tensor& step) const;  // step int32 [B], 0-based
  int64_t ch;
  std::shared_ptr<ModuleList<Linear>> dense;
};

// A resolution level of the U-Net: its ResBlocks, their attention (at attn_resolutions), and the stride-2 conv
// after it (down path) or the upsampling before the next (up path).
struct UNetLevel : Module {
  UNetLevel();
  void add_down(std::shared_ptr<Downsample> d) { downsample = register_module("downsample", std::move(d)); }
  void add_up(std::shared_ptr<Upsample> u) { upsample = register_module("upsample", std::move(u)); }
  std::shared_ptr<ModuleList<ResBlock>> block;
  std::shared_ptr<ModuleList<SpatialSelfAttention>> attn;
  std::shared_ptr<Downsample> downsample;
  std::shared_ptr<Upsample> upsample;
};

// The middle: ResBlock, attention, ResBlock at the lowest resolution.
struct UNetMiddle : Module {
  UNetMiddle(int64_t channels, int64_t temb_channels, int64_t groups, double dropout, Philox& rng);
  std::shared_ptr<ResBlock> block_1, block_2;
  std::shared_ptr<SpatialSelfAttention> attn_1;
};

// What the U-Net (nn/unet.hpp) and its encoder half (nn/unet_encoder.hpp) share: the down path and the middle.
// The shape of the down path: level i has num_res_blocks ResBlocks of ch * ch_mult[i] channels, attention where
// the level's resolution is in attn_resolutions, and a stride-2 conv after every level but the last.
struct DownPathShape {
  int64_t ch, num_res_blocks, resolution, groups;
  std::vector<int64_t> ch_mult, attn_resolutions;
  double dropout;
};
// Builds the levels into `down` (temb_channels 0: ResBlocks without a time input); returns the channels of every
// activation the down path keeps (conv_in's first, the last is what enters the middle): the U-Net's skips.
std::vector<int64_t> build_down_path(ModuleList<UNetLevel>& down, const DownPathShape& shape, int64_t temb_channels, Philox& rng);
// h = conv_in(x) [B, ch, R, R] through the down path and the middle -> [B, ch * ch_mult.back(), R / 2^(L-1), ...].
// Every down-path activation is appended to `skips` when it is given (the U-Net's up path takes them).
Tensor down_path_and_middle(const ModuleList<UNetLevel>& down, const UNetMiddle& mid, int64_t num_res_blocks, const Tensor& h,
                            const Tensor& temb_silu, Philox& rng, std::vector<Tensor>* skips);

}  // namespace diffuse::nn
