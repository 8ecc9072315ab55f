// The VQ-VAE of the `vqvae` family (apps/vqvae_model.hpp).
#include "apps/vqvae_model.hpp"

#include <stdexcept>

#include "apps/command_options.hpp"
#include "nn/checkpoint.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

using json = nlohmann::json;

VqSettings VqSettings::from_json(const json& vq) {
  VqSettings s;
  auto number = [&](const char* key, double& dst) {
    if (!vq.contains(key) || !vq.at(key).is_number()) throw std::invalid_argument(std::string("vq.") + key + ": a number is required");
    dst = vq.at(key).get<double>();
  };
  number("beta", s.beta);
  number("ema_decay", s.ema_decay);
  number("ema_epsilon", s.ema_epsilon);
  const std::string codebook = vq.value("codebook", std::string());
  if (codebook != "ema" && codebook != "gradient") throw std::invalid_argument("vq.codebook: 'ema' or 'gradient', got '" + codebook + "'");
  s.ema = codebook == "ema";
  if (!vq.contains("restart_after") || !vq.at("restart_after").is_number_integer() || vq.at("restart_after").get<int64_t>() < 0)
    throw std::invalid_argument("vq.restart_after: a whole number of steps >= 0 (0: no restarts)");
  s.restart_after = vq.at("restart_after").get<int64_t>();
  if (!(s.beta >= 0)) throw std::invalid_argument("vq.beta: must be >= 0, got " + std::to_string(s.beta));
  if (!(s.ema_decay > 0 && s.ema_decay < 1)) throw std::invalid_argument("vq.ema_decay: in (0, 1), got " + std::to_string(s.ema_decay));
  if (!(s.ema_epsilon > 0)) throw std::invalid_argument("vq.ema_epsilon: must be positive, got " + std::to_string(s.ema_epsilon));
  return s;
}

VqVaeModel::VqVaeModel(const json& config, uint64_t seed)
    : config(config),
      vq(VqSettings::from_json(config.at("vq"))),
      init_rng(seed, kInit),
      net(nn::VqVaeConfig::from_json(config.at("model")), init_rng),
      arena(net) {}

std::string VqVaeModel::image_shape() const {
  const nn::VqVaeConfig& c = net.config();
  return std::to_string(c.resolution) + "x" + std::to_string(c.resolution) + "x" + std::to_string(c.in_channels);
}

void VqVaeModel::require_images(int64_t height, int64_t width, int64_t channels, const std::string& what, const std::string& path) const {
  const nn::VqVaeConfig& c = net.config();
  if (height == c.resolution && width == c.resolution && channels == c.in_channels) return;
  throw std::invalid_argument(what + " holds " + std::to_string(height) + "x" + std::to_string(width) + "x" + std::to_string(channels) +
                              " images, but " + path + " encodes " + image_shape() + " images");
}

// Eq. 3 with the MSE as -log p(x | z_q) (up to constants): x [B, C, R, R] -> [].
VqVaeLoss vqvae_loss(const VqVaeModel& m, const Tensor& x) {
  VqVaeLoss out;
  out.quantized = nn::quantize(m.net.encode(x), m.net.codebook);
  const Tensor mse = mean(square(m.net.decode(out.quantized.z_q) - x));
  out.loss = mse + out.quantized.commitment_loss * m.vq.beta;
  if (!m.vq.ema) out.loss = out.loss + out.quantized.codebook_loss;
  out.mse = mse.item();
  out.codebook = out.quantized.codebook_loss.item();
  out.commitment = out.quantized.commitment_loss.item();
  return out;
}

Reconstruction reconstruct(const VqVaeModel& m, const Tensor& x) {
  NoGradGuard no_grad;
  const Tensor z_e = m.net.encode(x);
  Reconstruction r;
  r.codes = nn::nearest_codes(nn::code_rows(z_e), m.net.codebook).reshape({z_e.size(0), z_e.size(2), z_e.size(3)});
  r.x_hat = m.net.decode_codes(r.codes);
  return r;
}

std::string vqvae_hash(const VqVaeModel& m) { return nn::weights_hash(m.arena.values()); }

}  // namespace diffuse
