// conv2d time per call, forward only (no tape: the forward_inference plan) and forward + backward
// (tape recorded, then dx, dweight and dbias), for the 3x3 convolutions of a small U-Net: batch 32,
// stride 1, padding 1, 64->64 at 32x32, 128->128 at 16x16 and 256->256 at 8x8. float32, on oneDNN.
// bench/conv2d_torch.py measures the same in PyTorch; bench/conv2d_vs_torch.sh runs both side by side.
// FLOPs: 2 N OC C KH KW OH OW for the forward, three times that for forward + backward.
// Usage: bench_conv2d [--threads N] [--reps R]      (prints the best of R calls after a warm-up)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "tensor/autograd.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"
#include "tensor/threads.hpp"
#include "tensor/blas_kernels.hpp"

using namespace diffuse;

template <class F>
double best_ms(int reps, F f) {
  f();  // warm-up: builds and caches the oneDNN plan, and brings the buffers into the heap
  f();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

int main(int argc, char** argv) {
  diffuse::ensure_blas_environment(argv);
  int threads = hardware_threads(), reps = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::stoi(argv[i + 1]);
  }
  set_threads(threads);
  const int64_t N = 32;
  std::printf("diffuse conv2d: threads %d, batch %ld, 3x3, stride 1, padding 1, float32; best of %d, ms per call\n",
              threads, static_cast<long>(N), reps);
  std::printf("%-16s %12s %12s %14s %14s\n", "shape", "forward", "fwd+bwd", "fwd GFLOP/s", "fwd+bwd GFLOP/s");
  for (const auto& [C, S] : {std::pair<int64_t, int64_t>{64, 32}, {128, 16}, {256, 8}}) {
    Philox rng(1);
    Tensor x = randn({N, C, S, S}, rng);
    Tensor w = mul(randn({C, C, 3, 3}, rng), 1.0 / std::sqrt(9.0 * C));
    Tensor b = randn({C}, rng);
    const Tensor dy = randn({N, C, S, S}, rng);

    const double fwd = best_ms(reps, [&] {
      NoGradGuard no_grad;
      conv2d(x, w, b, 1, 1);
    });
    x.set_requires_grad();
    w.set_requires_grad();
    b.set_requires_grad();
    const double train = best_ms(reps, [&] {
      for (const Tensor* t : {&x, &w, &b}) t->impl()->grad.reset();  // as PyTorch's `.grad = None`
      conv2d(x, w, b, 1, 1).backward(dy);
    });

    const double flops = 2.0 * N * C * C * 9 * S * S;
    const std::string shape = std::to_string(C) + "->" + std::to_string(C) + "@" + std::to_string(S) + "x" +
                              std::to_string(S);
    std::printf("%-16s %12.3f %12.3f %14.1f %14.1f\n", shape.c_str(), fwd, train, flops / fwd / 1e6,
                3 * flops / train / 1e6);
  }
  return 0;
}
