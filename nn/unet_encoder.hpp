// The U-Net's encoder half as an image classifier (Dhariwal & Nichol 2021, §4 and Appendix: "the downsampling
// trunk of the UNet model with an attention pool at the 8x8 layer"; here global average pooling, their
// "adaptive" pool of guided-diffusion's EncoderUNetModel):
//
//   temb = dense.1(SiLU(dense.0(sinusoidal(t - 1, ch))))                      [B, 4 ch]   (time_embedding only)
//   h = conv_in(x)                                                             [B, ch, R, R]
//   down, level i (channels ch * ch_mult[i]): num_res_blocks x (ResBlock, + attention at attn resolutions), a
//         stride-2 conv between levels                                         (nn/unet_blocks.hpp)
//   mid:  ResBlock, attention, ResBlock                                        [B, C, R', R'], C = ch * ch_mult.back()
//   features = mean over the R' x R' positions of SiLU(norm_out(h))            [B, C]   (the penultimate layer)
//   logits = head(features)                                                    [B, classes]
//
// With time_embedding it is the noise-aware classifier p_phi(c | x_t, t) of classifier guidance: every ResBlock
// adds temb_proj(SiLU(temb)) as the U-Net's do. Without, it reads clean images and no t, and is a small
// pre-activation ResNet with GroupNorm (He et al. 2016's identity-mapping block, unet_blocks.hpp) plus the
// middle's one attention block: the clean classifier whose penultimate features the sample-quality metrics use.
// GroupNorm, not BatchNorm: the output of an image does not depend on the rest of its batch, so training and
// evaluation compute the same function, nothing but the parameters goes into the checkpoint and the EMA, and the
// gradient with respect to one input image (guidance) is that image's alone.
//
// Parameter names are the U-Net's (`temb.dense.0.weight`, `down.1.block.0.conv1.weight`, `mid.attn_1.q.weight`,
// `norm_out.weight`) plus `head.weight` [classes, C] and `head.bias` [classes].
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

#include "nn/unet.hpp"
#include "nn/unet_blocks.hpp"

namespace diffuse::nn {

struct UNetEncoderConfig {
  int64_t in_channels = 3;
  int64_t resolution = 32;
  int64_t ch = 64;
  std::vector<int64_t> ch_mult = {1, 2, 2, 2};
  int64_t num_res_blocks = 2;
  std::vector<int64_t> attn_resolutions = {16};
  double dropout = 0.0;
  int64_t groups = 32;
  int64_t classes = 10;         // the head's outputs
  bool time_embedding = true;   // reads t (noise-aware) or not (clean)

  nlohmann::json to_json() const;
  static UNetEncoderConfig from_json(const nlohmann::json& j);  // throws naming the bad field
  void validate() const;  // the U-Net's rules for the shared fields, and classes >= 2; throws naming the bad field
  int64_t feature_dim() const { return ch * ch_mult.back(); }  // C, the penultimate layer's width
};

class UNetEncoder : public Module {
 public:
  UNetEncoder(const UNetEncoderConfig& config, Philox& rng);
  // x [B, in, R, R] float32, step int32 [B] (0-based t - 1; undefined without time_embedding) -> [B, C], the
  // pooled penultimate features. rng drives dropout in training mode.
  Tensor features(const Tensor& x, const Tensor& step, Philox& rng) const;
  // head(features(x, step)): [B, classes].
  Tensor forward(const Tensor& x, const Tensor& step, Philox& rng) const;
  Tensor head(const Tensor& features) const { return head_->forward(features); }
  const UNetEncoderConfig& config() const { return config_; }

 private:
  UNetEncoderConfig config_;
  std::shared_ptr<TimeEmbedding> temb_;  // time_embedding
  std::shared_ptr<Conv2d> conv_in_;
  std::shared_ptr<ModuleList<UNetLevel>> down_;
  std::shared_ptr<UNetMiddle> mid_;
  std::shared_ptr<GroupNorm> norm_out_;
  std::shared_ptr<Linear> head_;
};

}  // namespace diffuse::nn
