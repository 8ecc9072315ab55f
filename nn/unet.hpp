// The DDPM U-Net (Ho et al. 2020, reference code `diffusion_tf/models/unet.py`, model `unet.model`).
//
//   temb = dense1(SiLU(dense0(sinusoidal(t, ch))))                      [B, 4 ch]
//   h = conv_in(x)                                                       [B, ch, R, R]
//   down, level i (channels ch * ch_mult[i]): num_res_blocks x (ResBlock, + attention at attn resolutions),
//         every output kept for a skip connection; a stride-2 conv between levels
//   mid:  ResBlock, attention, ResBlock
//   up,   level i from the last: (num_res_blocks + 1) x (concat a skip, ResBlock, + attention), then
//         nearest upsample + conv between levels
//   out = conv_out(SiLU(GroupNorm(h)))                                   [B, out_channels, R, R]
//
// Class-conditional (num_classes = K > 0; Ho & Salimans 2021, Dhariwal & Nichol 2021): a learned class
// embedding class_emb [K + 1, 4 ch] is added to temb before its SiLU, temb = dense1(...) + class_emb[c]; id K is
// the null class, the "no label" of classifier-free guidance's unconditional model.
//
// Parameter names follow the PyTorch ports of the reference (`down.1.block.0.conv1.weight`,
// `mid.attn_1.q.weight`, `up.3.upsample.conv.weight`, ...). With ch 128, ch_mult (1,2,2,2),
// 2 res blocks, attention at 16 and 3 -> 3 channels at 32x32 it has 35,746,307 parameters, as the
// reference.
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

#include "nn/unet_blocks.hpp"

namespace diffuse::nn {

struct UNetConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t resolution = 32;
  int64_t ch = 128;
  std::vector<int64_t> ch_mult = {1, 2, 2, 2};
  int64_t num_res_blocks = 2;
  std::vector<int64_t> attn_resolutions = {16};
  double dropout = 0.1;
  int64_t groups = 32;  // GroupNorm groups
  int64_t num_classes = 0;  // K > 0: class-conditional, with the null class K

  nlohmann::json to_json() const;
  static UNetConfig from_json(const nlohmann::json& j);  // throws naming the bad field
  void validate() const;                                 // throws naming the bad field
  DownPathShape down_path() const;                       // the down path's shape (unet_blocks.hpp)
};

class UNet : public Module {
 public:
  UNet(const UNetConfig& config, Philox& rng);
  // x [B, in, R, R] float32, step int32 [B] (0-based, i.e. paper t - 1) -> [B, out, R, R]; a class-conditional
  // network also takes labels int32 [B] in 0..K (K: the null class). rng drives dropout in training mode.
  Tensor forward(const Tensor& x, const Tensor& step, Philox& rng, const Tensor& labels = Tensor()) const;
  const UNetConfig& config() const { return config_; }

 private:
  UNetConfig config_;
  std::shared_ptr<TimeEmbedding> temb_;
  std::shared_ptr<Embedding> class_emb_;  // num_classes > 0
  std::shared_ptr<Conv2d> conv_in_, conv_out_;
  std::shared_ptr<ModuleList<UNetLevel>> down_, up_;
  std::shared_ptr<UNetMiddle> mid_;
  std::shared_ptr<GroupNorm> norm_out_;
};

}  // namespace diffuse::nn
