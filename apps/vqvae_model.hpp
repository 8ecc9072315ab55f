// The VQ-VAE of the `vqvae` family (nn/vqvae.hpp, nn/vector_quantizer.hpp; docs/math.md §12): the network rebuilt
// from a configuration, its training loss, reconstructions and codes without a tape, and the hash of its weights
// that token-grid files name it by (data/token_grids.hpp).
//
// The configuration: "model" (nn::VqVaeConfig: in_channels, resolution, hidden, res_hidden, res_blocks,
// codebook_size, code_dim) and "vq":
//   beta            the commitment weight of eq. 3 (0.25)
//   codebook        "ema" (Appendix A.1: the codebook follows the EMA of its encoder outputs and takes no gradient)
//                   or "gradient" (the codebook loss ||sg[z_e] - e||^2 trains it through Adam)
//   ema_decay       gamma (0.99); ema_epsilon: Laplace smoothing's eps (1e-5)
//   restart_after   restart a code unused this many steps from the batch's encoder outputs (0: never)
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/arena.hpp"
#include "nn/vector_quantizer.hpp"
#include "nn/vqvae.hpp"
#include "tensor/random.hpp"

namespace diffuse {

struct VqSettings {
  double beta = nn::kCommitmentBeta;
  bool ema = true;
  double ema_decay = 0.99, ema_epsilon = 1e-5;
  int64_t restart_after = 0;
  // From config["vq"]; throws naming the vq.* key.
  static VqSettings from_json(const nlohmann::json& vq);
};

struct VqVaeModel {
  VqVaeModel(const nlohmann::json& config, uint64_t seed);
  nlohmann::json config;
  VqSettings vq;
  Philox init_rng;
  nn::VqVae net;
  nn::ParameterArena arena;

  int64_t grid() const { return net.config().grid(); }
  int64_t codebook_size() const { return net.config().codebook_size; }
  std::string image_shape() const;  // "28x28x1"
  // Throws std::invalid_argument unless images are this model's: "<what> holds AxBxC images, but <path> encodes ...".
  void require_images(int64_t height, int64_t width, int64_t channels, const std::string& what, const std::string& path) const;
};

// One batch's training loss, on the tape: MSE(x_hat, x) + codebook_loss (gradient codebook only) + beta commitment.
struct VqVaeLoss {
  Tensor loss;            // []
  double mse = 0, codebook = 0, commitment = 0;
  nn::Quantized quantized;
};
VqVaeLoss vqvae_loss(const VqVaeModel& m, const Tensor& x);

// Without a tape: images x [B, C, R, R] -> codes int32 [B, g, g] (eq. 1) and x_hat = decode(e_codes) [B, C, R, R].
// The reconstruction is decode_codes(codes) by construction, so decoding a token file gives it back exactly.
struct Reconstruction {
  Tensor codes, x_hat;
};
Reconstruction reconstruct(const VqVaeModel& m, const Tensor& x);

// FNV-1a (64 bits, hexadecimal) of every weight the model holds now (the EMA's when it was loaded with them): the
// identity token files name their VQ-VAE by.
std::string vqvae_hash(const VqVaeModel& m);

}  // namespace diffuse
