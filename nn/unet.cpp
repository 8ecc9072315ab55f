#include "nn/unet.hpp"

#include <algorithm>

#include "nn/json_field.hpp"
#include "tensor/ops.hpp"

namespace diffuse::nn {

// ---- configuration -------------------------------------------------------------------------------

nlohmann::json UNetConfig::to_json() const {
  return {{"in_channels", in_channels}, {"out_channels", out_channels}, {"resolution", resolution},
          {"ch", ch}, {"ch_mult", ch_mult}, {"num_res_blocks", num_res_blocks},
          {"attn_resolutions", attn_resolutions}, {"dropout", dropout}, {"groups", groups}, {"num_classes", num_classes}};
}

UNetConfig UNetConfig::from_json(const nlohmann::json& j) {
  UNetConfig c;
  json_field(j, "in_channels", c.in_channels);
  json_field(j, "out_channels", c.out_channels);
  json_field(j, "resolution", c.resolution);
  json_field(j, "ch", c.ch);
  json_field(j, "ch_mult", c.ch_mult);
  json_field(j, "num_res_blocks", c.num_res_blocks);
  json_field(j, "attn_resolutions", c.attn_resolutions);
  json_field(j, "dropout", c.dropout);
  json_field(j, "groups", c.groups);
  if (j.contains("num_classes")) json_field(j, "num_classes", c.num_classes);  // absent: configurations before it
  c.validate();
  return c;
}

void UNetConfig::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("model." + what); };
  if (in_channels < 1) bad("in_channels must be positive");
  if (out_channels < 1) bad("out_channels must be positive");
  if (ch < 1) bad("ch must be positive");
  if (num_res_blocks < 1) bad("num_res_blocks must be positive");
  if (ch_mult.empty()) bad("ch_mult must list at least one level");
  if (dropout < 0 || dropout >= 1) bad("dropout must be in [0, 1)");
  if (groups < 1) bad("groups must be positive");
  if (num_classes < 0) bad("num_classes must be 0 (unconditional) or the number of classes");
  for (int64_t m : ch_mult)
    if (m < 1 || (ch * m) % groups != 0)
      bad("ch_mult: every level's channels (ch * mult) must be a positive multiple of groups (" + std::to_string(groups) + ")");
  if (ch % groups != 0) bad("ch must be a multiple of groups");
  const int64_t scale = int64_t{1} << (ch_mult.size() - 1);
  if (resolution < scale || resolution % scale != 0)
    bad("resolution " + std::to_string(resolution) + " must be divisible by 2^(levels - 1) = " + std::to_string(scale));
}

// ---- construction --------------------------------------------------------------------------------

DownPathShape UNetConfig::down_path() const {
  return {.ch = ch, .num_res_blocks = num_res_blocks, .resolution = resolution, .groups = groups, .ch_mult = ch_mult,
          .attn_resolutions = attn_resolutions, .dropout = dropout};
}

UNet::UNet(const UNetConfig& config, Philox& rng) : config_(config) {
  config_.validate();
  const UNetConfig& c = config_;
  const int64_t temb = 4 * c.ch, levels = static_cast<int64_t>(c.ch_mult.size());
  auto has_attn = [&](int64_t res) {
    return std::find(c.attn_resolutions.begin(), c.attn_resolutions.end(), res) != c.attn_resolutions.end();
  };
  // Registration order fixes the parameter order: temb, conv_in, down, mid, up, norm_out, conv_out.
  temb_ = register_module("temb", std::make_shared<TimeEmbedding>(c.ch, rng));
  if (c.num_classes > 0) class_emb_ = register_module("class_emb", std::make_shared<Embedding>(c.num_classes + 1, temb, 1.0, rng));
  conv_in_ = register_module("conv_in", std::make_shared<Conv2d>(c.in_channels, c.ch, 3, 1, 1, Init::VarianceScaling, rng));

  // Down path: the channels of every kept activation, for the skips.
  down_ = register_module("down", std::make_shared<ModuleList<UNetLevel>>());
  std::vector<int64_t> skip_channels = build_down_path(*down_, c.down_path(), temb, rng);
  int64_t channels = skip_channels.back(), res = c.resolution >> (levels - 1);
  mid_ = register_module("mid", std::make_shared<UNetMiddle>(channels, temb, c.groups, c.dropout, rng));

  // Up path, built from the deepest level up, but named by level (up.0 is the full resolution).
  std::vector<std::shared_ptr<UNetLevel>> up_levels(levels);
  for (int64_t i = levels - 1; i >= 0; --i) {
    auto level = std::make_shared<UNetLevel>();
    const int64_t out = c.ch * c.ch_mult[i];
    for (int64_t b = 0; b < c.num_res_blocks + 1; ++b) {
      const int64_t skip = skip_channels.back();
      skip_channels.pop_back();
      level->block->push_back(std::make_shared<ResBlock>(channels + skip, out, temb, c.groups, c.dropout, rng));
      channels = out;
      if (has_attn(res)) level->attn->push_back(std::make_shared<SpatialSelfAttention>(channels, c.groups, rng));
    }
    if (i != 0) {
      level->add_up(std::make_shared<Upsample>(channels, rng));
      res *= 2;
    }
    up_levels[i] = level;
  }
  up_ = register_module("up", std::make_shared<ModuleList<UNetLevel>>());
  for (auto& level : up_levels) up_->push_back(level);
  norm_out_ = register_module("norm_out", std::make_shared<GroupNorm>(c.groups, channels, kGroupNormEps));
  conv_out_ = register_module("conv_out", std::make_shared<Conv2d>(channels, c.out_channels, 3, 1, 1, Init::Zero, rng));
}

// ---- forward -------------------------------------------------------------------------------------

Tensor UNet::forward(const Tensor& x, const Tensor& step, Philox& rng, const Tensor& labels) const {
  const UNetConfig& c = config_;
  if (x.dim() != 4 || x.size(1) != c.in_channels || x.size(2) != c.resolution || x.size(3) != c.resolution ||
      step.dtype() != DType::I32 || step.dim() != 1 || step.size(0) != x.size(0))
    shape_error("unet", "expected x [B, " + std::to_string(c.in_channels) + ", " + std::to_string(c.resolution) + ", " +
                            std::to_string(c.resolution) + "] and int32 step [B], got " + describe(x) + " and " +
                            describe(step));
  if ((c.num_classes > 0) != labels.defined() ||
      (labels.defined() && (labels.dtype() != DType::I32 || labels.dim() != 1 || labels.size(0) != x.size(0))))
    shape_error("unet", c.num_classes > 0 ? "a class-conditional network needs int32 labels [B] in 0.." + std::to_string(c.num_classes) +
                                                " (" + std::to_string(c.num_classes) + ": no label), got " + describe(labels)
                                          : "an unconditional network takes no labels");
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  // Timestep embedding (plus the class's), then SiLU once: every ResBlock starts from SiLU(temb).
  Tensor temb = temb_->forward(step);
  if (class_emb_) temb = temb + class_emb_->forward(labels);
  const Tensor temb_silu = silu(temb);

  std::vector<Tensor> hs;
  Tensor h = down_path_and_middle(*down_, *mid_, c.num_res_blocks, conv_in_->forward(x), temb_silu, rng, &hs);
  for (int64_t i = levels - 1; i >= 0; --i) {
    const UNetLevel& level = *(*up_)[i];
    for (int64_t b = 0; b < c.num_res_blocks + 1; ++b) {
      h = (*level.block)[b]->forward(concat({h, hs.back()}, 1), temb_silu, rng);
      hs.pop_back();
      if (level.attn->size() > 0) h = (*level.attn)[b]->forward(h);
    }
    if (level.upsample) h = level.upsample->forward(h);
  }
  return conv_out_->forward(norm_out_->forward_silu(h));
}

}  // namespace diffuse::nn
