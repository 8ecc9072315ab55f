// matmul and linear against a naive triple loop, in every transpose combination, batched and broadcast.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "gradcheck.hpp"
#include "tensor/blas_kernels.hpp"
#include "tensor/gemm.hpp"
#include "tensor/random.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {
// C[b, i, j] = sum_k A[b, i, k] B[b, k, j], reading through at() (any layout).
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  const bool batched = a.dim() == 3;
  const int64_t nb = batched ? a.size(0) : 1;
  Tensor c = Tensor::zeros(batched ? Shape{nb, M, N} : Shape{M, N}, DType::F64);
  for (int64_t q = 0; q < nb; ++q)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += batched ? a.at({q, i, k}) * b.at({q, k, j}) : a.at({i, k}) * b.at({k, j});
        c.data<double>()[(q * M + i) * N + j] = acc;
      }
  return c;
}
}  // namespace

TEST_CASE("matmul in every transpose combination, float32 and float64") {
  for (DType dt : {DType::F32, DType::F64}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        CAPTURE(ta);
        CAPTURE(tb);
        // A is 5x7 and B is 7x3, each stored either directly or as the transpose of a contiguous matrix.
        const Tensor a = ta ? random_input({7, 5}, 1).to(dt).transpose(0, 1) : random_input({5, 7}, 1).to(dt);
        const Tensor b = tb ? random_input({3, 7}, 2).to(dt).transpose(0, 1) : random_input({7, 3}, 2).to(dt);
        CHECK(max_abs_diff(matmul(a, b).to(DType::F64), naive_matmul(a, b)) < (dt == DType::F32 ? 1e-5 : 1e-12));
      }
  }
}

// Products of 2^24 multiply-adds and more take oneDNN's matmul (tensor/gemm.hpp), described by strides: each
// transpose, leading dimensions wider than the matrices, alpha and beta, against cblas_dgemm on the same values.
TEST_CASE("gemm on large products: every transpose, padded leading dimensions, alpha and beta") {
  const int64_t M = 512, N = 256, K = 160, pad = 3;  // 21M multiply-adds
  Philox rng(11);
  for (const auto ta : {CblasNoTrans, CblasTrans})
    for (const auto tb : {CblasNoTrans, CblasTrans}) {
      CAPTURE(ta == CblasTrans);
      CAPTURE(tb == CblasTrans);
      const int64_t lda = (ta == CblasTrans ? M : K) + pad, ldb = (tb == CblasTrans ? K : N) + pad, ldc = N + pad;
      const Tensor a = randn({ta == CblasTrans ? K : M, lda}, rng), b = randn({tb == CblasTrans ? N : K, ldb}, rng);
      const Tensor c0 = randn({M, ldc}, rng);
      const Tensor c = c0.clone(), a64 = a.to(DType::F64), b64 = b.to(DType::F64), c64 = c0.to(DType::F64);
      gemm(ta, tb, M, N, K, 0.5f, a.data<float>(), lda, b.data<float>(), ldb, 0.25f, c.data<float>(), ldc);
      gemm(ta, tb, M, N, K, 0.5, a64.data<double>(), lda, b64.data<double>(), ldb, 0.25, c64.data<double>(), ldc);
      double worst = 0;
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j)
          worst = std::max(worst, std::abs(c.data<float>()[i * ldc + j] - c64.data<double>()[i * ldc + j]));
        for (int64_t j = N; j < ldc; ++j)  // the padding is never written
          REQUIRE(c.data<float>()[i * ldc + j] == c0.data<float>()[i * ldc + j]);
      }
      CHECK(worst < 1e-4);  // sums of 160 products of N(0, 1) values: float32 rounding is about 1e-6 of 6
    }
}

TEST_CASE("batched matmul with broadcast and strided batches") {
  const Tensor a = random_input({4, 3, 6}, 3), b = random_input({6, 2}, 4);
  CHECK(max_abs_diff(matmul(a, b), naive_matmul(a, b.unsqueeze(0).expand({4, 6, 2}))) < 1e-12);
  const Tensor a2 = random_input({3, 4, 6}, 5).permute({1, 0, 2});  // [4, 3, 6] with a non-unit batch stride
  const Tensor b2 = random_input({4, 2, 6}, 6).transpose(1, 2);      // [4, 6, 2], transposed matrices
  CHECK(max_abs_diff(matmul(a2, b2), naive_matmul(a2, b2)) < 1e-12);
  const Tensor a3 = random_input({2, 1, 3, 5}, 7), b3 = random_input({1, 4, 5, 2}, 8);
  CHECK(matmul(a3, b3).shape() == Shape{2, 4, 3, 2});
  CHECK(matmul(a3, b3).at({1, 2, 0, 1}) == doctest::Approx(matmul(a3.narrow(0, 1, 1).squeeze(0).squeeze(0),
                                                                  b3.squeeze(0).narrow(0, 2, 1).squeeze(0)).at({0, 1})));
}

TEST_CASE("matmul and linear gradients") {
  CHECK_GRADIENTS([](auto& in) { return matmul(in[0], in[1]); }, {random_input({3, 4}, 9), random_input({4, 5}, 10)}, strided());
  CHECK_GRADIENTS([](auto& in) { return matmul(in[0].transpose(0, 1), in[1].transpose(0, 1)); },
                  {random_input({4, 3}, 11), random_input({5, 4}, 12)}, strided());
  CHECK_GRADIENTS([](auto& in) { return matmul(in[0], in[1]); }, {random_input({2, 3, 4}, 13), random_input({4, 2}, 14)}, strided());
  CHECK_GRADIENTS([](auto& in) { return matmul(in[0], in[1]); },
                  {random_input({2, 1, 3, 4}, 15), random_input({3, 4, 2}, 16)}, strided());
  CHECK_GRADIENTS([](auto& in) { return linear(in[0], in[1], in[2]); },
                  {random_input({2, 3, 4}, 17), random_input({5, 4}, 18), random_input({5}, 19)}, strided());
  CHECK_GRADIENTS([](auto& in) { return linear(in[0].transpose(0, 1), in[1]); },
                  {random_input({4, 3}, 20), random_input({5, 4}, 21)}, strided());
}

TEST_CASE("linear equals x W^T + b") {
  const Tensor x = random_input({2, 3, 4}, 22), w = random_input({5, 4}, 23), b = random_input({5}, 24);
  CHECK(max_abs_diff(linear(x, w, b), matmul(x, w.transpose(0, 1)) + b) < 1e-12);
}

TEST_CASE("shape errors name matmul and the shapes") {
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})),
                       "matmul: cannot multiply float32[2, 3] by float32[4, 5]", std::invalid_argument);
  CHECK_THROWS_WITH_AS(linear(Tensor::zeros({2, 3}), Tensor::zeros({5, 4})), doctest::Contains("linear: input float32[2, 3]"),
                       std::invalid_argument);
}

TEST_CASE("OpenBLAS runs kernels for this CPU, not its Prescott fallback, when the CPU has AVX2") {
  // ensure_blas_environment (called by the tests' main) re-runs the program with OPENBLAS_CORETYPE set
  // when OpenBLAS did not recognise the CPU; a user's own OPENBLAS_CORETYPE is left alone.
  __builtin_cpu_init();
  const char* user = std::getenv("OPENBLAS_CORETYPE");
  if (__builtin_cpu_supports("avx2") && (user == nullptr || std::string(user) == "SkylakeX" || std::string(user) == "Haswell"))
    CHECK(diffuse::blas_core_name() != "Prescott");
}

TEST_CASE("OpenBLAS's idle workers sleep after 2^4 cycles, unless the user chose otherwise") {
  // Set before the re-run, so OpenBLAS read it when it loaded (tensor/blas_kernels.hpp).
  CHECK(std::getenv("OPENBLAS_THREAD_TIMEOUT") != nullptr);
}
