#include "nn/unet_encoder.hpp"

#include "nn/json_field.hpp"
#include "tensor/ops.hpp"

namespace diffuse::nn {

namespace {
// The U-Net whose encoder half this is: the rules of its shared fields are the U-Net's.
UNetConfig as_unet(const UNetEncoderConfig& e) {
  UNetConfig c;
  c.in_channels = c.out_channels = e.in_channels;
  c.resolution = e.resolution;
  c.ch = e.ch;
  c.ch_mult = e.ch_mult;
  c.num_res_blocks = e.num_res_blocks;
  c.attn_resolutions = e.attn_resolutions;
  c.dropout = e.dropout;
  c.groups = e.groups;
  return c;
}
}  // namespace

nlohmann::json UNetEncoderConfig::to_json() const {
  return {{"in_channels", in_channels}, {"resolution", resolution}, {"ch", ch}, {"ch_mult", ch_mult},
          {"num_res_blocks", num_res_blocks}, {"attn_resolutions", attn_resolutions}, {"dropout", dropout},
          {"groups", groups}, {"classes", classes}, {"time_embedding", time_embedding}};
}

UNetEncoderConfig UNetEncoderConfig::from_json(const nlohmann::json& j) {
  UNetEncoderConfig c;
  json_field(j, "in_channels", c.in_channels);
  json_field(j, "resolution", c.resolution);
  json_field(j, "ch", c.ch);
  json_field(j, "ch_mult", c.ch_mult);
  json_field(j, "num_res_blocks", c.num_res_blocks);
  json_field(j, "attn_resolutions", c.attn_resolutions);
  json_field(j, "dropout", c.dropout);
  json_field(j, "groups", c.groups);
  json_field(j, "classes", c.classes);
  json_field(j, "time_embedding", c.time_embedding);
  c.validate();
  return c;
}

void UNetEncoderConfig::validate() const {
  as_unet(*this).validate();
  if (classes < 2) throw std::invalid_argument("model.classes must be at least 2, got " + std::to_string(classes));
}

UNetEncoder::UNetEncoder(const UNetEncoderConfig& config, Philox& rng) : config_(config) {
  config_.validate();
  const UNetEncoderConfig& c = config_;
  const int64_t temb = c.time_embedding ? 4 * c.ch : 0;
  // Registration order fixes the parameter order: temb, conv_in, down, mid, norm_out, head.
  if (c.time_embedding) temb_ = register_module("temb", std::make_shared<TimeEmbedding>(c.ch, rng));
  conv_in_ = register_module("conv_in", std::make_shared<Conv2d>(c.in_channels, c.ch, 3, 1, 1, Init::VarianceScaling, rng));
  down_ = register_module("down", std::make_shared<ModuleList<UNetLevel>>());
  const int64_t channels = build_down_path(*down_, as_unet(c).down_path(), temb, rng).back();
  mid_ = register_module("mid", std::make_shared<UNetMiddle>(channels, temb, c.groups, c.dropout, rng));
  norm_out_ = register_module("norm_out", std::make_shared<GroupNorm>(c.groups, channels, kGroupNormEps));
  head_ = register_module("head", std::make_shared<Linear>(channels, c.classes, Init::VarianceScaling, rng));
}

Tensor UNetEncoder::features(const Tensor& x, const Tensor& step, Philox& rng) const {
  const UNetEncoderConfig& c = config_;
  if (x.dim() != 4 || x.size(1) != c.in_channels || x.size(2) != c.resolution || x.size(3) != c.resolution)
    shape_error("unet_encoder", "expected x [B, " + std::to_string(c.in_channels) + ", " + std::to_string(c.resolution) + ", " +
                                    std::to_string(c.resolution) + "], got " + describe(x));
  if (c.time_embedding != step.defined() ||
      (step.defined() && (step.dtype() != DType::I32 || step.dim() != 1 || step.size(0) != x.size(0))))
    shape_error("unet_encoder", c.time_embedding ? "a noise-aware classifier needs int32 step [B] (t - 1), got " + describe(step)
                                                 : "a clean classifier takes no step");
  const Tensor temb_silu = temb_ ? silu(temb_->forward(step)) : Tensor();
  const Tensor h = down_path_and_middle(*down_, *mid_, c.num_res_blocks, conv_in_->forward(x), temb_silu, rng, nullptr);
  return mean(norm_out_->forward_silu(h), {2, 3});  // global average pooling: [B, C, R', R'] -> [B, C]
}

Tensor UNetEncoder::forward(const Tensor& x, const Tensor& step, Philox& rng) const { return head(features(x, step, rng)); }

}  // namespace diffuse::nn
