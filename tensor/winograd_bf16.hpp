// 3x3 stride-1 convolution in bf16 by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016, "Fast
// Algorithms for Convolutional Neural Networks", section 4), for sampling: a tape-free forward whose
// weight is frozen (tensor/frozen_weights.hpp), in --precision bf16 on a CPU with AVX512-BF16.
//
// Why: oneDNN 2.6 has Winograd for float32 only, so bf16 sampling ran direct convolutions, with 2.25x the
// multiplications of F(2x2, 3x3), plus a reorder of x into oneDNN's blocked bf16 layout and of y back to
// nchw around every convolution. Here the transforms read x and write y in nchw themselves.
//
// The algorithm. Each 2x2 tile of the output is computed from the 4x4 patch d of the (zero-padded) input
// under it and the 3x3 kernel g, one input channel c at a time (Lavin & Gray eq. 7 in two dimensions):
//   Y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A            (. elementwise, 4x4)
//         B^T = | 1  0 -1  0 |     G = |  1    0    0  |     A^T = | 1  1  1  0 |
//               | 0  1  1  0 |         | 1/2  1/2  1/2 |           | 0  1 -1 -1 |
//               | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
//               | 0  1  0 -1 |         |  0    0    1  |
// With U = G g G^T (the transformed weight, [16][OC][C], made once per frozen weight) and V = B^T d B (the
// transformed input, [16][C][tiles]), the sum over c is, for each of the 16 positions xi of the 4x4, one
// GEMM M_xi [OC x tiles] = U_xi [OC x C] V_xi [C x tiles]: 16 multiplications for 4 outputs where the
// direct sum needs 36. U and V are rounded to bf16, the GEMMs run on AVX512-BF16's vdpbf16ps with float32
// accumulation, and the output transform is float32.
//
// Error. Let V+ = |B|^T |d| |B| (the transform of |d| with |B|; V+ >= |V|). Rounding U and V to bf16
// (relative error u = 2^-8 each) moves M_xi by at most (2u + u^2) sum_c |U_xi,c| V+_xi,c, and each y sums
// at most 9 entries of M, with coefficients +-1, so
//   |y - y_exact| <= c sum_{xi: a_xi != 0} sum_c |U_xi,c| V+_xi,c,   c = 2u + u^2 + (C + 16) 2^-23,
// the last term for the float32 sums: the GEMM's accumulation and the transforms' own (V+ rather than |V|,
// because d0 - d2 computed in float32 is off by a fraction of |d0| + |d2|, not of the difference). This is
// wider than the direct bf16 convolution's c sum |x||w|: U and V mix neighbouring values before they are
// rounded. test_winograd_bf16 checks it against float64.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse::winograd_bf16 {

// U = G g G^T of a [OC, C, 3, 3] float32 weight, rounded to bf16, in the layout the GEMM reads: u[(xi * OC8
// + oc) * C2 + k] holds U_xi for (oc, channel 2k) in its low 16 bits and (oc, channel 2k + 1) in its high
// ones; OC8 = OC rounded up to 8, C2 = ceil(C / 2), zero where oc or the channel is past the end.
struct TransformedWeight {
  int64_t OC = 0, C = 0, OC8 = 0, C2 = 0;
  std::vector<uint32_t> u;
};
TransformedWeight transform_weight(const Tensor& weight);

// y [N, OC, OH, OW] = conv2d(x, weight, bias, stride 1, padding (ph, pw)) + add for x [N, C, H, W] float32 (any
// strides), the weight as transformed above, bias [OC] or undefined, and `add` undefined or as
// fusable_add says, summed as y is written; OH = H + 2 ph - 2, OW = W + 2 pw - 2. No tape. Throws
// std::logic_error where bf16_pairs::available() is false, std::invalid_argument for an input or an add of another shape.
Tensor conv3x3(const Tensor& x, const TransformedWeight& weight, const Tensor& bias, int64_t ph, int64_t pw,
               const Tensor& add = Tensor());

// Whether `add` can be summed into an [N, OC, OH, OW] output as it is written: float32 [N, OC, OH, OW]
// (a residual) or [N, OC, 1, 1] (a shift per sample and channel).
bool fusable_add(const Tensor& add, int64_t N, int64_t OC, int64_t OH, int64_t OW);

}  // namespace diffuse::winograd_bf16
