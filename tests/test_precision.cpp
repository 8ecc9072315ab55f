// bf16 mixed precision (tensor/precision.hpp): each op that multiplies (matmul, linear, conv2d, attention),
// forward and backward, run in bf16 against the same op in float64 on the same float32 inputs, on awkward
// shapes (odd sizes, not multiples of 16, transposed views, broadcast batches), within the error that
// rounding the inputs to bf16 predicts; then a tiny conv + attention + linear model trained 200 steps in
// bf16 against the float32 run.
//
// The bound. bf16 keeps 8 significant bits: rounding to nearest gives a relative error of at most
// u = 2^-8 per operand, so a product a*b is off by at most (2u + u^2)|a||b|, and a dot product of length K
// accumulated in float32 by at most
//   |err| <= c(K) sum_k |a_k||b_k|,   c(K) = 2u + u^2 + K 2^-23
// (the last term: float32 accumulation, twice the usual gamma_K for slack). Each check computes the
// elementwise bound from the absolute values of the inputs (|a| @ |b| for a GEMM, conv2d(|x|, |w|) for a
// convolution, and their transposes for the backward), requires |bf16 - float64| <= bound everywhere,
// and requires the error to be non-zero somewhere: a bf16 op that silently ran in float32 fails.
//
// Both bf16 paths are checked: native (oneDNN's bf16 primitives) where the CPU has AVX512-BF16 or AMX
// (otherwise the test prints why it skips that path), and emulated (rounding into float32 kernels) always.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "gradcheck.hpp"
#include "nn/arena.hpp"
#include "nn/layers.hpp"
#include "nn/optim.hpp"
#include "tensor/attention.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/gemm.hpp"
#include "tensor/ops.hpp"
#include "tensor/precision.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {

constexpr double u = 1.0 / 256;  // 2^-8
double c(int64_t K) { return 2 * u + u * u + static_cast<double>(K) * std::ldexp(1.0, -23); }

struct NamedMode {
  std::string name;
  PrecisionMode mode;
};

// The bf16 paths this machine can run: native where oneDNN has bf16 here, emulated always.
std::vector<NamedMode> bf16_modes() {
  std::vector<NamedMode> modes;
  const std::string missing = bf16_missing_feature();
  if (missing.empty())
    modes.push_back({"native", {Precision::BF16, false}});
  else
    MESSAGE("bf16 native path NOT tested on this machine (oneDNN ISA " << onednn_cpu_isa() << "): it lacks " << missing);
  modes.push_back({"emulated", {Precision::BF16, true}});
  return modes;
}

// A float32 tensor of n normal values (requires grad) and the float64 tensor of the same numbers.
struct Pair {
  Tensor f32, f64;
};
Pair pair(const Shape& shape, uint64_t seed, double scale = 1.0) {
  const Values v = random_values(numel(shape), seed, scale);
  return {tensor_of(v, shape, DType::F32), tensor_of(v, shape, DType::F64)};
}

Tensor absd(const Tensor& t) {  // |t| in float64, off the tape
  NoGradGuard no_grad;
  return abs(t.detach().to(DType::F64));
}

// |actual - reference| <= bound, elementwise, and actual != reference somewhere.
void check_bound(const Tensor& actual, const Tensor& reference, const Tensor& bound, const std::string& what) {
  REQUIRE(actual.defined());
  REQUIRE(actual.shape() == reference.shape());
  REQUIRE(bound.shape() == reference.shape());
  const Values a = actual.to_vector(), r = reference.to_vector(), b = bound.to_vector();
  double worst = 0, max_err = 0;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(a[i] - r[i]);
    max_err = std::max(max_err, std::isnan(err) ? INFINITY : err);
    const double ratio = err == 0 ? 0 : err / b[i];
    if (!(ratio <= worst)) {
      worst = std::isnan(ratio) ? INFINITY : ratio;
      at = i;
    }
  }
  std::ostringstream o;
  o << what << ": max |err| / bound = " << worst << " at element " << at << " (got " << a[at] << ", float64 " << r[at]
    << ", bound " << b[at] << "); max |err| " << max_err;
  MESSAGE(o.str());
  CHECK(worst <= 1.0);
  CHECK(max_err > 0);  // the op did round its inputs
}

}  // namespace

TEST_CASE("bf16 conversions: round to nearest even, exact on bf16 values, NaN stays NaN") {
  CHECK(to_bf16(1.0f) == 0x3f80);
  CHECK(round_to_bf16(1.0f + 1.0f / 256) == 1.0f);                   // a tie rounds to even (down)
  CHECK(round_to_bf16(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256);      // a tie rounds to even (up)
  CHECK(round_to_bf16(1.0f + 1.0f / 256 + 1.0f / 4096) == 1.0f + 2.0f / 256);  // above the tie: up
  CHECK(std::isnan(round_to_bf16(NAN)));
  CHECK(round_to_bf16(INFINITY) == INFINITY);
  const Values v = random_values(1000, 3);
  for (double x : v) {
    const float r = round_to_bf16(static_cast<float>(x));
    CHECK(std::abs(r - x) <= u * std::abs(x));  // relative rounding error at most 2^-8 ...
    CHECK(round_to_bf16(r) == r);               // ... and bf16 values are kept exactly
  }
  std::vector<float> in(v.begin(), v.end()), out(v.size());
  round_to_bf16(in.data(), out.data(), static_cast<int64_t>(in.size()));
  for (size_t i = 0; i < in.size(); ++i) CHECK(out[i] == round_to_bf16(in[i]));
}

TEST_CASE("bf16 matmul forward and backward within c(K) |a| |b| of float64") {
  struct Case {
    Shape a, b;
    bool transpose_a;
  };
  // Odd sizes, vectors, a transposed view, a broadcast batch.
  const std::vector<Case> cases = {{{1, 1}, {1, 1}, false},       {{3, 17}, {17, 5}, false},
                                   {{33, 31}, {31, 47}, false},   {{129, 65}, {129, 19}, true},
                                   {{2, 3, 5, 7}, {7, 9}, false}, {{2, 1, 6, 13}, {3, 13, 11}, false}};
  for (const NamedMode& m : bf16_modes())
    for (const Case& cs : cases) {
      const Pair a = pair(cs.a, 1), b = pair(cs.b, 2);
      const auto op_a = [&](const Tensor& t) { return cs.transpose_a ? t.transpose(-1, -2) : t; };
      const int64_t K = op_a(a.f64).shape().back();
      Tensor y;
      {
        PrecisionScope bf16(m.mode);
        y = matmul(op_a(a.f32), b.f32);
      }
      const Tensor y64 = matmul(op_a(a.f64), b.f64);
      const Pair g = pair(y64.shape(), 3);
      const std::string what = m.name + " matmul " + to_string(op_a(a.f64).shape()) + " @ " + to_string(cs.b);
      check_bound(y, y64, c(K) * matmul(absd(op_a(a.f64)), absd(b.f64)), what + " forward");
      {
        PrecisionScope bf16(m.mode);
        sum(y * g.f32).backward();
      }
      sum(y64 * g.f64).backward();
      // da = g b^T, db = a^T g, each summed over the batch dims it was broadcast along: the sums' lengths
      // are y's elements over the operand's, times the operand's K.
      const int64_t Ka = y64.numel() * K / a.f64.numel(), Kb = y64.numel() * K / b.f64.numel();
      const Tensor da_bound = sum_to(matmul(absd(g.f64), absd(b.f64).transpose(-1, -2)), op_a(a.f64).shape());
      const Tensor db_bound = sum_to(matmul(absd(op_a(a.f64)).transpose(-1, -2), absd(g.f64)), cs.b);
      check_bound(a.f32.grad(), a.f64.grad(), c(Ka) * (cs.transpose_a ? da_bound.transpose(-1, -2) : da_bound),
                  what + " d(a)");
      check_bound(b.f32.grad(), b.f64.grad(), c(Kb) * db_bound, what + " d(b)");
    }
}

TEST_CASE("bf16 linear forward and backward within c(K) |x| |W|^T (+ |bias|) of float64") {
  for (const NamedMode& m : bf16_modes())
    for (const auto& [rows_shape, in, out] : std::vector<std::tuple<Shape, int64_t, int64_t>>{
             {{1}, 1, 1}, {{2, 5}, 37, 19}, {{67}, 130, 33}}) {
      Shape xs = rows_shape;
      xs.push_back(in);
      const Pair x = pair(xs, 4), w = pair({out, in}, 5, 0.3), bias = pair({out}, 6);
      Tensor y;
      const int64_t copies_before = bf16_matrices_made();
      {
        PrecisionScope bf16(m.mode);
        y = linear(x.f32, w.f32, bias.f32);
      }
      CHECK(bf16_matrices_made() == copies_before + 1);  // the weight's bf16 copy
      const Tensor y64 = linear(x.f64, w.f64, bias.f64);
      const std::string what = m.name + " linear " + to_string(xs) + " -> " + std::to_string(out);
      {
        // Sampling's path: no tape, and a FrozenWeights scope keeps the weight's bf16 copy: one copy for
        // two calls, and the very numbers of the taped call.
        NoGradGuard no_grad;
        FrozenWeights frozen;
        PrecisionScope bf16(m.mode);
        const int64_t made = bf16_matrices_made();
        const Tensor y1 = linear(x.f32, w.f32, bias.f32), y2 = linear(x.f32, w.f32, bias.f32);
        CHECK(bf16_matrices_made() == made + 1);
        CHECK(y1.to_vector() == y.to_vector());
        CHECK(y2.to_vector() == y.to_vector());
      }
      check_bound(y, y64, c(in + 1) * (linear(absd(x.f64), absd(w.f64)) + absd(bias.f64)), what + " forward");
      const Pair g = pair(y64.shape(), 7);
      const int64_t copies_before_backward = bf16_matrices_made();
      {
        PrecisionScope bf16(m.mode);
        sum(y * g.f32).backward();
      }
      sum(y64 * g.f64).backward();
      // The step converted the weight once: the backward's dx read the forward's bf16 copy.
      CHECK(bf16_matrices_made() == copies_before_backward);
      const int64_t rows = y64.numel() / out;
      const Tensor g2 = absd(g.f64).reshape({-1, out}), x2 = absd(x.f64).reshape({-1, in});
      check_bound(x.f32.grad(), x.f64.grad(), (c(out) * matmul(g2, absd(w.f64))).reshape(xs), what + " d(x)");
      check_bound(w.f32.grad(), w.f64.grad(), c(rows) * matmul(g2.transpose(0, 1), x2), what + " d(weight)");
      // d(bias) is a float32 sum of dy, not a product: only float32's rounding (and it may be exact).
      const Values db = bias.f32.grad().to_vector(), db64 = bias.f64.grad().to_vector(), s = sum(g2, {0}).to_vector();
      for (size_t i = 0; i < db.size(); ++i) CHECK(std::abs(db[i] - db64[i]) <= rows * std::ldexp(1.0, -23) * s[i]);
    }
}

TEST_CASE("bf16 linear with a transposed weight view: its copy is read the other way round, forward and backward") {
  for (const NamedMode& m : bf16_modes()) {
    const int64_t rows = 9, in = 21, out = 13;
    const Pair x = pair({rows, in}, 24), wt = pair({in, out}, 25, 0.3);  // weight = wt^T, a view
    Tensor y;
    {
      PrecisionScope bf16(m.mode);
      y = linear(x.f32, wt.f32.transpose(0, 1));
    }
    const Tensor y64 = linear(x.f64, wt.f64.transpose(0, 1));
    check_bound(y, y64, c(in) * matmul(absd(x.f64), absd(wt.f64)), m.name + " linear, transposed weight, forward");
    const Pair g = pair(y64.shape(), 26);
    {
      PrecisionScope bf16(m.mode);
      sum(y * g.f32).backward();
    }
    sum(y64 * g.f64).backward();
    check_bound(x.f32.grad(), x.f64.grad(), c(out) * matmul(absd(g.f64), absd(wt.f64).transpose(0, 1)),
                m.name + " linear, transposed weight, d(x)");
  }
}

TEST_CASE("bf16 conv2d forward and backward within c(K) conv(|x|, |w|) of float64") {
  struct Case {
    Shape x, w;
    int64_t stride, pad;
    bool bias;
  };
  const std::vector<Case> cases = {{{2, 3, 9, 11}, {5, 3, 3, 3}, 1, 1, true},     // the input conv's 3 channels
                                   {{1, 17, 8, 7}, {20, 17, 3, 3}, 2, 1, false},  // stride 2, odd sizes
                                   {{3, 16, 6, 6}, {24, 16, 1, 1}, 1, 0, true},   // 1x1
                                   {{2, 32, 10, 10}, {32, 32, 3, 3}, 1, 1, true}};
  for (const NamedMode& m : bf16_modes())
    for (const Case& cs : cases) {
      const Pair x = pair(cs.x, 8), w = pair(cs.w, 9, 0.2), bias = pair({cs.w[0]}, 10);
      const Tensor b32 = cs.bias ? bias.f32 : Tensor(), b64 = cs.bias ? bias.f64 : Tensor();
      const int64_t K = cs.w[1] * cs.w[2] * cs.w[3];
      Tensor y;
      {
        PrecisionScope bf16(m.mode);
        y = conv2d(x.f32, w.f32, b32, cs.stride, cs.pad);
      }
      const Tensor y64 = conv2d(x.f64, w.f64, b64, cs.stride, cs.pad);
      const std::string what = m.name + " conv2d x " + to_string(cs.x) + " w " + to_string(cs.w);
      Tensor fwd_bound = conv2d(absd(x.f64), absd(w.f64), Tensor(), cs.stride, cs.pad);
      if (cs.bias) fwd_bound = fwd_bound + absd(bias.f64).reshape({-1, 1, 1});
      check_bound(y, y64, c(K + 1) * fwd_bound, what + " forward");
      {
        // Sampling's path: no tape, the weight kept as bf16 in the primitive's layout (used twice).
        NoGradGuard no_grad;
        FrozenWeights frozen;
        PrecisionScope bf16(m.mode);
        conv2d(x.f32, w.f32, b32, cs.stride, cs.pad);
        check_bound(conv2d(x.f32, w.f32, b32, cs.stride, cs.pad), y64, c(K + 1) * fwd_bound, what + " forward, frozen weights");
      }

      const Pair g = pair(y64.shape(), 11);
      {
        PrecisionScope bf16(m.mode);
        sum(y * g.f32).backward();
      }
      sum(y64 * g.f64).backward();
      // The bounds' transposed convolutions, by autograd in float64: d/dX sum(conv(X, |w|) |g|) = conv^T(|g|, |w|),
      // d/dW sum(conv(|x|, W) |g|) likewise.
      Tensor X = absd(x.f64).detach().set_requires_grad(true), W = absd(w.f64).detach().set_requires_grad(true);
      sum(conv2d(X, absd(w.f64), Tensor(), cs.stride, cs.pad) * absd(g.f64)).backward();
      sum(conv2d(absd(x.f64), W, Tensor(), cs.stride, cs.pad) * absd(g.f64)).backward();
      const int64_t KW = cs.w[0] * cs.w[2] * cs.w[3], KN = y64.numel() / cs.w[0];
      check_bound(x.f32.grad(), x.f64.grad(), c(KW) * X.grad(), what + " d(x)");
      check_bound(w.f32.grad(), w.f64.grad(), c(KN) * W.grad(), what + " d(weight)");
    }
}

// Attention: S = s Q K^T (+ mask), P = softmax(S), O = P V, s = 1/sqrt(D). With E = c(D) s |Q||K|^T the bound
// on the error of S, e = max E and gamma = exp(2e): each P~ / P lies in [1/gamma, gamma], so
//   |O~ - O| <= c(Tk) |P~||V| + |P~ - P||V| <= (c(Tk) gamma + gamma - 1) P |V|.
// Backward, with A = |dO||V|^T (dP's magnitude) and Sm = P (A + rowsum(P A)) (dS's): to first order
//   |dV~ - dV| <= (c(Tq) gamma + gamma - 1) P^T |dO|,
//   |dQ~ - dQ| <= (2 c + 3 (gamma - 1)) s Sm |K|,   |dK~ - dK| <= (2 c + 3 (gamma - 1)) s Sm^T |Q|,
// (dP picks up c A, P~ the factor gamma in dS's two terms, dS K another c); a further 25% for the
// second-order terms.
TEST_CASE("bf16 attention forward and backward within the propagated bf16 bound of float64") {
  struct Dims {
    int64_t B, H, Tq, Tk, D, Dv;
  };
  // Tiny odd sizes, sizes where the GEMMs are blocked and threaded (pairs >= threads), and 15 pairs whose
  // score blocks native bf16 takes in two chunks of 8 and 7 (attention.cpp: about 4 MiB of scores a chunk).
  for (const auto& [B, H, Tq, Tk, D, Dv] :
       std::vector<Dims>{{2, 3, 7, 11, 5, 6}, {2, 2, 97, 130, 33, 17}, {3, 5, 300, 400, 8, 9}})
  for (const NamedMode& m : bf16_modes()) {
    const Pair q = pair({B, H, Tq, D}, 12), k = pair({B, H, Tk, D}, 13), v = pair({B, H, Tk, Dv}, 14);
    const Pair mask = pair({Tq, Tk}, 15);
    const Tensor mask32 = mask.f32.detach(), mask64 = mask.f64.detach();
    Tensor o;
    {
      PrecisionScope bf16(m.mode);
      o = attention(q.f32, k.f32, v.f32, mask32);
    }
    const Tensor o64 = attention(q.f64, k.f64, v.f64, mask64);
    {  // sampling's path (no tape: P is not kept) computes the same values
      NoGradGuard no_grad;
      PrecisionScope bf16(m.mode);
      CHECK(max(abs(attention(q.f32, k.f32, v.f32, mask32) - o)).item() == 0.0);
    }
    const Pair g = pair(o64.shape(), 16);
    {
      PrecisionScope bf16(m.mode);
      sum(o * g.f32).backward();
    }
    sum(o64 * g.f64).backward();

    const double s = 1.0 / std::sqrt(static_cast<double>(D));
    NoGradGuard no_grad_for_bounds;
    const Tensor P = softmax(matmul(q.f64.detach(), k.f64.detach().transpose(-1, -2)) * s + mask64, -1);
    const double e = max(c(D) * s * matmul(absd(q.f64), absd(k.f64).transpose(-1, -2))).item();
    const double gamma = std::exp(2 * e);
    const std::string what = m.name + " attention q " + to_string({B, H, Tq, D}) + " k " + to_string({B, H, Tk, D});
    check_bound(o, o64, (c(Tk) * gamma + gamma - 1) * matmul(P, absd(v.f64)), what + " forward");

    const Tensor A = matmul(absd(g.f64), absd(v.f64).transpose(-1, -2));
    const Tensor Sm = P * (A + sum(P * A, {-1}, true));
    const double first = 1.25 * (2 * c(Tk) + 3 * (gamma - 1));
    check_bound(v.f32.grad(), v.f64.grad(), 1.25 * (c(Tq) * gamma + gamma - 1) * matmul(P.transpose(-1, -2), absd(g.f64)),
                what + " d(v)");
    check_bound(q.f32.grad(), q.f64.grad(), first * s * matmul(Sm, absd(k.f64)), what + " d(q)");
    check_bound(k.f32.grad(), k.f64.grad(), first * s * matmul(Sm.transpose(-1, -2), absd(q.f64)), what + " d(k)");
  }
}

namespace {

// A tiny network with every bf16 op: conv 3 -> 12 (3x3), SiLU, conv 12 -> 16 (3x3, stride 2), the 4 x 4
// positions as 16 tokens of width 16, one attention head on linear projections, the mean over tokens,
// linear 16 -> 2. Input [B, 3, 7, 7].
struct TinyConvNet : nn::Module {
  explicit TinyConvNet(Philox& rng)
      : conv1(register_module("conv1", std::make_shared<nn::Conv2d>(3, 12, 3, 1, 1, nn::Init::VarianceScaling, rng))),
        conv2(register_module("conv2", std::make_shared<nn::Conv2d>(12, 16, 3, 2, 1, nn::Init::VarianceScaling, rng))),
        qkv(register_module("qkv", std::make_shared<nn::Linear>(16, 48, nn::Init::VarianceScaling, rng))),
        out(register_module("out", std::make_shared<nn::Linear>(16, 2, nn::Init::VarianceScaling, rng))) {}
  Tensor forward(const Tensor& x) const {
    const int64_t B = x.shape()[0];
    const Tensor h = conv2->forward(silu(conv1->forward(x)));              // [B, 16, 4, 4]
    const Tensor tokens = h.reshape({B, 16, 16}).transpose(1, 2);          // [B, 16 tokens, 16]
    const std::vector<Tensor> p = split(qkv->forward(tokens), {16, 16, 16}, -1);
    const auto head = [&](const Tensor& t) { return t.reshape({B, 1, 16, 16}); };
    const Tensor a = attention(head(p[0]), head(p[1]), head(p[2])).reshape({B, 16, 16});
    return out->forward(mean(a, {1}));                                    // [B, 2]
  }
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Linear> qkv, out;
};

// 200 Adam steps (lr 3e-3, batch 16) on a regression whose data depend only on the seed; returns the losses.
std::vector<double> train_tiny(PrecisionMode mode) {
  PrecisionScope precision(mode);
  Philox init(42, 0), data(42, 1);
  TinyConvNet net(init);
  nn::ParameterArena arena(net);
  nn::Adam adam(arena, nn::AdamConfig{});
  std::vector<double> losses;
  for (int step = 0; step < 200; ++step) {
    arena.zero_grad();
    const Tensor x = randn({16, 3, 7, 7}, data);
    // Targets: each image's mean and mean square, a smooth function of the whole image.
    const Tensor target = concat({mean(x, {1, 2, 3}, true).reshape({16, 1}), mean(x * x, {1, 2, 3}, true).reshape({16, 1})}, 1);
    const Tensor loss = mean(square(net.forward(x) - target.detach()));
    loss.backward();
    adam.step(3e-3);
    losses.push_back(loss.item());
  }
  return losses;
}

double mean_of_last(const std::vector<double>& v, size_t n) {
  double s = 0;
  for (size_t i = v.size() - n; i < v.size(); ++i) s += v[i];
  return s / static_cast<double>(n);
}

}  // namespace

// The margin: bf16 perturbs every product by ~2^-8 relative, i.e. noise far below the step-to-step
// spread of the loss on fresh batches; the mean loss of the last 20 steps must be within 5% of float32's
// (and training must have worked: below half the first loss).
TEST_CASE("a tiny conv + attention model trained 200 steps in bf16 ends within 5% of the float32 loss") {
  const std::vector<double> f32 = train_tiny({});
  const double end32 = mean_of_last(f32, 20);
  MESSAGE("float32: first loss " << f32.front() << ", mean of the last 20 " << end32);
  CHECK(end32 < 0.5 * f32.front());
  for (const NamedMode& m : bf16_modes()) {
    const std::vector<double> b = train_tiny(m.mode);
    const double end = mean_of_last(b, 20);
    MESSAGE("bf16 " << m.name << ": first loss " << b.front() << ", mean of the last 20 " << end << " ("
                    << 100 * (end / end32 - 1) << "% from float32)");
    CHECK(b.front() != f32.front());  // the bf16 run did round
    CHECK(std::abs(end - end32) <= 0.05 * end32);
  }
}
