// conv2d: the public entry points, and float32 on oneDNN 2.6, forward and backward side by side. float64
// runs on im2col + cblas_dgemm in conv2d_reference.cpp; conv2d_geometry.hpp holds what both share.
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
// The tape saves x as it is (plain), not the forward's blocked copy: reordering x again costs 0.3 to 1.3%
// of a forward + backward on bench_conv2d's shapes, while a blocked copy of every conv input, kept until
// the backward, would double the memory the tape holds for them. The weight's copy in the forward's
// layout is kept (the size of the weights, not of the activations), and backward-data reads it, or a
// reorder of it: in bf16 the float32 weight is converted once per step, not once per primitive.
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
// bf16 (tensor/precision.hpp): natively, the plan is built with bf16 for what the primitives read (src and
// weights forward; diff_dst and weights backward-data; src and diff_dst backward-weights) and float32 for
// what they write (dst, diff_src, diff_weights, diff_bias) and for the bias: the reorders from our plain
// float32 tensors into the primitives' layouts do the rounding, and a FrozenWeights scope keeps each weight
// as bf16 in its layout. oneDNN has no bf16 Winograd: tensor/winograd_bf16 computes those convolutions
// (winograd_bf16_weight below says which), and conv2d_add lets it sum a residual as it writes; and
// tensor/pointwise_bf16 computes the 1x1 ones, which oneDNN would reorder in and out. Emulated,
// the plan is float32 and x, the weight and dy are rounded to bf16 values first (and no weight is frozen:
// the rounded copy is new at every call).
#include "tensor/conv2d.hpp"

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <utility>

#include "tensor/autograd.hpp"
#include "tensor/bf16_pair_gemm.hpp"
#include "tensor/conv2d_geometry.hpp"
#include "tensor/flop_counter.hpp"
#include "tensor/frozen_weights.hpp"
#include "tensor/onednn.hpp"
#include "tensor/ops.hpp"
#include "tensor/precision.hpp"
#include "tensor/threads.hpp"
#include "tensor/profile.hpp"
#include "tensor/pointwise_bf16.hpp"
#include "tensor/winograd_bf16.hpp"

namespace diffuse {

using conv2d_internal::Geometry;

namespace {

using tag = dnnl::memory::format_tag;

// Everything oneDNN needs for one convolution shape: the primitives and the reorders around them.
struct Plan {
  // Forward: x (nchw) -> src layout, weight (oihw) -> weights layout, dst layout -> y (nchw).
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  onednn::Reorder x_in, w_in, y_out;

  // Backward data (training plans only): dy (nchw) -> diff_dst layout, weight (the forward's layout, so
  // that the forward's copy is reused: in bf16 the weight is converted once per step) -> weights layout,
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

// bf16: the primitives read bf16 (x, weight, dy) and write float32 (y, dx, dweight, dbias); see the top.
std::shared_ptr<const Plan> make_plan(const Geometry& g, bool has_bias, bool training, bool winograd, bool bf16) {
  using dnnl::algorithm;
  using dnnl::prop_kind;
  using dt = dnnl::memory::data_type;
  auto any = [](const Shape& s, dt type) { return dnnl::memory::desc(onednn::dims_of(s), type, tag::any); };
  const dt in = bf16 ? dt::bf16 : dt::f32;  // what the primitives read
  // Read: x, weight, dy. Written: y, dx (the same shape as x), dweight.
  const dnnl::memory::desc x_any = any(g.x_shape(), in), w_any = any(g.w_shape(), in), y_any = any(g.y_shape(), dt::f32);
  const dnnl::memory::desc dx_any = any(g.x_shape(), dt::f32), dw_any = any(g.w_shape(), dt::f32);
  const dnnl::memory::desc dy_any = any(g.y_shape(), in);
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

  const dnnl::convolution_backward_data::desc data_desc(algorithm::convolution_direct, dx_any, w_any, dy_any,
                                                        strides, padding, padding);
  plan->bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(data_desc, attr, engine, plan->fwd_pd);
  plan->bwd_data = dnnl::convolution_backward_data(plan->bwd_data_pd);
  plan->dy_in_data = onednn::Reorder(y_plain, plan->bwd_data_pd.diff_dst_desc());
  plan->w_in_data = onednn::Reorder(plan->fwd_pd.weights_desc(), plan->bwd_data_pd.weights_desc());
  plan->dx_out = onednn::Reorder(plan->bwd_data_pd.diff_src_desc(), x_plain);

  const dnnl::convolution_backward_weights::desc weights_desc(algorithm::convolution_direct, x_any, dw_any, b_md,
                                                              dy_any, strides, padding, padding);
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
  bool has_bias, training, winograd, bf16;
  int threads;
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const noexcept {
    size_t h = std::hash<int>{}(k.threads) * 16 + k.bf16 * 8 + k.winograd * 4 + k.has_bias * 2 + k.training;
    for (int64_t v : k.sizes) h = h * 1000003u ^ std::hash<int64_t>{}(v);
    return h;
  }
};

// The plan for this shape, built on first use. A network has a few dozen conv shapes; the bound only
// keeps a program that sweeps through shapes from growing without limit.
std::shared_ptr<const Plan> cached_plan(const Geometry& g, bool has_bias, bool training, bool winograd, bool bf16) {
  static std::unordered_map<PlanKey, std::shared_ptr<const Plan>, PlanKeyHash> cache;
  constexpr size_t max_plans = 256;
  const PlanKey key{{g.N, g.C, g.H, g.W, g.OC, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW}, has_bias, training, winograd,
                    bf16, num_threads()};
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() >= max_plans) cache.clear();  // tapes still holding a plan keep it alive
  return cache.emplace(key, make_plan(g, has_bias, training, winograd, bf16)).first->second;
}

// `weight` (contiguous) in the forward layout of `plan`, reordered on its first use in a FrozenWeights scope
// (tensor/frozen_weights.hpp) and kept with the plan, so neither address can be reused while it is kept.
const dnnl::memory& frozen_weight(const std::shared_ptr<const Plan>& plan, const Tensor& weight) {
  struct LaidOut {
    std::shared_ptr<const Plan> plan;
    onednn::Memory memory;
  };
  return frozen_derived<LaidOut>(weight, plan.get(), [&] {
           return LaidOut{plan, plan->w_in.apply(onednn::wrap(weight, plan->w_in.from()))};
         }).memory.memory;
}

// A plain tensor in the layout `reorder` leads to: the tensor's own memory when that is its plain
// layout, else a reordered copy. The tensor must outlive the result.
onednn::Memory lay_out(const onednn::Reorder& reorder, const Tensor& t) {
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
  const onednn::Memory produced = onednn::allocate(reorder.from());
  run(produced.memory);
  reorder(produced.memory, user);
  return out;
}

// Whether this is sampling's case in native bf16: a float32 forward without a tape whose weight is frozen
// (kept in the FrozenWeights scope) and contiguous. There, where oneDNN has no bf16 Winograd, or would
// reorder more than it multiplies, our own kernels run (the two functions below say which).
bool frozen_native_bf16(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return x.dtype() == DType::F32 && !needs_grad({x, weight, bias}) && weights_frozen() && weight.is_contiguous() &&
         precision_mode().bf16_native();
}

// tensor/winograd_bf16's transformed weight where it computes this convolution, else nullptr: the case of
// oneDNN's float32 Winograd below (3x3, stride 1, at least 16 channels and an 8x8 output), on rows of at
// least 16 (one register; at 8x8 it is slower than oneDNN's direct bf16: bench_conv2d_sampling).
const winograd_bf16::TransformedWeight* winograd_bf16_weight(const Geometry& g, const Tensor& x, const Tensor& weight,
                                                             const Tensor& bias) {
  if (!bf16_pairs::available() || !frozen_native_bf16(x, weight, bias)) return nullptr;
  if (g.KH != 3 || g.KW != 3 || g.SH != 1 || g.SW != 1 || g.C < 16 || g.OH < 8 || g.OW < 8 || g.W < 16) return nullptr;
  static const char tag = 0;
  return &frozen_derived<winograd_bf16::TransformedWeight>(weight, &tag,
                                                           [&] { return winograd_bf16::transform_weight(weight); });
}

// tensor/pointwise_bf16's packed weight where it computes this convolution (1x1, stride 1, no padding), else
// nullptr.
const pointwise_bf16::PackedWeight* pointwise_bf16_weight(const Geometry& g, const Tensor& x, const Tensor& weight,
                                                          const Tensor& bias) {
  if (!bf16_pairs::available() || !frozen_native_bf16(x, weight, bias)) return nullptr;
  if (g.KH != 1 || g.KW != 1 || g.SH != 1 || g.SW != 1 || g.PH != 0 || g.PW != 0) return nullptr;
  static const char tag = 0;
  return &frozen_derived<pointwise_bf16::PackedWeight>(weight, &tag, [&] { return pointwise_bf16::pack_weight(weight); });
}

// x [N, C, H, W], weight [OC, C, KH, KW], bias [OC] or undefined -> y [N, OC, OH, OW], float32 (products in
// bf16 when the precision mode says so).
// Backward: dx [N, C, H, W] = backward_data(dy, weight); dweight [OC, C, KH, KW] and dbias [OC] =
// backward_weights(x, dy). Saves x and weight (contiguous).
Tensor conv2d_onednn(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const bool training = needs_grad({x, weight, bias});
  const PrecisionMode precision = precision_mode();
  // (a non-contiguous or rounded weight would be a fresh copy at every call: nothing to keep)
  const bool frozen = !training && weights_frozen() && weight.is_contiguous() && !precision.bf16_emulated();
  // Winograd where it wins: 3x3, stride 1, at least 16 input channels and an 8x8 output. On the
  // ddpm-cifar10-small U-Net at batch 8 (ONEDNN_VERBOSE, one AVX-512 thread) it takes a 64 -> 64 conv at
  // 32x32 from 3.29 to 1.73 ms and 128 -> 128 at 8x8 from 0.72 to 0.56, but 128 -> 128 at 4x4 from 0.16
  // to 0.25 ms and the 3 -> 64 input conv from 0.39 to 1.69 ms.
  const bool winograd = frozen && g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.C >= 16 && g.OH >= 8 &&
                        g.OW >= 8;
  const std::shared_ptr<const Plan> plan = cached_plan(g, bias.defined(), training, winograd, precision.bf16_native());
  Tensor xc, wc, bc;
  {
    NoGradGuard no_grad;
    xc = precision.bf16_emulated() ? round_to_bf16(x) : x.contiguous();
    wc = precision.bf16_emulated() ? round_to_bf16(weight) : weight.contiguous();
    if (bias.defined()) bc = bias.contiguous();
  }
  // The weight in the forward's layout (in bf16 natively: its bf16 copy), which the backward reuses. Where no
  // reorder is needed it is wc's own memory, so the backward below keeps wc alive with it.
  const onednn::Memory w = frozen ? onednn::Memory{frozen_weight(plan, wc), nullptr} : lay_out(plan->w_in, wc);
  const Tensor y = run_into_plain(g.y_shape(), plan->y_out, [&](const dnnl::memory& dst) {
    const onednn::Memory src = lay_out(plan->x_in, xc);
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, src.memory}, {DNNL_ARG_WEIGHTS, w.memory}, {DNNL_ARG_DST, dst}};
    if (bc.defined()) args.insert({DNNL_ARG_BIAS, onednn::wrap(bc, onednn::plain_desc({g.OC}, tag::x))});
    onednn::execute(plan->fwd, plan->fwd_pd, std::move(args));
    count_flops(g.flops());
  });
  if (!training) return y;

  // The backward runs in the precision of the forward (the plan's, and emulated's rounding of dy).
  const bool round_dy = precision.bf16_emulated();
  return record("conv2d", y, {x, weight, bias}, [g, plan, x, weight, bias, xc, wc, w, round_dy](const Tensor& grad) {
    const Tensor dy = round_dy ? round_to_bf16(grad) : grad.contiguous();
    onednn::Memory dy_data;  // dy in the backward-data layout, once computed

    if (x.requires_grad()) {
      dy_data = lay_out(plan->dy_in_data, dy);
      const onednn::Memory w_data = plan->w_in_data.apply(w.memory);
      accumulate_grad(x, run_into_plain(g.x_shape(), plan->dx_out, [&](const dnnl::memory& diff_src) {
                        onednn::execute(plan->bwd_data, plan->bwd_data_pd,
                                        {{DNNL_ARG_DIFF_DST, dy_data.memory},
                                         {DNNL_ARG_WEIGHTS, w_data.memory},
                                         {DNNL_ARG_DIFF_SRC, diff_src}});
                        count_flops(g.flops());
                      }));
    }

    if (weight.requires_grad() || (bias.defined() && bias.requires_grad())) {
      const onednn::Memory dy_weights =
          dy_data && plan->same_dy_layout ? dy_data : lay_out(plan->dy_in_weights, dy);
      const onednn::Memory x_weights = lay_out(plan->x_in_weights, xc);
      const Tensor dbias = bias.defined() ? Tensor::empty({g.OC}) : Tensor();
      const Tensor dweight = run_into_plain(g.w_shape(), plan->dw_out, [&](const dnnl::memory& diff_weights) {
        std::unordered_map<int, dnnl::memory> args{
            {DNNL_ARG_SRC, x_weights.memory}, {DNNL_ARG_DIFF_DST, dy_weights.memory}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights}};
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

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params) {
  ProfileScope scope("conv2d");
  const Geometry g = conv2d_internal::check_conv2d(x, weight, bias, params);
  if (const winograd_bf16::TransformedWeight* u = winograd_bf16_weight(g, x, weight, bias)) {
    count_flops(g.flops());
    return winograd_bf16::conv3x3(x, *u, bias, g.PH, g.PW);
  }
  if (const pointwise_bf16::PackedWeight* w = pointwise_bf16_weight(g, x, weight, bias)) {
    count_flops(g.flops());
    return pointwise_bf16::conv1x1(x, *w, bias);
  }
  return x.dtype() == DType::F32 ? conv2d_onednn(g, x, weight, bias)
                                 : conv2d_internal::conv2d_im2col(g, x, weight, bias);
}

Tensor conv2d_add(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                  const Tensor& add) {
  if (add.defined() && !add.requires_grad()) {
    ProfileScope scope("conv2d");
    const Geometry g = conv2d_internal::check_conv2d(x, weight, bias, Conv2dParams{stride, stride, padding, padding});
    const winograd_bf16::TransformedWeight* u = winograd_bf16_weight(g, x, weight, bias);
    if (u && winograd_bf16::fusable_add(add, g.N, g.OC, g.OH, g.OW)) {
      count_flops(g.flops());
      return winograd_bf16::conv3x3(x, *u, bias, g.PH, g.PW, add);
    }
  }
  const Tensor y = conv2d(x, weight, bias, stride, padding);
  return add.defined() ? y + add : y;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  return conv2d(x, weight, bias, Conv2dParams{stride, stride, padding, padding});
}

}  // namespace diffuse
