// The float32 GEMM every product of ours goes through (matmul, linear, the attention GEMMs), with the
// precision of tensor/precision.hpp:
//
//   C [M, N] = alpha op(A) op(B) + beta C      op(A) [M, K], op(B) [K, N], row-major, op = as is or ^T
//
//   fp32           oneDNN's matmul for products of 2^24 multiply-adds or more, outside parallel regions
//                  (its AVX-512 brgemm kernels; the operands described by their strides, not copied);
//                  cblas_sgemm (OpenBLAS) for the smaller ones and inside parallel regions. On the U-Net's
//                  attention projections (8192 x 128 x 128) oneDNN ran at 214-256 GFLOP/s where OpenBLAS's
//                  Haswell kernels ran at 58-92 (2 threads, AMD EPYC with AVX-512).
//   bf16 native    A and B converted to bf16 as stored (rounded to nearest even; a transposed operand is
//                  described to oneDNN by its layout, not copied transposed), then oneDNN's matmul with
//                  bf16 inputs and a float32 destination (float32 accumulation; alpha as its output scale,
//                  beta as a sum post-op). The primitives are created once per shape and kept.
//   bf16 emulated  A and B rounded to bf16 values in float32 buffers, then cblas_sgemm.
//
// Inside an OpenMP parallel region bf16 takes the emulated route even where the CPU has bf16: oneDNN 2.6's
// primitives are built for the process's thread count and must not run nested in a parallel region. The
// arithmetic is the same (bf16 operands, exact products, float32 sums); the speed is float32's. Attention's
// GEMMs are small (256 x 256 x 32 in the transformer), where oneDNN's matmul called once per (batch, head)
// pair was slower still: a fork and join per call (0.3 GFLOP/s against sgemm's 70 at 256 x 256 x 32, 2
// threads: bench_bf16_gemm). So native bf16 attention calls batched_bf16_gemm below, one matmul over a
// chunk of pairs.
//
// Why oneDNN's matmul and not OpenBLAS's cblas_sbgemm: Debian's libopenblas 0.3.21 is built without
// BUILD_BFLOAT16, so cblas.h declares cblas_sbgemm but the library does not export it.
//
// Safe to call from several OpenMP threads at once (attention runs its (batch, head) pairs in parallel):
// the conversion buffers are per thread.
#pragma once
#include <cblas.h>

#include <cstdint>
#include <vector>

namespace diffuse {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// A float32 matrix converted to bf16 once, for several GEMMs that read it as their B operand: a weight in
// linear's forward and its backward (converted once per step), or all through a sampling run (kept in a
// FrozenWeights scope). `values` holds the matrix as stored, dense: rows x cols, row-major.
struct Bf16Matrix {
  std::vector<uint16_t> values;
  int64_t rows = 0, cols = 0;
};
// X [rows, cols], row-major with leading dimension ld, in bf16 (round to nearest even).
Bf16Matrix to_bf16_matrix(const float* X, int64_t rows, int64_t cols, int64_t ld);
// How many Bf16Matrix copies this process has made (tests count a step's weight conversions).
int64_t bf16_matrices_made();

// gemm in bf16 (the precision mode must say bf16) with B given by its bf16 copy: op(B) [K, N] is
// B.values as stored (tb = CblasNoTrans: B is K x N; CblasTrans: B is N x K).
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const Bf16Matrix& B, float beta, float* C, int64_t ldc);

// C[i] = alpha op(A[i]) op(B[i]) for i < batch, in native bf16 (the precision mode must say so; never inside
// a parallel region): one oneDNN matmul over the batch, float32 accumulation and output. Every matrix is
// dense and the batch's matrices lie one after another: A[i] is M x K as stored (K x M when ta), B[i] K x N
// (N x K when tb), C[i] M x N. Attention's five GEMMs, over chunks of (batch, head) pairs.
void batched_bf16_gemm(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                       const uint16_t* B, float* C);

// float64 is never mixed: cblas_dgemm.
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
          int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

}  // namespace diffuse
