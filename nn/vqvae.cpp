// The VQ-VAE's encoder and decoder (nn/vqvae.hpp; van den Oord et al. 2017 §4.1).
#include "nn/vqvae.hpp"

#include <stdexcept>
#include <string>

#include "nn/json_field.hpp"
#include "tensor/ops.hpp"
#include "tensor/resample.hpp"

namespace diffuse::nn {

void VqVaeConfig::validate() const {
  auto positive = [](int64_t v, const char* key) {
    if (v < 1) throw std::invalid_argument(std::string("model.") + key + ": must be at least 1, got " + std::to_string(v));
  };
  positive(in_channels, "in_channels");
  positive(res_hidden, "res_hidden");
  positive(code_dim, "code_dim");
  if (res_blocks < 0) throw std::invalid_argument("model.res_blocks: must be at least 0, got " + std::to_string(res_blocks));
  if (resolution < 4 || resolution % 4 != 0)
    throw std::invalid_argument("model.resolution: the encoder downsamples by 4, so a multiple of 4 (28, 32), got " +
                                std::to_string(resolution));
  if (hidden < 2 || hidden % 2 != 0) throw std::invalid_argument("model.hidden: an even number >= 2 (h/2 channels at R/2), got " + std::to_string(hidden));
  if (codebook_size < 2 || codebook_size > 65536)
    throw std::invalid_argument("model.codebook_size: 2..65536 (token files store codes as 16 bits), got " + std::to_string(codebook_size));
}

VqVaeConfig VqVaeConfig::from_json(const nlohmann::json& j) {
  VqVaeConfig c;
  json_field(j, "in_channels", c.in_channels);
  json_field(j, "resolution", c.resolution);
  json_field(j, "hidden", c.hidden);
  json_field(j, "res_hidden", c.res_hidden);
  json_field(j, "res_blocks", c.res_blocks);
  json_field(j, "codebook_size", c.codebook_size);
  json_field(j, "code_dim", c.code_dim);
  c.validate();
  return c;
}

VqResBlock::VqResBlock(int64_t channels, int64_t inner, Philox& rng) {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(channels, inner, 3, 1, 1, Init::VarianceScaling, rng));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(inner, channels, 1, 1, 0, Init::VarianceScaling, rng));
}

// [B, h, g, g] -> [B, h, g, g]
Tensor VqResBlock::forward(const Tensor& h) const { return h + conv2->forward(relu(conv1->forward(relu(h)))); }

VqVae::VqVae(const VqVaeConfig& config, Philox& rng) : config_(config) {
  config_.validate();
  const int64_t C = config.in_channels, h = config.hidden, d = config.code_dim, K = config.codebook_size;
  const Init init = Init::VarianceScaling;
  enc_conv1 = register_module("enc_conv1", std::make_shared<Conv2d>(C, h / 2, 4, 2, 1, init, rng));
  enc_conv2 = register_module("enc_conv2", std::make_shared<Conv2d>(h / 2, h, 4, 2, 1, init, rng));
  enc_conv3 = register_module("enc_conv3", std::make_shared<Conv2d>(h, h, 3, 1, 1, init, rng));
  enc_res = register_module("enc_res", std::make_shared<ModuleList<VqResBlock>>());
  for (int64_t i = 0; i < config.res_blocks; ++i) enc_res->push_back(std::make_shared<VqResBlock>(h, config.res_hidden, rng));
  enc_out = register_module("enc_out", std::make_shared<Conv2d>(h, d, 1, 1, 0, init, rng));
  // The codebook: uniform on [-1/K, 1/K].
  Tensor e = rand_uniform({K, d}, rng);
  float* p = e.data<float>();
  for (int64_t i = 0; i < K * d; ++i) p[i] = static_cast<float>((2.0 * p[i] - 1.0) / static_cast<double>(K));
  codebook = register_parameter("codebook", e);
  dec_in = register_module("dec_in", std::make_shared<Conv2d>(d, h, 3, 1, 1, init, rng));
  dec_res = register_module("dec_res", std::make_shared<ModuleList<VqResBlock>>());
  for (int64_t i = 0; i < config.res_blocks; ++i) dec_res->push_back(std::make_shared<VqResBlock>(h, config.res_hidden, rng));
  dec_up1 = register_module("dec_up1", std::make_shared<Conv2d>(h, h / 2, 3, 1, 1, init, rng));
  dec_out = register_module("dec_out", std::make_shared<Conv2d>(h / 2, C, 3, 1, 1, init, rng));
}

Tensor VqVae::stack(const ModuleList<VqResBlock>& blocks, const Tensor& h) const {
  Tensor y = h;
  for (const auto& b : blocks) y = b->forward(y);
  return relu(y);
}

// x [B, C, R, R] -> [B, h/2, R/2, R/2] -> [B, h, R/4, R/4] -> z_e [B, d, R/4, R/4]
Tensor VqVae::encode(const Tensor& x) const {
  if (x.dim() != 4 || x.size(1) != config_.in_channels || x.size(2) != config_.resolution || x.size(3) != config_.resolution)
    throw std::invalid_argument("VqVae::encode: images [B, " + std::to_string(config_.in_channels) + ", " +
                                std::to_string(config_.resolution) + ", " + std::to_string(config_.resolution) + "] expected, got " +
                                to_string(x.shape()));
  const Tensor h = enc_conv3->forward(relu(enc_conv2->forward(relu(enc_conv1->forward(x)))));
  return enc_out->forward(stack(*enc_res, h));
}

// z_q [B, d, g, g] -> [B, h, g, g] -> [B, h/2, 2g, 2g] -> x_hat [B, C, 4g, 4g]
Tensor VqVae::decode(const Tensor& z_q) const {
  const Tensor h = stack(*dec_res, dec_in->forward(z_q));
  return dec_out->forward(upsample_nearest2x(relu(dec_up1->forward(upsample_nearest2x(h)))));
}

// codes int32 [B, g, g] -> embedding [B, g, g, d] -> [B, d, g, g]
Tensor VqVae::code_vectors(const Tensor& codes) const { return embedding(codebook, codes).permute({0, 3, 1, 2}).contiguous(); }

}  // namespace diffuse::nn
