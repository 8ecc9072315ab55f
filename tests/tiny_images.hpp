// A tiny U-Net and 64 tiny images shared by the end-to-end image tests (DDPM and D3PM).
#pragma once
#include <algorithm>
#include <cmath>

#include "nn/unet.hpp"
#include "tensor/random.hpp"

namespace diffuse::testing {

// 8x8 images, ch 16, (1, 2), one res block, attention at 4, GroupNorm 4, no dropout.
inline nn::UNetConfig tiny_unet() {
  nn::UNetConfig c;
  c.resolution = 8;
  c.ch = 16;
  c.ch_mult = {1, 2};
  c.num_res_blocks = 1;
  c.attn_resolutions = {4};
  c.groups = 4;
  c.dropout = 0.0;
  return c;
}

// 64 smooth 3x8x8 images on the 256-level grid: colour gradients with random directions and offsets.
inline Tensor tiny_images(Philox& rng) {
  Tensor x = Tensor::empty({64, 3, 8, 8});
  for (int64_t n = 0; n < 64; ++n) {
    const double a = rng.uniform() * 2 - 1, b = rng.uniform() * 2 - 1;
    for (int64_t c = 0; c < 3; ++c) {
      const double o = rng.uniform() - 0.5;
      for (int64_t i = 0; i < 8; ++i)
        for (int64_t j = 0; j < 8; ++j) {
          const double v = std::clamp(o + 0.1 * (a * i + b * j), -1.0, 1.0);
          x.data<float>()[((n * 3 + c) * 8 + i) * 8 + j] = static_cast<float>(std::round((v + 1) * 127.5) / 127.5 - 1);
        }
    }
  }
  return x;
}

}  // namespace diffuse::testing
