// conv2d: float32 on oneDNN 2.6, float64 on im2col + cblas_dgemm. Forward and backward side by side.
//
// ---- float32: oneDNN -------------------------------------------------------------------------------
// The oneDNN 2.6 recipe, for each of the three directions: an operation descriptor
// (convolution_forward::desc, convolution_backward_data::desc, convolution_backward_weights::desc),
// then a primitive descriptor, which picks the implementation and the memory layouts, then the
// primitive. The big tensors are described with format_tag::any, so the primitive picks the layout it
// computes fastest in; on AVX2 that is channels blocked by 8 ("nChw8c" for activations, "OIhw8i8o" for
// weights). The backward primitive descriptors are given the forward one as a hint, so they pick
// matching layouts. Creating all this costs about a millisecond (the kernels are JIT-compiled), so it
// is done once per shape: a Plan holds the three primitives and the reorders between our plain layouts
// (x, y: nchw; weight: oihw) and theirs, and a cache keyed by shape keeps the plans.
//
// Forward with a tape (prop_kind::forward_training):
//   y = conv(x, weight) + bias       x and weight reordered into the forward's layouts, y back to nchw
// Backward, with dy = d(loss)/dy [N, OC, OH, OW]:
//   dx          = backward_data(dy, weight)        [N, C, H, W]
//   dW, dbias   = backward_weights(x, dy)          [OC, C, KH, KW], [OC]
// each operand reordered into that primitive's layout; dy only once when both read it in the same one.
// The tape saves x and weight as they are (plain), not the forward's blocked copies: reordering x again
// costs 0.3 to 1.3% of a forward + backward on bench_conv2d's shapes, while a blocked copy of every conv
// input, kept until the backward, would double the memory the tape holds for them.
// Without a tape (prop_kind::forward_inference) nothing is saved and no backward plan is built.
//
// Frozen weights (sampling, evaluation): inside a FrozenWeights scope a tape-free forward keeps each
// weight in its primitive's layout, keyed by the weight's storage, instead of reordering it at every
// call, and 3x3 stride-1 kernels use oneDNN's Winograd (F(4x4, 3x3) or F(2x2, 3x3)) where it has one
// (AVX-512): its weight transform costs several times the convolution, so it only pays once the
// transformed weight is kept. On one AVX-512 core this takes a ddpm-cifar10-small U-Net forward at batch 8 from 194.6 to
// 135.5 ms (diffuse benchmark --workload unet-sample --batch 8 --threads 1). Winograd's rounding
// differs from the direct sum by well under 1e-5 of max |y| (test_conv2d checks that bound).
//
// ---- float64: im2col + cblas_dgemm ---------------------------------------------------------------
// oneDNN has no double-precision convolution, and gradient checks of whole networks run in double, so
// float64 has a straightforward implementation. For one sample, the matrix cols [C*KH*KW, OH*OW] holds
// in row (c, i, j) and column (p, q) the input under kernel tap (i, j) of channel c when the kernel sits
// at output position (p, q): x[c, p*SH - PH + i, q*SW - PW + j], or 0 in the padding. Then per sample
//   y[n]   [OC, OH*OW]    = W [OC, C*KH*KW] @ cols + bias                       forward
//   dcols  [C*KH*KW, OH*OW] = W^T @ dy[n],   dx[n] = col2im(dcols)              backward data
//   dW     [OC, C*KH*KW] += dy[n] @ cols^T,  dbias[o] += sum over (p, q) of dy[n, o]   backward weights
// where col2im is the adjoint of im2col: it adds each column entry back onto the input element it came from.
#include "tensor/conv2d.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/autograd.hpp"
#include "tensor/flop_counter.hpp"
#include "tensor/onednn.hpp"
#include "tensor/threads.hpp"

namespace diffuse {

namespace {

using tag = dnnl::memory::format_tag;

// Every size of one convolution.
struct Geometry {
  int64_t N, C, H, W;    // input
  int64_t OC, KH, KW;    // weight [OC, C, KH, KW]
  int64_t SH, SW, PH, PW;
  int64_t OH, OW;        // output
  Shape x_shape() const { return {N, C, H, W}; }
  Shape w_shape() const { return {OC, C, KH, KW}; }
  Shape y_shape() const { return {N, OC, OH, OW}; }
  int64_t flops() const { return 2 * N * OC * OH * OW * C * KH * KW; }  // of each of fwd, bwd-data, bwd-weights
};

Geometry check_conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  auto fail = [&](const std::string& why) {
    shape_error("conv2d", "input " + describe(x) + ", weight " + describe(weight) + ", bias " + describe(bias) +
                              " (stride " + std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) +
                              ", padding " + std::to_string(p.pad_h) + "x" + std::to_string(p.pad_w) + "): " + why);
  };
  if (!x.defined() || !weight.defined()) fail("input and weight must be defined");
  if (x.dim() != 4) fail("the input must be [N, C, H, W]");
  if (weight.dim() != 4) fail("the weight must be [OC, C, KH, KW]");
  if (x.dtype() != DType::F32 && x.dtype() != DType::F64) fail("expected float32 or float64 tensors");
  if (weight.dtype() != x.dtype() || (bias.defined() && bias.dtype() != x.dtype()))
    fail("input, weight and bias must have one dtype");
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  if (xs[1] != ws[1])
    fail("the input has " + std::to_string(xs[1]) + " channels but the weight expects " + std::to_string(ws[1]));
  if (bias.defined() && bias.shape() != Shape{ws[0]}) fail("the bias must be [" + std::to_string(ws[0]) + "]");
  for (int64_t d : xs)
    if (d <= 0) fail("every input size must be positive");
  for (int64_t d : ws)
    if (d <= 0) fail("every weight size must be positive");
  if (p.stride_h < 1 || p.stride_w < 1) fail("strides must be at least 1");
  if (p.pad_h < 0 || p.pad_w < 0) fail("padding must not be negative");
  if (xs[2] + 2 * p.pad_h < ws[2] || xs[3] + 2 * p.pad_w < ws[3]) fail("the kernel is larger than the padded input");
  Geometry g{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], p.stride_h, p.stride_w, p.pad_h, p.pad_w, 0, 0};
  g.OH = (g.H + 2 * g.PH - g.KH) / g.SH + 1;
  g.OW = (g.W + 2 * g.PW - g.KW) / g.SW + 1;
  return g;
}

// ================================ float32: oneDNN ================================================

// Everything oneDNN needs for one convolution shape: the primitives and the reorders around them.
struct Plan {
  // Forward: x (nchw) -> src layout, weight (oihw) -> weights layout, dst layout -> y (nchw).
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  onednn::Reorder x_in, w_in, y_out;

  // Backward data (training plans only): dy (nchw) -> diff_dst layout, weight (oihw) -> weights layout,
  // diff_src layout -> dx (nchw).
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_data bwd_data;
  onednn::Reorder dy_in_data, w_in_data, dx_out;

  // Backward weights (training plans only): dy (nchw) -> diff_dst layout, x (nchw) -> src layout,
  // diff_weights layout -> dW (oihw). The bias gradient is plain [OC].
  dnnl::convolution_backward_weights::primitive_desc bwd_weights_pd;
  dnnl::convolution_backward_weights bwd_weights;
  onednn::Reorder dy_in_weights, x_in_weights, dw_out;

  bool same_dy_layout = false;  // both backward primitives read dy in one layout: reorder it once
};

std::shared_ptr<const Plan> make_plan(const Geometry& g, bool has_bias, bool training, bool winograd) {
  using dnnl::algorithm;
  using dnnl::prop_kind;
  auto any = [](const Shape& s) {
    return dnnl::memory::desc(onednn::dims_of(s), dnnl::memory::data_type::f32, tag::any);
  };
  const dnnl::memory::desc x_any = any(g.x_shape()), w_any = any(g.w_shape()), y_any = any(g.y_shape());
  const dnnl::memory::desc x_plain = onednn::plain_desc(g.x_shape(), tag::nchw);
  const dnnl::memory::desc w_plain = onednn::plain_desc(g.w_shape(), tag::oihw);
  const dnnl::memory::desc y_plain = onednn::plain_desc(g.y_shape(), tag::nchw);
  // A zero descriptor tells oneDNN there is no bias.
  const dnnl::memory::desc b_md = has_bias ? onednn::plain_desc({g.OC}, tag::x) : dnnl::memory::desc();
  const dnnl::memory::dims strides{g.SH, g.SW}, padding{g.PH, g.PW};  // padding_l = padding_r
  const dnnl::primitive_attr attr = onednn::primitive_attr_with_user_scratchpad();
  const dnnl::engine& engine = onednn::engine();

  auto plan = std::make_shared<Plan>();
  auto forward_pd = [&](algorithm algo) {
    const dnnl::convolution_forward::desc fwd_desc(
        training ? prop_kind::forward_training : prop_kind::forward_inference, algo, x_any, w_any, b_md, y_any,
        strides, padding, padding);
    return dnnl::convolution_forward::primitive_desc(fwd_desc, attr, engine);
  };
  if (winograd) {
    try {
      plan->fwd_pd = forward_pd(algorithm::convolution_winograd);
    } catch (const dnnl::error&) {  // no Winograd kernel for this machine or shape: direct
    }
  }
  if (!plan->fwd_pd) plan->fwd_pd = forward_pd(algorithm::convolution_direct);
  plan->fwd = dnnl::convolution_forward(plan->fwd_pd);
  plan->x_in = onednn::Reorder(x_plain, plan->fwd_pd.src_desc());
  plan->w_in = onednn::Reorder(w_plain, plan->fwd_pd.weights_desc());
  plan->y_out = onednn::Reorder(plan->fwd_pd.dst_desc(), y_plain);
  if (!training) return plan;

  const dnnl::convolution_backward_data::desc data_desc(algorithm::convolution_direct, x_any, w_any, y_any,
                                                        strides, padding, padding);
  plan->bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(data_desc, attr, engine, plan->fwd_pd);
  plan->bwd_data = dnnl::convolution_backward_data(plan->bwd_data_pd);
  plan->dy_in_data = onednn::Reorder(y_plain, plan->bwd_data_pd.diff_dst_desc());
  plan->w_in_data = onednn::Reorder(w_plain, plan->bwd_data_pd.weights_desc());
  plan->dx_out = onednn::Reorder(plan->bwd_data_pd.diff_src_desc(), x_plain);

  const dnnl::convolution_backward_weights::desc weights_desc(algorithm::convolution_direct, x_any, w_any, b_md,
                                                              y_any, strides, padding, padding);
  plan->bwd_weights_pd =
      dnnl::convolution_backward_weights::primitive_desc(weights_desc, attr, engine, plan->fwd_pd);
  plan->bwd_weights = dnnl::convolution_backward_weights(plan->bwd_weights_pd);
  plan->dy_in_weights = onednn::Reorder(y_plain, plan->bwd_weights_pd.diff_dst_desc());
  plan->x_in_weights = onednn::Reorder(x_plain, plan->bwd_weights_pd.src_desc());
  plan->dw_out = onednn::Reorder(plan->bwd_weights_pd.diff_weights_desc(), w_plain);
  plan->same_dy_layout = plan->bwd_data_pd.diff_dst_desc() == plan->bwd_weights_pd.diff_dst_desc();
  return plan;
}

// What identifies a plan. The thread count is part of it because oneDNN partitions the work when the
// primitive is created.
struct PlanKey {
  std::array<int64_t, 11> sizes;  // N, C, H, W, OC, KH, KW, SH, SW, PH, PW
  bool has_bias, training, winograd;
  int threads;
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const noexcept {
    size_t h = std::hash<int>{}(k.threads) * 8 + k.winograd * 4 + k.has_bias * 2 + k.training;
    for (int64_t v : k.sizes) h = h * 1000003u ^ std::hash<int64_t>{}(v);
    return h;
  }
};

// The plan for this shape, built on first use. A network has a few dozen conv shapes; the bound only
// keeps a program that sweeps through shapes from growing without limit.
std::shared_ptr<const Plan> cached_plan(const Geometry& g, bool has_bias, bool training, bool winograd) {
  static std::unordered_map<PlanKey, std::shared_ptr<const Plan>, PlanKeyHash> cache;
  constexpr size_t max_plans = 256;
  const PlanKey key{{g.N, g.C, g.H, g.W, g.OC, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW}, has_bias, training, winograd,
                    num_threads()};
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() >= max_plans) cache.clear();  // tapes still holding a plan keep it alive
  return cache.emplace(key, make_plan(g, has_bias, training, winograd)).first->second;
}

// The weights kept in their primitives' layouts while a FrozenWeights scope lives. An entry holds the
// weight tensor and the plan, so neither address can be reused by another while the entry exists.
struct FrozenWeightCache {
  struct Entry {
    Tensor weight;
    std::shared_ptr<const Plan> plan;
    dnnl::memory laid_out;
  };
  int depth = 0;  // nested scopes
  std::map<std::pair<const void*, const Plan*>, Entry> entries;
};

FrozenWeightCache& frozen_weights() {
  static FrozenWeightCache cache;
  return cache;
}

// `weight` (contiguous) in the forward layout of `plan`, reordered on its first use in the scope.
dnnl::memory frozen_weight(const std::shared_ptr<const Plan>& plan, const Tensor& weight) {
  auto& entries = frozen_weights().entries;
  const auto key = std::make_pair(static_cast<const void*>(weight.data<float>()), plan.get());
  if (auto it = entries.find(key); it != entries.end()) return it->second.laid_out;
  dnnl::memory laid_out = onednn::wrap(weight, plan->w_in.from());
  if (plan->w_in.needed()) {
    laid_out = onednn::allocate(plan->w_in.to());
    plan->w_in(onednn::wrap(weight, plan->w_in.from()), laid_out);
  }
  entries.emplace(key, FrozenWeightCache::Entry{weight, plan, laid_out});
  return laid_out;
}

// A plain tensor in the layout `reorder` leads to: the tensor's own memory when that is its plain
// layout, else a reordered copy. The tensor must outlive the result.
dnnl::memory lay_out(const onednn::Reorder& reorder, const Tensor& t) {
  return reorder.apply(onednn::wrap(t, reorder.from()));
}

// out (a fresh plain tensor of `shape`) = a primitive's result. `run` executes the primitive on the
// memory it is given: `out` itself when the primitive's layout is plain, else a buffer in that layout,
// which `reorder` then copies into `out`.
template <class Run>
Tensor run_into_plain(const Shape& shape, const onednn::Reorder& reorder, Run run) {
  Tensor out = Tensor::empty(shape);
  const dnnl::memory user = onednn::wrap(out, reorder.to());
  if (!reorder.needed()) {
    run(user);
    return out;
  }
  const dnnl::memory produced = onednn::allocate(reorder.from());
  run(produced);
  reorder(produced, user);
  return out;
}

// x [N, C, H, W], weight [OC, C, KH, KW], bias [OC] or undefined -> y [N, OC, OH, OW], float32.
// Backward: dx [N, C, H, W] = backward_data(dy, weight); dweight [OC, C, KH, KW] and dbias [OC] =
// backward_weights(x, dy). Saves x and weight (contiguous).
Tensor conv2d_onednn(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const bool training = needs_grad({x, weight, bias});
  // (a non-contiguous weight would be a fresh copy at every call: nothing to keep)
  const bool frozen = !training && frozen_weights().depth > 0 && weight.is_contiguous();
  // Winograd where it wins: 3x3, stride 1, at least 16 input channels and an 8x8 output. On the
  // ddpm-cifar10-small U-Net at batch 8 (ONEDNN_VERBOSE, one AVX-512 thread) it takes a 64 -> 64 conv at
  // 32x32 from 3.29 to 1.73 ms and 128 -> 128 at 8x8 from 0.72 to 0.56, but 128 -> 128 at 4x4 from 0.16
  // to 0.25 ms and the 3 -> 64 input conv from 0.39 to 1.69 ms.
  const bool winograd = frozen && g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.C >= 16 && g.OH >= 8 &&
                        g.OW >= 8;
  const std::shared_ptr<const Plan> plan = cached_plan(g, bias.defined(), training, winograd);
  Tensor xc, wc, bc;
  {
    NoGradGuard no_grad;
    xc = x.contiguous();
    wc = weight.contiguous();
    if (bias.defined()) bc = bias.contiguous();
  }
  const Tensor y = run_into_plain(g.y_shape(), plan->y_out, [&](const dnnl::memory& dst) {
    const dnnl::memory w = frozen ? frozen_weight(plan, wc) : lay_out(plan->w_in, wc);
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, lay_out(plan->x_in, xc)}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}};
    if (bc.defined()) args.insert({DNNL_ARG_BIAS, onednn::wrap(bc, onednn::plain_desc({g.OC}, tag::x))});
    onednn::execute(plan->fwd, plan->fwd_pd, std::move(args));
    count_flops(g.flops());
  });
  if (!training) return y;

  return record("conv2d", y, {x, weight, bias}, [g, plan, x, weight, bias, xc, wc](const Tensor& grad) {
    const Tensor dy = grad.contiguous();
    dnnl::memory dy_data;  // dy in the backward-data layout, once computed

    if (x.requires_grad()) {
      dy_data = lay_out(plan->dy_in_data, dy);
      const dnnl::memory w_data = lay_out(plan->w_in_data, wc);
      accumulate_grad(x, run_into_plain(g.x_shape(), plan->dx_out, [&](const dnnl::memory& diff_src) {
                        onednn::execute(plan->bwd_data, plan->bwd_data_pd,
                                        {{DNNL_ARG_DIFF_DST, dy_data},
                                         {DNNL_ARG_WEIGHTS, w_data},
                                         {DNNL_ARG_DIFF_SRC, diff_src}});
                        count_flops(g.flops());
                      }));
    }

    if (weight.requires_grad() || (bias.defined() && bias.requires_grad())) {
      const dnnl::memory dy_weights =
          dy_data && plan->same_dy_layout ? dy_data : lay_out(plan->dy_in_weights, dy);
      const dnnl::memory x_weights = lay_out(plan->x_in_weights, xc);
      const Tensor dbias = bias.defined() ? Tensor::empty({g.OC}) : Tensor();
      const Tensor dweight = run_into_plain(g.w_shape(), plan->dw_out, [&](const dnnl::memory& diff_weights) {
        std::unordered_map<int, dnnl::memory> args{
            {DNNL_ARG_SRC, x_weights}, {DNNL_ARG_DIFF_DST, dy_weights}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights}};
        if (dbias.defined())
          args.insert({DNNL_ARG_DIFF_BIAS, onednn::wrap(dbias, onednn::plain_desc({g.OC}, tag::x))});
        onednn::execute(plan->bwd_weights, plan->bwd_weights_pd, std::move(args));
        count_flops(g.flops());
      });
      accumulate_grad(weight, dweight);
      if (bias.defined()) accumulate_grad(bias, dbias);
    }
  });
}

// ================================ float64: im2col + cblas_dgemm ==================================

// cols [C*KH*KW, OH*OW] = the patches of one sample x_n [C, H, W] (zero in the padding).
void im2col(const Geometry& g, const double* x, double* cols) {
  const int64_t P = g.OH * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.KH; ++i)
      for (int64_t j = 0; j < g.KW; ++j) {
        double* row = cols + ((c * g.KH + i) * g.KW + j) * P;
        for (int64_t p = 0; p < g.OH; ++p) {
          const int64_t h = p * g.SH - g.PH + i;
          for (int64_t q = 0; q < g.OW; ++q) {
            const int64_t w = q * g.SW - g.PW + j;
            row[p * g.OW + q] = h >= 0 && h < g.H && w >= 0 && w < g.W ? x[(c * g.H + h) * g.W + w] : 0.0;
          }
        }
      }
}

// x_n [C, H, W] += col2im(cols): the adjoint of im2col (entries that came from the padding are dropped).
void col2im_add(const Geometry& g, const double* cols, double* x) {
  const int64_t P = g.OH * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.KH; ++i)
      for (int64_t j = 0; j < g.KW; ++j) {
        const double* row = cols + ((c * g.KH + i) * g.KW + j) * P;
        for (int64_t p = 0; p < g.OH; ++p) {
          const int64_t h = p * g.SH - g.PH + i;
          if (h < 0 || h >= g.H) continue;
          for (int64_t q = 0; q < g.OW; ++q) {
            const int64_t w = q * g.SW - g.PW + j;
            if (w >= 0 && w < g.W) x[(c * g.H + h) * g.W + w] += row[p * g.OW + q];
          }
        }
      }
}

// Row-major C [M, N] = op(A) [M, K] @ op(B) [K, N] + beta C, op a transpose where asked.
void dgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda,
           const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  count_flops(2 * M * N * K);
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
              1.0, A, lda, B, ldb, beta, C, ldc);
}

// x [N, C, H, W], weight [OC, C, KH, KW], bias [OC] or undefined -> y [N, OC, OH, OW], float64, per sample
// through cols = im2col(x[n]) [CKK, P] (CKK = C*KH*KW, P = OH*OW):
//   y[n] = W cols + bias;   dx[n] = col2im(W^T dy[n]);   dW = sum_n dy[n] cols^T;   dbias = sum of dy over n, P.
// Saves x and weight (contiguous); the backward recomputes cols.
Tensor conv2d_im2col(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const int64_t P = g.OH * g.OW, CKK = g.C * g.KH * g.KW;
  const int64_t x_step = g.C * g.H * g.W, y_step = g.OC * P;
  Tensor xc, wc, bc;
  {
    NoGradGuard no_grad;
    xc = x.contiguous();
    wc = weight.contiguous();
    if (bias.defined()) bc = bias.contiguous();
  }
  // y[n] [OC, P] = bias (broadcast over P), then += W [OC, CKK] @ cols [CKK, P].
  Tensor y = Tensor::empty(g.y_shape(), DType::F64);
  {
    std::vector<double> cols(CKK * P);
    const double* xv = xc.data<double>();
    const double* wv = wc.data<double>();
    double* yv = y.data<double>();
    for (int64_t n = 0; n < g.N; ++n) {
      im2col(g, xv + n * x_step, cols.data());
      double* yn = yv + n * y_step;
      for (int64_t o = 0; o < g.OC; ++o)
        std::fill(yn + o * P, yn + (o + 1) * P, bc.defined() ? bc.data<double>()[o] : 0.0);
      dgemm(false, false, g.OC, P, CKK, wv, CKK, cols.data(), P, 1.0, yn, P);
    }
  }
  return record("conv2d", y, {x, weight, bias}, [g, x, weight, bias, xc, wc](const Tensor& grad) {
    const int64_t P = g.OH * g.OW, CKK = g.C * g.KH * g.KW;
    const int64_t x_step = g.C * g.H * g.W, y_step = g.OC * P;
    const Tensor dy = grad.contiguous();
    const double* dyv = dy.data<double>();
    std::vector<double> cols(CKK * P);
    if (x.requires_grad()) {
      // dcols [CKK, P] = W^T @ dy[n], then scattered back onto dx[n].
      Tensor dx = Tensor::zeros(g.x_shape(), DType::F64);
      for (int64_t n = 0; n < g.N; ++n) {
        dgemm(true, false, CKK, P, g.OC, wc.data<double>(), CKK, dyv + n * y_step, P, 0.0, cols.data(), P);
        col2im_add(g, cols.data(), dx.data<double>() + n * x_step);
      }
      accumulate_grad(x, dx);
    }
    if (weight.requires_grad() || (bias.defined() && bias.requires_grad())) {
      // dW [OC, CKK] += dy[n] [OC, P] @ cols[n]^T;  dbias[o] += sum over P of dy[n, o].
      Tensor dw = Tensor::zeros(g.w_shape(), DType::F64), db = Tensor::zeros({g.OC}, DType::F64);
      for (int64_t n = 0; n < g.N; ++n) {
        im2col(g, xc.data<double>() + n * x_step, cols.data());
        const double* dyn = dyv + n * y_step;
        dgemm(false, true, g.OC, CKK, P, dyn, P, cols.data(), P, 1.0, dw.data<double>(), CKK);
        for (int64_t o = 0; o < g.OC; ++o)
          for (int64_t k = 0; k < P; ++k) db.data<double>()[o] += dyn[o * P + k];
      }
      accumulate_grad(weight, dw);
      if (bias.defined()) accumulate_grad(bias, db);
    }
  });
}

}  // namespace

FrozenWeights::FrozenWeights() { ++frozen_weights().depth; }

FrozenWeights::~FrozenWeights() {
  if (--frozen_weights().depth == 0) frozen_weights().entries.clear();
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params) {
  const Geometry g = check_conv2d(x, weight, bias, params);
  return x.dtype() == DType::F32 ? conv2d_onednn(g, x, weight, bias) : conv2d_im2col(g, x, weight, bias);
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  return conv2d(x, weight, bias, Conv2dParams{stride, stride, padding, padding});
}

}  // namespace diffuse
