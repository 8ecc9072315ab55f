// The float32 GEMM of tensor/gemm.hpp in its three modes, GFLOP/s on the shapes the networks run:
// float32 (OpenBLAS cblas_sgemm), bf16 on oneDNN's matmul (conversions of both operands to bf16
// included), and bf16 emulated (rounding into cblas_sgemm). OpenBLAS's own bf16 GEMM, cblas_sbgemm, cannot
// be timed: Debian's libopenblas 0.3.21 is built without BUILD_BFLOAT16 and does not export it.
// Usage: bench_bf16_gemm [--threads N] [--reps R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/best_seconds.hpp"
#include "tensor/blas_kernels.hpp"
#include "tensor/gemm.hpp"
#include "tensor/precision.hpp"
#include "tensor/random.hpp"
#include "tensor/threads.hpp"

using namespace diffuse;

int main(int argc, char** argv) {
  ensure_blas_environment(argv);
  int threads = hardware_threads(), reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::stoi(argv[i + 1]);
  }
  set_threads(threads);
  const std::string missing = bf16_missing_feature();
  std::printf("%d threads, OpenBLAS %s, oneDNN ISA %s%s\n", threads, blas_core_name().c_str(), onednn_cpu_isa().c_str(),
              missing.empty() ? "" : " (no native bf16: its column is skipped)");
  struct Shape3 {
    const char* what;
    int64_t M, N, K;
    CBLAS_TRANSPOSE tb;
  };
  const std::vector<Shape3> shapes = {
      {"transformer qkv: x W^T [8192,256]x[768,256]^T", 8192, 768, 256, CblasTrans},
      {"transformer MLP down [8192,1024]x[256,1024]^T", 8192, 256, 1024, CblasTrans},
      {"attention S = Q K^T [256,32]x[256,32]^T", 256, 256, 32, CblasTrans},
      {"attention O = P V [256,256]x[256,32]", 256, 32, 256, CblasNoTrans},
      {"square 2048", 2048, 2048, 2048, CblasNoTrans}};
  std::printf("%-48s %10s %10s %10s   GFLOP/s\n", "shape", "fp32", "bf16", "emulated");
  Philox rng(1);
  for (const Shape3& s : shapes) {
    std::vector<float> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    rng.fill_normal(A.data(), static_cast<int64_t>(A.size()));
    rng.fill_normal(B.data(), static_cast<int64_t>(B.size()));
    const int64_t ldb = s.tb == CblasTrans ? s.K : s.N;
    const auto run = [&] {
      gemm(CblasNoTrans, s.tb, s.M, s.N, s.K, 1.0f, A.data(), s.K, B.data(), ldb, 0.0f, C.data(), s.N);
    };
    const double flops = 2.0 * s.M * s.N * s.K;
    double g[3] = {0, 0, 0};
    const PrecisionMode modes[3] = {{}, {Precision::BF16, false}, {Precision::BF16, true}};
    for (int m = 0; m < 3; ++m) {
      if (m == 1 && !missing.empty()) continue;
      PrecisionScope scope(modes[m]);
      g[m] = flops / best_seconds(reps, run) / 1e9;
    }
    std::printf("%-48s %10.1f %10.1f %10.1f\n", s.what, g[0], g[1], g[2]);
  }
  return 0;
}
