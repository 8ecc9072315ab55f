// The GEMM kernel of the bf16 sampling convolutions (tensor/winograd_bf16, tensor/pointwise_bf16): one
// call computes, in float32,
//   m [8 x 48] = u [8 x K] v [K x 48]
// from bf16 operands stored as pairs along K, the operand layout of AVX512-BF16's vdpbf16ps, which adds
// two bf16 products to each float32 lane: a uint32_t holds k = 2i in its low 16 bits and k = 2i + 1 in its
// high ones (K odd: the last high half is zero). u is read a pair at a time (row r at u + r * ldu + i), v
// 48 lanes at a time (pair row i at v + i * ldv), and m is written row r at m + r * ldm. 8 x 48 keeps 24
// accumulator registers busy; v's 48 lanes are three registers.
//
// Only where the build targets AVX512-BF16 (DIFFUSE_BF16_PAIR_GEMM is defined then).
#pragma once
#include <cstdint>

namespace diffuse::bf16_pairs {

constexpr int64_t kLanes = 16;  // float32 lanes of a 512-bit register
constexpr int64_t kPanel = 48;  // columns of m per call: three registers
constexpr int64_t kRows = 8;    // rows of m per call (8 x 3 = 24 accumulators)

}  // namespace diffuse::bf16_pairs

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
#include <immintrin.h>
#define DIFFUSE_BF16_PAIR_GEMM 1
#endif

namespace diffuse::bf16_pairs {

// Whether the kernel, and so winograd_bf16 and pointwise_bf16, is compiled in (the build targets a CPU with
// AVX512-BF16; -march=native on one).
constexpr bool available() {
#ifdef DIFFUSE_BF16_PAIR_GEMM
  return true;
#else
  return false;
#endif
}

}  // namespace diffuse::bf16_pairs

#ifdef DIFFUSE_BF16_PAIR_GEMM

namespace diffuse::bf16_pairs {

inline void gemm_8x48(const uint32_t* u, int64_t ldu, const uint32_t* v, int64_t ldv, int64_t pairs, float* m,
                      int64_t ldm) {
  __m512 acc[kRows][3];
  for (auto& row : acc)
    for (__m512& a : row) a = _mm512_setzero_ps();
  for (int64_t i = 0; i < pairs; ++i) {
    const uint32_t* vi = v + i * ldv;
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(vi));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(vi + kLanes));
    const __m512bh b2 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(vi + 2 * kLanes));
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(u[r * ldu + i])));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
      acc[r][2] = _mm512_dpbf16_ps(acc[r][2], a, b2);
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int s = 0; s < 3; ++s) _mm512_storeu_ps(m + r * ldm + s * kLanes, acc[r][s]);
}

// A register whose lanes 2t and 2t + 1 hold (k = 2i, k = 2i + 1) of column t < 8, rounded to bf16 (nearest
// even): the 8 uint32_t pairs of columns 0 .. 7, ready to store.
inline __m256i round_pairs(__m512 interleaved) { return reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(interleaved)); }

}  // namespace diffuse::bf16_pairs
#endif
