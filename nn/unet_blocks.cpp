#include "nn/unet_blocks.hpp"

#include <algorithm>

#include "tensor/ops.hpp"
#include "tensor/resample.hpp"

namespace diffuse::nn {

ResBlock::ResBlock(int64_t in, int64_t out, int64_t temb_channels, int64_t groups, double dropout, Philox& rng) {
  norm1 = register_module("norm1", std::make_shared<GroupNorm>(groups, in, kGroupNormEps));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, 1, 1, Init::VarianceScaling, rng));
  if (temb_channels > 0)
    temb_proj = register_module("temb_proj", std::make_shared<Linear>(temb_channels, out, Init::VarianceScaling, rng));
  norm2 = register_module("norm2", std::make_shared<GroupNorm>(groups, out, kGroupNormEps));
  drop = register_module("drop", std::make_shared<Dropout>(dropout));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, Init::Zero, rng));
  if (in != out)
    nin_shortcut = register_module("nin_shortcut", std::make_shared<Conv2d>(in, out, 1, 1, 0, Init::VarianceScaling, rng));
}

Tensor ResBlock::forward(const Tensor& x, const Tensor& temb_silu, Philox& rng) const {
  // The time embedding [B, out] -> [B, out, 1, 1] and the shortcut are added as the convolutions write (conv2d_add).
  const Tensor temb = temb_proj ? temb_proj->forward(temb_silu).unsqueeze(-1).unsqueeze(-1) : Tensor();
  const Tensor h = conv1->forward(norm1->forward_silu(x), temb);
  return conv2->forward(drop->forward(norm2->forward_silu(h), rng), nin_shortcut ? nin_shortcut->forward(x) : x);
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

TimeEmbedding::TimeEmbedding(int64_t ch, Philox& rng) : ch(ch) {
  dense = register_module("dense", std::make_shared<ModuleList<Linear>>());
  dense->push_back(std::make_shared<Linear>(ch, 4 * ch, Init::VarianceScaling, rng));
  dense->push_back(std::make_shared<Linear>(4 * ch, 4 * ch, Init::VarianceScaling, rng));
}

Tensor TimeEmbedding::forward(const Tensor& step) const {
  return (*dense)[1]->forward(silu((*dense)[0]->forward(timestep_embedding(step, ch))));
}

UNetLevel::UNetLevel() {
  block = register_module("block", std::make_shared<ModuleList<ResBlock>>());
  attn = register_module("attn", std::make_shared<ModuleList<SpatialSelfAttention>>());
}

UNetMiddle::UNetMiddle(int64_t channels, int64_t temb_channels, int64_t groups, double dropout, Philox& rng) {
  block_1 = register_module("block_1", std::make_shared<ResBlock>(channels, channels, temb_channels, groups, dropout, rng));
  attn_1 = register_module("attn_1", std::make_shared<SpatialSelfAttention>(channels, groups, rng));
  block_2 = register_module("block_2", std::make_shared<ResBlock>(channels, channels, temb_channels, groups, dropout, rng));
}

std::vector<int64_t> build_down_path(ModuleList<UNetLevel>& down, const DownPathShape& s, int64_t temb_channels, Philox& rng) {
  auto has_attn = [&](int64_t res) { return std::find(s.attn_resolutions.begin(), s.attn_resolutions.end(), res) != s.attn_resolutions.end(); };
  const int64_t levels = static_cast<int64_t>(s.ch_mult.size());
  std::vector<int64_t> kept = {s.ch};
  int64_t channels = s.ch, res = s.resolution;
  for (int64_t i = 0; i < levels; ++i) {
    auto level = down.push_back(std::make_shared<UNetLevel>());
    const int64_t out = s.ch * s.ch_mult[i];
    for (int64_t b = 0; b < s.num_res_blocks; ++b) {
      level->block->push_back(std::make_shared<ResBlock>(channels, out, temb_channels, s.groups, s.dropout, rng));
      channels = out;
      if (has_attn(res)) level->attn->push_back(std::make_shared<SpatialSelfAttention>(channels, s.groups, rng));
      kept.push_back(channels);
    }
    if (i != levels - 1) {
      level->add_down(std::make_shared<Downsample>(channels, rng));
      kept.push_back(channels);
      res /= 2;
    }
  }
  return kept;
}

Tensor down_path_and_middle(const ModuleList<UNetLevel>& down, const UNetMiddle& mid, int64_t num_res_blocks, const Tensor& h0,
                            const Tensor& temb_silu, Philox& rng, std::vector<Tensor>* skips) {
  Tensor h = h0;
  if (skips) skips->push_back(h);
  for (const auto& level : down) {
    for (int64_t b = 0; b < num_res_blocks; ++b) {
      h = (*level->block)[b]->forward(h, temb_silu, rng);
      if (level->attn->size() > 0) h = (*level->attn)[b]->forward(h);
      if (skips) skips->push_back(h);
    }
    if (level->downsample) {
      h = level->downsample->forward(h);
      if (skips) skips->push_back(h);
    }
  }
  h = mid.block_1->forward(h, temb_silu, rng);
  h = mid.attn_1->forward(h);
  return mid.block_2->forward(h, temb_silu, rng);
}

}  // namespace diffuse::nn
