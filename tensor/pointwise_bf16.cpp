// bf16 1x1 convolution (pointwise_bf16.hpp). Pixels are numbered p = n * HW + s over the batch; a block is
// a range of them, as many 48-pixel panels as keep its packed input, [C/2][pixels] pairs, within about
// 512 KiB (the L2 cache), one block at a time per thread:
//   1. pack    for each channel pair, the block's pixels of both channels rounded to bf16 pairs, 8
//              pixels per register (lane 2t + p: pixel t of channel p of the pair);
//   2. GEMM    for 8 output channels and one panel at a time, m [8 x 48] = W [8 x C] x [C x 48]
//              (bf16_pairs::gemm_8x48), then copied with the bias into y's rows.
// A block's pixels are handled in runs that share the image n.
#include "tensor/pointwise_bf16.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "tensor/bf16_pair_gemm.hpp"
#include "tensor/precision.hpp"
#include "tensor/threads.hpp"

namespace diffuse::pointwise_bf16 {

PackedWeight pack_weight(const Tensor& weight) {
  if (weight.dtype() != DType::F32 || weight.dim() != 4 || weight.shape()[2] != 1 || weight.shape()[3] != 1)
    throw std::invalid_argument("pointwise_bf16::pack_weight: expected a float32 [OC, C, 1, 1] weight, got " +
                                describe(weight));
  PackedWeight p;
  p.OC = weight.shape()[0];
  p.C = weight.shape()[1];
  p.OC8 = (p.OC + bf16_pairs::kRows - 1) / bf16_pairs::kRows * bf16_pairs::kRows;
  p.C2 = (p.C + 1) / 2;
  p.u.assign(p.OC8 * p.C2, 0);
  const Tensor wc = weight.contiguous();
  const float* w = wc.data<float>();
  for (int64_t oc = 0; oc < p.OC; ++oc)
    for (int64_t c = 0; c < p.C; ++c) {
      const uint32_t b = to_bf16(w[oc * p.C + c]);
      p.u[oc * p.C2 + c / 2] |= c % 2 == 0 ? b : b << 16;
    }
  return p;
}

#ifdef DIFFUSE_BF16_PAIR_GEMM
namespace {

using bf16_pairs::kLanes;
using bf16_pairs::kPanel;
using bf16_pairs::kRows;
constexpr int64_t kBlockBytes = 512 << 10;

struct Problem {
  int64_t N, C, HW, OC, C2, OC8;
  int64_t P;      // pixels in all
  int64_t block;  // pixels per block, a multiple of kPanel
};

// Pixels [lane0, lane0 + len) of a block or panel: s0 .. s0 + len - 1 of image n.
struct Run {
  int64_t n, s0, lane0, len;
};

std::vector<Run> runs_of(const Problem& pr, int64_t p0, int64_t np) {
  std::vector<Run> runs;
  for (int64_t lane = 0; lane < np;) {
    const int64_t p = p0 + lane, n = p / pr.HW, s = p % pr.HW, len = std::min(pr.HW - s, np - lane);
    runs.push_back({n, s, lane, len});
    lane += len;
  }
  return runs;
}

// Lanes [0, n) of 16 floats from `from`, zero past n.
__m512 load_first(const float* from, int64_t n) {
  return n >= kLanes ? _mm512_loadu_ps(from) : _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), from);
}

// Step 1: v[k2 * block + lane] = the pair (channel 2 k2, channel 2 k2 + 1) of the lane's pixel, every lane up
// to round_up(np, kPanel) (zero past np). Per 16 pixels: the two channels' registers interleaved into
// (pixels 0 - 7) and (pixels 8 - 15), each rounded into 8 pairs.
void pack_block(const Problem& pr, const float* x, const std::vector<Run>& runs, int64_t np, uint32_t* v) {
  alignas(64) static constexpr int32_t low[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
  alignas(64) static constexpr int32_t high[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i lo = _mm512_load_si512(low), hi = _mm512_load_si512(high);
  const int64_t lanes = (np + kPanel - 1) / kPanel * kPanel;
  for (int64_t k2 = 0; k2 < pr.C2; ++k2) {
    uint32_t* row = v + k2 * pr.block;
    const bool second = 2 * k2 + 1 < pr.C;
    for (const Run& r : runs) {
      const float* c0 = x + (r.n * pr.C + 2 * k2) * pr.HW + r.s0;
      const float* c1 = c0 + pr.HW;
      for (int64_t t = 0; t < r.len; t += kLanes) {
        const __m512 a = load_first(c0 + t, r.len - t), b = second ? load_first(c1 + t, r.len - t) : _mm512_setzero_ps();
        // A run shorter than 16 writes zero pairs past its end, which the next run overwrites.
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + r.lane0 + t),
                            bf16_pairs::round_pairs(_mm512_permutex2var_ps(a, lo, b)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + r.lane0 + t + kLanes / 2),
                            bf16_pairs::round_pairs(_mm512_permutex2var_ps(a, hi, b)));
      }
    }
    std::fill(row + np, row + lanes, 0u);
  }
}

void run_block(const Problem& pr, const float* x, const PackedWeight& w, const float* bias, int64_t p0, uint32_t* v,
               float* m, float* y) {
  const int64_t np = std::min(pr.block, pr.P - p0);
  pack_block(pr, x, runs_of(pr, p0, np), np, v);
  for (int64_t q0 = 0; q0 < np; q0 += kPanel) {
    const std::vector<Run> runs = runs_of(pr, p0 + q0, std::min(kPanel, np - q0));
    for (int64_t oc0 = 0; oc0 < pr.OC; oc0 += kRows) {
      bf16_pairs::gemm_8x48(w.u.data() + oc0 * pr.C2, pr.C2, v + q0, pr.block, pr.C2, m, kPanel);
      for (int64_t r = 0; r < kRows && oc0 + r < pr.OC; ++r) {
        const float b = bias ? bias[oc0 + r] : 0.0f;
        for (const Run& run : runs) {
          float* out = y + (run.n * pr.OC + oc0 + r) * pr.HW + run.s0;
          const float* in = m + r * kPanel + run.lane0;
          for (int64_t t = 0; t < run.len; ++t) out[t] = in[t] + b;
        }
      }
    }
  }
}

}  // namespace
#endif

Tensor conv1x1(const Tensor& x, const PackedWeight& weight, const Tensor& bias) {
#ifndef DIFFUSE_BF16_PAIR_GEMM
  (void)x, (void)weight, (void)bias;
  throw std::logic_error("pointwise_bf16::conv1x1: not compiled in (the build's CPU lacks AVX512-BF16)");
#else
  if (x.dtype() != DType::F32 || x.dim() != 4 || x.shape()[1] != weight.C)
    throw std::invalid_argument("pointwise_bf16::conv1x1: expected a float32 [N, " + std::to_string(weight.C) +
                                ", H, W] input, got " + describe(x));
  Problem pr{};
  pr.N = x.shape()[0], pr.C = weight.C, pr.HW = x.shape()[2] * x.shape()[3], pr.OC = weight.OC;
  pr.C2 = weight.C2, pr.OC8 = weight.OC8, pr.P = pr.N * pr.HW;
  pr.block = std::max<int64_t>(1, kBlockBytes / (pr.C2 * kPanel * 4)) * kPanel;
  const Tensor xc = x.contiguous();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = Tensor::empty({pr.N, pr.OC, x.shape()[2], x.shape()[3]});
  const float* xp = xc.data<float>();
  const float* bp = bc.defined() ? bc.data<float>() : nullptr;
  float* yp = y.data<float>();
  const int64_t blocks = (pr.P + pr.block - 1) / pr.block;
  auto run_blocks = [&](bool parallel) {
    // Each thread's buffers, left uninitialised: packed input (and 8 pairs of slack for a short run's
    // second store) and one kernel call's output.
    std::unique_ptr<uint32_t[]> v(new uint32_t[pr.C2 * pr.block + kLanes]);
    std::unique_ptr<float[]> m(new float[kRows * kPanel]);
    if (parallel) {
#pragma omp for schedule(dynamic)
      for (int64_t b = 0; b < blocks; ++b) run_block(pr, xp, weight, bp, b * pr.block, v.get(), m.get(), yp);
    } else {
      for (int64_t b = 0; b < blocks; ++b) run_block(pr, xp, weight, bp, b * pr.block, v.get(), m.get(), yp);
    }
  };
  if (num_threads() > 1 && blocks > 1) {
#pragma omp parallel
    run_blocks(true);
  } else {
    run_blocks(false);
  }
  return y;
#endif
}

}  // namespace diffuse::pointwise_bf16
