// conv2d as sampling runs it (no tape, weights frozen) on the 3x3 stride-1 and the 1x1 shapes of the
// ddpm-cifar10-small U-Net at batch 64 (`diffuse benchmark --workload unet-sample`), three ways, ms per call:
//   fp32          what float32 sampling runs: oneDNN's float32 Winograd for 3x3, its direct 1x1;
//   bf16 oneDNN   oneDNN's bf16 direct convolution with the reorders around it (bf16 sampling before
//                 tensor/winograd_bf16 and tensor/pointwise_bf16; here the weight is not frozen, so its
//                 small reorder is included);
//   bf16 ours     what bf16 sampling runs now: winograd_bf16's F(2x2, 3x3) on rows of 16 or more,
//                 pointwise_bf16 for 1x1 (oneDNN's direct where neither applies: the 8x8 3x3 rows).
// Needs a CPU with AVX512-BF16. Usage: bench_conv2d_sampling [--threads N] [--reps R]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/best_seconds.hpp"
#include "tensor/autograd.hpp"
#include "tensor/blas_kernels.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/frozen_weights.hpp"
#include "tensor/ops.hpp"
#include "tensor/precision.hpp"
#include "tensor/random.hpp"
#include "tensor/threads.hpp"

using namespace diffuse;

int main(int argc, char** argv) {
  diffuse::ensure_blas_environment(argv);
  int threads = hardware_threads(), reps = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::stoi(argv[i + 1]);
  }
  set_threads(threads);
  const PrecisionMode bf16 = resolve_precision(Precision::BF16, false);  // refuses without native bf16
  const int64_t N = 64;
  std::printf("conv2d without a tape, weights frozen: threads %d, batch %ld, stride 1, padding 1 (3x3) or 0 (1x1); best of %d\n",
              threads, static_cast<long>(N), reps);
  std::printf("%-18s %10s %12s %10s %10s %12s\n", "shape", "fp32 ms", "bf16 oneDNN", "bf16 ours", "vs fp32",
              "vs oneDNN");
  struct Shape3 {
    int64_t C, OC, S, K;
  };
  for (const Shape3 s : {Shape3{64, 64, 32, 3}, {128, 64, 32, 3}, {128, 128, 32, 3}, {192, 64, 32, 3},
                         {128, 128, 16, 3}, {256, 128, 16, 3}, {128, 128, 8, 3}, {256, 128, 8, 3}, {128, 64, 32, 1},
                         {192, 64, 32, 1}, {256, 128, 16, 1}, {256, 128, 8, 1}}) {
    Philox rng(1);
    const Tensor x = randn({N, s.C, s.S, s.S}, rng);
    const Tensor w = mul(randn({s.OC, s.C, s.K, s.K}, rng), 1.0 / std::sqrt(1.0 * s.K * s.K * s.C));
    const Tensor b = randn({s.OC}, rng);
    NoGradGuard no_grad;
    auto frozen_ms = [&](PrecisionMode mode) {
      FrozenWeights frozen;
      PrecisionScope precision(mode);
      return 1e3 * best_seconds(reps, [&] { conv2d(x, w, b, 1, s.K / 2); });
    };
    const double fp32 = frozen_ms({});
    const double ours = frozen_ms(bf16);
    PrecisionScope precision(bf16);
    const double direct = 1e3 * best_seconds(reps, [&] { conv2d(x, w, b, 1, s.K / 2); });
    const std::string shape = std::to_string(s.K) + "x" + std::to_string(s.K) + " " + std::to_string(s.C) + "->" +
                              std::to_string(s.OC) + "@" + std::to_string(s.S);
    std::printf("%-18s %10.3f %12.3f %10.3f %9.2fx %11.2fx\n", shape.c_str(), fp32, direct, ours, fp32 / ours,
                direct / ours);
  }
  return 0;
}
