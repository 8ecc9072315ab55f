// bf16 Winograd F(2x2, 3x3): the algorithm, its error and why it is here are at the top of
// winograd_bf16.hpp. This file is its three steps, over blocks of tiles (one block at a time per thread):
//   1. input transform   for each pair of input channels and 8 tiles at a time, the tiles' 4x4 patches
//                        gathered into 16 registers (one per position in the patch; lane 2t + p: tile t,
//                        channel p of the pair), V = B^T d B lane by lane, rounded to bf16: the pairs of
//                        tensor/bf16_pair_gemm.hpp's layout, v [16][C/2][tiles];
//   2. GEMMs             for 8 output channels and a panel of 48 tiles at a time, M_xi [8 x 48] =
//                        U_xi [8 x C] V_xi [C x 48] for the 16 xi (bf16_pairs::gemm_8x48);
//   3. output transform  Y = A^T M A for those 8 channels and 48 tiles, plus the bias (and what
//                        conv2d_add adds), into y's nchw rows.
// Tiles are numbered p = (n * TH + ty) * TW + tx (TH x TW tiles of 2x2 per image); a block is a range of
// them, handled in runs that share (n, ty), whose tx are consecutive. A block holds as many 48-tile panels
// as keep its v within about 512 KiB (the L2 cache): the more tiles, the longer the stretch of each of the
// C input planes and OC output planes it reads and writes in one go. (With one panel per block, the
// transforms, reading and writing a few hundred bytes of each of 64 to 256 planes, took longer than the
// GEMMs.)
#include "tensor/winograd_bf16.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "tensor/bf16_pair_gemm.hpp"
#include "tensor/precision.hpp"
#include "tensor/threads.hpp"

namespace diffuse::winograd_bf16 {

namespace {

using bf16_pairs::kLanes;
using bf16_pairs::kPanel;
using bf16_pairs::kRows;
constexpr int64_t kPairLanes = 8;           // tiles per register in the input transform (x 2 channels)
constexpr int64_t kBlockBytes = 512 << 10;  // a block's v, at most (unless a single panel is larger)

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

}  // namespace

// U = G g G^T for each (oc, c), in float64, then rounded to bf16 (Lavin & Gray eq. 7 with G as in the header).
TransformedWeight transform_weight(const Tensor& weight) {
  if (weight.dtype() != DType::F32 || weight.dim() != 4 || weight.shape()[2] != 3 || weight.shape()[3] != 3)
    throw std::invalid_argument("winograd_bf16::transform_weight: expected a float32 [OC, C, 3, 3] weight, got " +
                                describe(weight));
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  TransformedWeight t;
  t.OC = weight.shape()[0];
  t.C = weight.shape()[1];
  t.OC8 = round_up(t.OC, kRows);
  t.C2 = (t.C + 1) / 2;
  t.u.assign(16 * t.OC8 * t.C2, 0);
  const Tensor wc = weight.contiguous();
  const float* w = wc.data<float>();
  for (int64_t oc = 0; oc < t.OC; ++oc)
    for (int64_t c = 0; c < t.C; ++c) {
      const float* g = w + (oc * t.C + c) * 9;
      double Gg[4][3] = {};  // G g
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 3; ++j)
          for (int k = 0; k < 3; ++k) Gg[i][j] += G[i][k] * g[k * 3 + j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          double v = 0;  // (G g G^T)[i][j]
          for (int k = 0; k < 3; ++k) v += Gg[i][k] * G[j][k];
          const uint32_t b = to_bf16(static_cast<float>(v));
          t.u[((i * 4 + j) * t.OC8 + oc) * t.C2 + c / 2] |= c % 2 == 0 ? b : b << 16;
        }
    }
  return t;
}

#ifdef DIFFUSE_BF16_PAIR_GEMM
namespace {

// The sizes of one call.
struct Problem {
  int64_t N, C, H, W, OC, PH, PW, OH, OW;
  int64_t TH, TW, P;  // tiles per column and per row of an image, tiles in all
  int64_t C2, OC8;
  int64_t block;      // tiles per block, a multiple of kPanel
};

// Tiles [lane0, lane0 + len) of a block or panel: image n, tile row ty, tile columns tx0 .. tx0 + len - 1.
struct Run {
  int64_t n, ty, tx0, lane0, len;
};

// The runs of tiles [p0, p0 + nt), lanes counted from p0.
std::vector<Run> runs_of(const Problem& pr, int64_t p0, int64_t nt) {
  std::vector<Run> runs;
  for (int64_t lane = 0; lane < nt;) {
    const int64_t p = p0 + lane, n = p / (pr.TH * pr.TW), ty = p / pr.TW % pr.TH, tx = p % pr.TW;
    const int64_t len = std::min(pr.TW - tx, nt - lane);
    runs.push_back({n, ty, tx, lane, len});
    lane += len;
  }
  return runs;
}

// Where tiles [p0, p0 + nt) lie in planes of `height` rows of `width`: in image n, the floats [begin, end)
// of the plane, rows 2 ty - before to 2 ty + after - 1 of each tile row ty, within the plane.
struct Span {
  int64_t n, begin, end;
};

std::vector<Span> spans_of(const Problem& pr, int64_t p0, int64_t nt, int64_t before, int64_t after, int64_t height,
                           int64_t width) {
  std::vector<Span> spans;
  const int64_t tiles_per_image = pr.TH * pr.TW, last = p0 + nt - 1;
  for (int64_t p = p0; p <= last;) {
    const int64_t n = p / tiles_per_image, image_last = std::min(last, (n + 1) * tiles_per_image - 1);
    const int64_t y0 = std::max<int64_t>(0, 2 * (p / pr.TW % pr.TH) - before);
    const int64_t y1 = std::min(height, 2 * (image_last / pr.TW % pr.TH) + after);
    if (y0 < y1) spans.push_back({n, y0 * width, y1 * width});
    p = image_last + 1;
  }
  return spans;
}

// Asks for the `spans` of channel c of t (`channels` planes of `plane` floats per image) to be brought into the
// cache ahead of their use, for writing where `write`. The hardware prefetchers stop at each 4 KiB page, and
// a plane is one to four of them (at 2 threads, 64 -> 64 channels at 32x32 took 5.7 ms with this, 6.4 to 6.7
// without).
void prefetch(const float* t, int64_t channels, int64_t c, int64_t plane, const std::vector<Span>& spans, bool write) {
  for (const Span& s : spans)
    for (int64_t i = s.begin; i < s.end; i += 64 / sizeof(float)) {
      const float* at = t + (s.n * channels + c) * plane + i;
      if (write)
        __builtin_prefetch(at, 1, 3);
      else
        __builtin_prefetch(at, 0, 3);
    }
}

// Always inlined: these run 16 tiles at a time in the innermost loops, and a call would spill registers.
#define DIFFUSE_INLINE [[gnu::always_inline]] inline
#define DIFFUSE_INLINE_LAMBDA __attribute__((always_inline))

DIFFUSE_INLINE __mmask16 first_lanes(int64_t n) { return n >= kLanes ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1); }

// The lanes of `from` in `mask`, zero elsewhere: a plain load where that is all of them.
DIFFUSE_INLINE __m512 load_lanes(const float* from, __mmask16 mask) {
  return mask == 0xFFFF ? _mm512_loadu_ps(from) : _mm512_maskz_loadu_ps(mask, from);
}

// The lanes of v in `mask` stored at `to`: a plain store where that is all of them (a masked store is slower).
DIFFUSE_INLINE void store_lanes(float* to, __mmask16 mask, __m512 v) {
  if (mask == 0xFFFF)
    _mm512_storeu_ps(to, v);
  else
    _mm512_mask_storeu_ps(to, mask, v);
}

// The 16 floats of `row` (W long) from column `col` on, with 0 for columns outside [0, W), by plain loads
// inside the row (a masked load is several times slower on this Zen 5): where the 16 columns cross an edge, the
// 16 at that edge are loaded and shifted into place, the lanes outside the row taken from zero.
DIFFUSE_INLINE __m512 load_columns(const float* row, int64_t col, int64_t W) {
  if (col >= 0 && col + kLanes <= W) return _mm512_loadu_ps(row + col);
  if (col >= W || col + kLanes <= 0) return _mm512_setzero_ps();
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 zero = _mm512_setzero_ps();
  if (W >= kLanes) {
    if (col < 0)  // lane e: index e + col + 16 of (zero, row[0..16)): zero below 16
      return _mm512_permutex2var_ps(zero, _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(col + kLanes))),
                                    _mm512_loadu_ps(row));
    // lane e: index e + col - (W - 16) of (row[W - 16..W), zero): zero from 16 on
    return _mm512_permutex2var_ps(_mm512_loadu_ps(row + W - kLanes),
                                  _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(col - W + kLanes))), zero);
  }
  // A row narrower than a register: a masked load, which leaves the memory of the lanes outside alone.
  const int64_t lo = std::max<int64_t>(0, -col), hi = std::min(kLanes, W - col);
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1)), row + col);
}

// The tiles of a run that fall in one group of 8 lanes (the input transform's unit: 8 tiles x 2 channels):
// lanes [t0, t0 + len) of group `group` hold tiles tx .. tx + len - 1 of tile row ty of image n.
struct Segment {
  int64_t group, n, ty, tx, t0, len;
};

std::vector<Segment> segments_of(const std::vector<Run>& runs) {
  std::vector<Segment> segments;
  for (const Run& r : runs)
    for (int64_t lane = r.lane0; lane < r.lane0 + r.len;) {
      const int64_t group = lane / kPairLanes, t0 = lane % kPairLanes;
      const int64_t len = std::min(kPairLanes - t0, r.lane0 + r.len - lane);
      segments.push_back({group, r.n, r.ty, r.tx0 + lane - r.lane0, t0, len});
      lane += len;
    }
  return segments;
}

// V = B^T d B, lane by lane: d[4i + j] holds the patches' entry (i, j), v[4i + j] receives V's.
DIFFUSE_INLINE void input_transform(const __m512 d[16], __m512 v[16]) {
  __m512 t[16];  // B^T d: rows 0 - 2, 1 + 2, 2 - 1, 1 - 3
  for (int j = 0; j < 4; ++j) {
    t[0 + j] = _mm512_sub_ps(d[0 + j], d[8 + j]);
    t[4 + j] = _mm512_add_ps(d[4 + j], d[8 + j]);
    t[8 + j] = _mm512_sub_ps(d[8 + j], d[4 + j]);
    t[12 + j] = _mm512_sub_ps(d[4 + j], d[12 + j]);
  }
  for (int i = 0; i < 4; ++i) {  // (B^T d) B: the same on columns
    v[4 * i + 0] = _mm512_sub_ps(t[4 * i + 0], t[4 * i + 2]);
    v[4 * i + 1] = _mm512_add_ps(t[4 * i + 1], t[4 * i + 2]);
    v[4 * i + 2] = _mm512_sub_ps(t[4 * i + 2], t[4 * i + 1]);
    v[4 * i + 3] = _mm512_sub_ps(t[4 * i + 1], t[4 * i + 3]);
  }
}

// Step 1 for channels 2 k2 and 2 k2 + 1 (the second zero when C is odd): v[(xi * C2 + k2) * block + lane]
// = (V_xi of the first channel, V_xi of the second) as a bf16 pair, low half first, for every lane up to
// `lanes` (zero past the block's tiles). Eight tiles at a time, lane 2t + p of each register holding tile t
// of channel 2 k2 + p: then V's 16 floats round to 16 bf16 that are already the 8 pairs (vcvtneps2bf16).
// For a segment whose tile t sits at column b + 2t of the rows it reads (b = 2 tx - PW - 2 t0), d's entry j
// of lane 2t + p is element 2t + j of the 16 columns from b on (j = 0, 1) or from b + 2 on (j = 2, 3) of
// channel p's row: one vpermt2ps of the two channels' 16 columns.
void transform_channel_pair(const Problem& pr, const float* x, int64_t k2, const std::vector<Segment>& segments,
                            int64_t lanes, uint32_t* v) {
  alignas(64) static constexpr int32_t even_columns[16] = {0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30};
  alignas(64) static constexpr int32_t odd_columns[16] = {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31};
  const __m512i even = _mm512_load_si512(even_columns), odd = _mm512_load_si512(odd_columns);
  const bool second = 2 * k2 + 1 < pr.C;
  const __m512 zero = _mm512_setzero_ps();
  // d's 16 registers as segment sg's tiles fill them (its other lanes: whatever its columns hold there).
  auto gather = [&](const Segment& sg, __m512 d[16]) DIFFUSE_INLINE_LAMBDA {
    const float* plane0 = x + (sg.n * pr.C + 2 * k2) * pr.H * pr.W;
    const int64_t b = 2 * sg.tx - pr.PW - 2 * sg.t0;
#pragma GCC unroll 4
    for (int64_t i = 0; i < 4; ++i) {
      const int64_t y = 2 * sg.ty - pr.PH + i;
      __m512 a0 = zero, a1 = zero, c0 = zero, c1 = zero;
      if (y >= 0 && y < pr.H) {
        const float* row0 = plane0 + y * pr.W;
        a0 = load_columns(row0, b, pr.W), c0 = load_columns(row0, b + 2, pr.W);
        if (second) a1 = load_columns(row0 + pr.H * pr.W, b, pr.W), c1 = load_columns(row0 + pr.H * pr.W, b + 2, pr.W);
      }
      d[4 * i + 0] = _mm512_permutex2var_ps(a0, even, a1);
      d[4 * i + 1] = _mm512_permutex2var_ps(a0, odd, a1);
      d[4 * i + 2] = _mm512_permutex2var_ps(c0, even, c1);
      d[4 * i + 3] = _mm512_permutex2var_ps(c0, odd, c1);
    }
  };
  auto next = segments.begin();
  for (int64_t group = 0; group * kPairLanes < lanes; ++group) {
    __m512 d[16];
    if (next != segments.end() && next->group == group && next->len == kPairLanes) {
      gather(*next++, d);  // one segment fills the group (always so on rows of 8, 16, ... tiles): in registers
    } else {
      // Several segments, or none (lanes past the block's tiles): each merged into its lanes of d, which
      // takes d through memory.
      for (__m512& e : d) e = zero;
      for (; next != segments.end() && next->group == group; ++next) {
        __m512 part[16];
        gather(*next, part);
        const __mmask16 mask = static_cast<__mmask16>(((1u << (2 * next->len)) - 1) << (2 * next->t0));
        for (int k = 0; k < 16; ++k) d[k] = _mm512_mask_mov_ps(d[k], mask, part[k]);
      }
    }
    __m512 t[16];
    input_transform(d, t);
    for (int xi = 0; xi < 16; ++xi)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(v + (xi * pr.C2 + k2) * pr.block + group * kPairLanes),
                          bf16_pairs::round_pairs(t[xi]));
  }
}

// What is added to the convolution as it is written: bias[oc] + shift[n * OC + oc] + residual[n, oc, ., .],
// each where given.
struct Epilogue {
  const float* bias = nullptr;      // [OC]
  const float* shift = nullptr;     // [N, OC]
  const float* residual = nullptr;  // [N, OC, OH, OW]
};

// Y = A^T M A for 16 tiles: m[xi * kRows * kPanel] holds M_xi of the first; y[2i + j] receives Y[i][j]
// (rows 0 + 1 + 2 and 1 - 2 - 3, then the same on columns).
DIFFUSE_INLINE void output_tiles(const float* m, __m512 y[4]) {
  __m512 s[8];  // A^T M: 2 x 4
  for (int j = 0; j < 4; ++j) {
    const __m512 m0 = _mm512_loadu_ps(m + (0 + j) * kRows * kPanel);
    const __m512 m1 = _mm512_loadu_ps(m + (4 + j) * kRows * kPanel);
    const __m512 m2 = _mm512_loadu_ps(m + (8 + j) * kRows * kPanel);
    const __m512 m3 = _mm512_loadu_ps(m + (12 + j) * kRows * kPanel);
    s[j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
    s[4 + j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
  }
  for (int i = 0; i < 2; ++i) {
    const __m512* si = s + 4 * i;
    y[2 * i + 0] = _mm512_add_ps(_mm512_add_ps(si[0], si[1]), si[2]);
    y[2 * i + 1] = _mm512_sub_ps(_mm512_sub_ps(si[1], si[2]), si[3]);
  }
}

// Step 3 for output channel oc and one panel's tiles (p0 the first, `runs` their runs): m[xi * kRows * kPanel +
// lane] holds M_xi, y the output. Y[i][0] and Y[i][1] of a row's tile k go to its columns 2k and 2k + 1:
// for 8 tiles, the first or second halves of the two registers interleaved.
void output_transform(const Problem& pr, const float* m, const Epilogue& add, int64_t oc, int64_t p0,
                      const std::vector<Run>& runs, int64_t nt, float* out_tiles, float* y) {
  alignas(64) static constexpr int32_t first_half[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
  alignas(64) static constexpr int32_t second_half[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  auto constant = [&](int64_t n) {
    return _mm512_set1_ps((add.bias ? add.bias[oc] : 0.0f) + (add.shift ? add.shift[n * pr.OC + oc] : 0.0f));
  };
  if (pr.TW % 8 == 0 && pr.OW % 2 == 0 && pr.OH % 2 == 0) {
    // Each 8 tiles lie in one tile row and fill 16 whole columns of its two output rows: straight from the
    // registers into y.
    for (int64_t lane = 0; lane < nt; lane += kLanes) {
      __m512 t[4];
      output_tiles(m + lane, t);
      for (int64_t half = 0; half < 2 && lane + 8 * half < nt; ++half) {
        const int64_t p = p0 + lane + 8 * half, n = p / (pr.TH * pr.TW), ty = p / pr.TW % pr.TH, tx = p % pr.TW;
        const __m512i order = _mm512_load_si512(half ? second_half : first_half);
        const __m512 c = constant(n);
        for (int64_t i = 0; i < 2; ++i) {
          const int64_t at = ((n * pr.OC + oc) * pr.OH + 2 * ty + i) * pr.OW + 2 * tx;
          __m512 out = _mm512_add_ps(_mm512_permutex2var_ps(t[2 * i], order, t[2 * i + 1]), c);
          if (add.residual) out = _mm512_add_ps(out, _mm512_loadu_ps(add.residual + at));
          _mm512_storeu_ps(y + at, out);
        }
      }
    }
    return;
  }
  // Any other shape: the panel's Y into out_tiles[(2i + j) * kPanel + lane], then run by run into y's rows
  // (an odd OW cuts a run's last tile in half).
  for (int64_t lane = 0; lane < nt; lane += kLanes) {
    __m512 t[4];
    output_tiles(m + lane, t);
    for (int k = 0; k < 4; ++k) _mm512_storeu_ps(out_tiles + k * kPanel + lane, t[k]);
  }
  for (const Run& r : runs) {
    const int64_t offset = (r.n * pr.OC + oc) * pr.OH * pr.OW;
    const __m512 c = constant(r.n);
    const int64_t columns = std::min(2 * r.len, pr.OW - 2 * r.tx0);
    for (int64_t i = 0; i < 2 && 2 * r.ty + i < pr.OH; ++i) {
      const int64_t at = offset + (2 * r.ty + i) * pr.OW + 2 * r.tx0;  // y's row from the run's first column
      const float* y0 = out_tiles + (2 * i) * kPanel + r.lane0;
      const float* y1 = out_tiles + (2 * i + 1) * kPanel + r.lane0;
      for (int64_t k = 0; k < r.len; k += kLanes) {
        const __m512 a = _mm512_loadu_ps(y0 + k), b = _mm512_loadu_ps(y1 + k);
        for (int64_t half = 0; half < 2; ++half) {  // columns 2k .. 2k + 15, then 2k + 16 .. 2k + 31
          const int64_t column = 2 * k + half * kLanes;
          if (column >= columns) break;
          const __mmask16 mask = first_lanes(columns - column);
          __m512 out = _mm512_add_ps(_mm512_permutex2var_ps(a, _mm512_load_si512(half ? second_half : first_half), b), c);
          if (add.residual) out = _mm512_add_ps(out, load_lanes(add.residual + at + column, mask));
          store_lanes(y + at + column, mask, out);
        }
      }
    }
  }
}

// One thread's buffers.
// One thread's buffers, left uninitialised (each is written before it is read; zeroing v cost as much as
// a small convolution).
struct Scratch {
  std::unique_ptr<uint32_t[]> v;      // [16][C2][block] bf16 pairs
  std::unique_ptr<float[]> m;          // [16][kRows][kPanel]
  std::unique_ptr<float[]> out_tiles;  // [4][kPanel], and a register's width more for the last run's loads
  explicit Scratch(const Problem& pr)
      : v(new uint32_t[16 * pr.C2 * pr.block]), m(new float[16 * kRows * kPanel]), out_tiles(new float[4 * kPanel + kLanes]) {}
};

// Steps 1 to 3 for the tiles [p0, p0 + block) (fewer at the end) and every output channel.
void run_block(const Problem& pr, const float* x, const TransformedWeight& w, const Epilogue& add, int64_t p0,
               Scratch& s, float* y) {
  const int64_t nt = std::min(pr.block, pr.P - p0);
  const std::vector<Segment> segments = segments_of(runs_of(pr, p0, nt));
  const std::vector<Span> input_spans = spans_of(pr, p0, nt, pr.PH, 4 - pr.PH, pr.H, pr.W);
  for (int64_t c = 0; c < std::min<int64_t>(2, pr.C); ++c) prefetch(x, pr.C, c, pr.H * pr.W, input_spans, false);
  for (int64_t k2 = 0; k2 < pr.C2; ++k2) {
    for (int64_t c = 2 * k2 + 2; c < std::min(pr.C, 2 * k2 + 4); ++c)  // the next pair's rows, ahead of use
      prefetch(x, pr.C, c, pr.H * pr.W, input_spans, false);
    transform_channel_pair(pr, x, k2, segments, round_up(nt, kPanel), s.v.get());
  }

  std::vector<std::vector<Run>> panel_runs;
  std::vector<std::vector<Span>> panel_spans;  // of the output
  for (int64_t q0 = 0; q0 < nt; q0 += kPanel) {
    panel_runs.push_back(runs_of(pr, p0 + q0, std::min(kPanel, nt - q0)));
    panel_spans.push_back(spans_of(pr, p0 + q0, std::min(kPanel, nt - q0), 0, 2, pr.OH, pr.OW));
  }
  const int64_t panels = static_cast<int64_t>(panel_runs.size());
  for (int64_t oc0 = 0; oc0 < pr.OC; oc0 += kRows)
    for (int64_t q = 0; q < panels; ++q) {
      // Asks for the output rows the next (oc0, q) writes while this one computes.
      const int64_t next_oc0 = q + 1 < panels ? oc0 : oc0 + kRows;
      for (int64_t oc = next_oc0; oc < std::min(pr.OC, next_oc0 + kRows); ++oc)
        prefetch(y, pr.OC, oc, pr.OH * pr.OW, panel_spans[(q + 1) % panels], true);
      for (int64_t xi = 0; xi < 16; ++xi)
        bf16_pairs::gemm_8x48(w.u.data() + (xi * pr.OC8 + oc0) * pr.C2, pr.C2,
                              s.v.get() + xi * pr.C2 * pr.block + q * kPanel, pr.block, pr.C2,
                              s.m.get() + xi * kRows * kPanel, kPanel);
      for (int64_t r = 0; r < kRows && oc0 + r < pr.OC; ++r)
        output_transform(pr, s.m.get() + r * kPanel, add, oc0 + r, p0 + q * kPanel, panel_runs[q],
                         std::min(kPanel, nt - q * kPanel), s.out_tiles.get(), y);
    }
}

}  // namespace
#endif

Tensor conv3x3(const Tensor& x, const TransformedWeight& weight, const Tensor& bias, int64_t ph, int64_t pw,
               const Tensor& add) {
#ifndef DIFFUSE_BF16_PAIR_GEMM
  (void)x, (void)weight, (void)bias, (void)ph, (void)pw, (void)add;
  throw std::logic_error("winograd_bf16::conv3x3: not compiled in (the build's CPU lacks AVX512-BF16)");
#else
  if (x.dtype() != DType::F32 || x.dim() != 4 || x.shape()[1] != weight.C)
    throw std::invalid_argument("winograd_bf16::conv3x3: expected a float32 [N, " + std::to_string(weight.C) +
                                ", H, W] input, got " + describe(x));
  Problem pr{};
  pr.N = x.shape()[0], pr.C = x.shape()[1], pr.H = x.shape()[2], pr.W = x.shape()[3], pr.OC = weight.OC;
  pr.PH = ph, pr.PW = pw, pr.OH = pr.H + 2 * ph - 2, pr.OW = pr.W + 2 * pw - 2;
  if (pr.OH < 1 || pr.OW < 1) throw std::invalid_argument("winograd_bf16::conv3x3: the kernel is larger than the padded input");
  if (add.defined() && !fusable_add(add, pr.N, pr.OC, pr.OH, pr.OW))
    throw std::invalid_argument("winograd_bf16::conv3x3: the added tensor must be float32 [" + std::to_string(pr.N) +
                                ", " + std::to_string(pr.OC) + ", " + std::to_string(pr.OH) + " or 1, " +
                                std::to_string(pr.OW) + " or 1], got " + describe(add));
  pr.TH = (pr.OH + 1) / 2, pr.TW = (pr.OW + 1) / 2, pr.P = pr.N * pr.TH * pr.TW;
  pr.C2 = weight.C2, pr.OC8 = weight.OC8;
  pr.block = std::max<int64_t>(1, kBlockBytes / (16 * pr.C2 * kPanel * 4)) * kPanel;
  const Tensor xc = x.contiguous();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  const Tensor ac = add.defined() ? add.contiguous() : Tensor();
  Epilogue epilogue;
  if (bc.defined()) epilogue.bias = bc.data<float>();
  if (ac.defined()) (ac.shape()[2] == 1 && ac.shape()[3] == 1 ? epilogue.shift : epilogue.residual) = ac.data<float>();
  Tensor y = Tensor::empty({pr.N, pr.OC, pr.OH, pr.OW});
  const float* xp = xc.data<float>();
  float* yp = y.data<float>();
  const int64_t blocks = (pr.P + pr.block - 1) / pr.block;
  if (num_threads() > 1 && blocks > 1) {
#pragma omp parallel
    {
      Scratch s(pr);
#pragma omp for schedule(dynamic)
      for (int64_t b = 0; b < blocks; ++b) run_block(pr, xp, weight, epilogue, b * pr.block, s, yp);
    }
  } else {
    Scratch s(pr);
    for (int64_t b = 0; b < blocks; ++b) run_block(pr, xp, weight, epilogue, b * pr.block, s, yp);
  }
  return y;
#endif
}

bool fusable_add(const Tensor& add, int64_t N, int64_t OC, int64_t OH, int64_t OW) {
  if (add.dtype() != DType::F32 || add.dim() != 4 || add.shape()[0] != N || add.shape()[1] != OC) return false;
  return (add.shape()[2] == OH && add.shape()[3] == OW) || (add.shape()[2] == 1 && add.shape()[3] == 1);
}

}  // namespace diffuse::winograd_bf16
