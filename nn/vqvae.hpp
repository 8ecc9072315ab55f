// The VQ-VAE (van den Oord, Vinyals, Kavukcuoglu 2017, "Neural Discrete Representation Learning"; docs/math.md §12):
// a convolutional encoder that downsamples by 4 (32x32 -> 8x8, 28x28 -> 7x7), a codebook of K codes of dimension
// d, and the mirror decoder. Quantisation, its losses, the EMA codebook and dead-code restart are in
// nn/vector_quantizer.hpp; this file is the network.
//
//   encoder  x [B, C, R, R] -> conv 4x4 s2 (C -> h/2), ReLU, conv 4x4 s2 (h/2 -> h), ReLU, conv 3x3 (h -> h),
//            residual stack, ReLU, conv 1x1 (h -> d)                                  -> z_e [B, d, R/4, R/4]
//   decoder  z_q [B, d, R/4, R/4] -> conv 3x3 (d -> h), residual stack, ReLU, nearest 2x, conv 3x3 (h -> h/2),
//            ReLU, nearest 2x, conv 3x3 (h/2 -> C)                                     -> x_hat [B, C, R, R]
//   residual stack: `res_blocks` times h += conv 1x1 (rh -> h) (ReLU (conv 3x3 (h -> rh) (ReLU h)))
//
// This is the paper's §4.1 network (two stride-2 4x4 convolutions, two 3x3 residual blocks, 256 channels) with
// one change: the decoder upsamples by nearest neighbour and a 3x3 convolution where the paper has transposed
// convolutions (the engine has none; the nearest-2x op and its adjoint are tensor/resample.hpp).
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>

#include "nn/layers.hpp"
#include "nn/module.hpp"
#include "tensor/random.hpp"

namespace diffuse::nn {

struct VqVaeConfig {
  int64_t in_channels = 3;
  int64_t resolution = 32;   // R: a multiple of 4 (28 and 32)
  int64_t hidden = 128;      // h: the channels at R/4 (h/2 at R/2)
  int64_t res_hidden = 32;   // rh: the residual blocks' inner channels
  int64_t res_blocks = 2;
  int64_t codebook_size = 512;  // K
  int64_t code_dim = 64;        // d
  int64_t grid() const { return resolution / 4; }
  // From a configuration's "model" section (throws naming a missing or mistyped model.* key), validated.
  static VqVaeConfig from_json(const nlohmann::json& model);
  // Throws std::invalid_argument naming the model.* key of a bad value.
  void validate() const;
};

// One residual block of the stack: h + conv1x1(relu(conv3x3(relu(h)))).
class VqResBlock : public Module {
 public:
  VqResBlock(int64_t channels, int64_t inner, Philox& rng);
  Tensor forward(const Tensor& h) const;  // [B, h, g, g] -> [B, h, g, g]
  std::shared_ptr<Conv2d> conv1, conv2;
};

class VqVae : public Module {
 public:
  VqVae(const VqVaeConfig& config, Philox& rng);
  const VqVaeConfig& config() const { return config_; }

  Tensor encode(const Tensor& x) const;    // x [B, C, R, R] -> z_e [B, d, R/4, R/4]
  Tensor decode(const Tensor& z_q) const;  // z_q [B, d, R/4, R/4] -> x_hat [B, C, R, R]
  // The codes' vectors as the decoder's input: codes int32 [B, g, g] in 0..K-1 -> [B, d, g, g] (the codebook's
  // rows, through the embedding op: differentiable in the codebook).
  Tensor code_vectors(const Tensor& codes) const;
  Tensor decode_codes(const Tensor& codes) const { return decode(code_vectors(codes)); }  // -> [B, C, R, R]

  Tensor codebook;  // [K, d], initialised uniform on [-1/K, 1/K] (the common VQ-VAE initialisation)

 private:
  Tensor stack(const ModuleList<VqResBlock>& blocks, const Tensor& h) const;
  VqVaeConfig config_;
  std::shared_ptr<Conv2d> enc_conv1, enc_conv2, enc_conv3, enc_out, dec_in, dec_up1, dec_out;
  std::shared_ptr<ModuleList<VqResBlock>> enc_res, dec_res;
};

}  // namespace diffuse::nn
