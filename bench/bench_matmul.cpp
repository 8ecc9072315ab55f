// matmul GFLOP/s at 512, 1024 and 2048 beside OpenBLAS's own cblas_sgemm on the same shapes, for the
// plain product and for a transposed view (which must not cost a copy).
// FLOPs: 2 n^3 per n x n product.  Usage: bench_matmul [--threads N] [--reps R]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/best_seconds.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"
#include "tensor/threads.hpp"
#include "tensor/blas_kernels.hpp"

using namespace diffuse;

int main(int argc, char** argv) {
  diffuse::ensure_blas_environment(argv);
  int threads = hardware_threads(), reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::stoi(argv[i + 1]);
  }
  set_threads(threads);
  NoGradGuard no_grad;
  std::printf("threads %d, best of %d; GFLOP/s = 2 n^3 / time\n", threads, reps);
  std::printf("%6s %14s %14s %18s %8s\n", "n", "sgemm GFLOP/s", "matmul GFLOP/s", "matmul(a^T) GFLOP/s", "ratio");
  for (int64_t n : {512, 1024, 2048}) {
    Philox rng(1);
    const Tensor a = randn({n, n}, rng), b = randn({n, n}, rng);
    Tensor c = Tensor::empty({n, n});
    const double flops = 2.0 * n * n * n;
    const double t_blas = best_seconds(reps, [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data<float>(), n, b.data<float>(), n, 0.f,
                  c.data<float>(), n);
    });
    const double t_ours = best_seconds(reps, [&] { c = matmul(a, b); });
    const Tensor at = a.transpose(0, 1);
    const double t_trans = best_seconds(reps, [&] { c = matmul(at, b); });
    std::printf("%6ld %14.1f %14.1f %18.1f %8.3f\n", static_cast<long>(n), flops / t_blas / 1e9, flops / t_ours / 1e9,
                flops / t_trans / 1e9, t_ours / t_blas);
  }
  return 0;
}
