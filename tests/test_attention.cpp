// attention against a naive double-precision reference: the forward and the gradients of q, k, v and
// the mask (central differences of the reference) in float32, with and without masks of several
// broadcast shapes; the analytic backward in float64 through CHECK_GRADIENTS; strided inputs, fully
// masked rows, large logits, the no-tape path; errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "gradcheck.hpp"
#include "tensor/attention.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"
#include "tensor/threads.hpp"
#include "tensor/vec_math.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Sizes {
  int64_t B, H, Tq, Tk, D, Dv;
};

// The mask values (of shape `shape`, broadcastable to [B, H, Tq, Tk]) expanded to [B, H, Tq, Tk].
Values expand_mask(const Values& m, const Shape& shape, const Sizes& s) {
  Values full(s.B * s.H * s.Tq * s.Tk, 0.0);
  if (m.empty()) return full;
  Shape ms(4 - shape.size(), 1);
  ms.insert(ms.end(), shape.begin(), shape.end());
  const int64_t idx_size[4] = {s.B, s.H, s.Tq, s.Tk};
  int64_t i = 0;
  for (int64_t b = 0; b < idx_size[0]; ++b)
    for (int64_t h = 0; h < idx_size[1]; ++h)
      for (int64_t r = 0; r < idx_size[2]; ++r)
        for (int64_t c = 0; c < idx_size[3]; ++c, ++i) {
          const int64_t mb = ms[0] == 1 ? 0 : b, mh = ms[1] == 1 ? 0 : h, mr = ms[2] == 1 ? 0 : r, mc = ms[3] == 1 ? 0 : c;
          full[i] = m[((mb * ms[1] + mh) * ms[2] + mr) * ms[3] + mc];
        }
  return full;
}

// o[b, h, i, :] = sum_j P[i, j] v[b, h, j, :],  P[i, :] = softmax_j(q_i . k_j / sqrt(D) + mask[b, h, i, j]);
// a row whose mask is -inf everywhere gives zeros.
Values reference(const Values& q, const Values& k, const Values& v, const Values& mask_full, const Sizes& s) {
  Values o(s.B * s.H * s.Tq * s.Dv, 0.0), row(s.Tk);
  for (int64_t bh = 0; bh < s.B * s.H; ++bh)
    for (int64_t i = 0; i < s.Tq; ++i) {
      double mx = -kInf;
      for (int64_t j = 0; j < s.Tk; ++j) {
        double dotp = 0;
        for (int64_t d = 0; d < s.D; ++d) dotp += q[(bh * s.Tq + i) * s.D + d] * k[(bh * s.Tk + j) * s.D + d];
        row[j] = dotp / std::sqrt(static_cast<double>(s.D)) + mask_full[(bh * s.Tq + i) * s.Tk + j];
        mx = std::max(mx, row[j]);
      }
      if (mx == -kInf) continue;
      double total = 0;
      for (int64_t j = 0; j < s.Tk; ++j) total += (row[j] = std::exp(row[j] - mx));
      for (int64_t j = 0; j < s.Tk; ++j)
        for (int64_t e = 0; e < s.Dv; ++e)
          o[(bh * s.Tq + i) * s.Dv + e] += row[j] / total * v[(bh * s.Tk + j) * s.Dv + e];
    }
  return o;
}

// Runs attention in float32 on random q, k, v (and the given mask values, if any) with backward
// seeded by a random R; compares o, dq, dk, dv (and dmask when mask_grad) with the reference.
void check_against_reference(const Sizes& s, const Values& mask = {}, const Shape& mask_shape = {},
                             bool mask_grad = false, double qk_scale = 1.0, double tol = 2e-5) {
  const Shape qs{s.B, s.H, s.Tq, s.D}, ks{s.B, s.H, s.Tk, s.D}, vs{s.B, s.H, s.Tk, s.Dv}, os{s.B, s.H, s.Tq, s.Dv};
  const Values q = random_values(numel(qs), 1, qk_scale), k = random_values(numel(ks), 2, qk_scale),
               v = random_values(numel(vs), 3), R = random_values(numel(os), 4);
  const Values mfull = expand_mask(mask, mask_shape, s);
  const Values o = reference(q, k, v, mfull, s);
  const auto loss = [&](const Values& qq, const Values& kk, const Values& vv, const Values& mm) {
    return dot(R, reference(qq, kk, vv, mm, s));
  };
  const Values dq = numeric_gradient([&](const Values& p) { return loss(p, k, v, mfull); }, q);
  const Values dk = numeric_gradient([&](const Values& p) { return loss(q, p, v, mfull); }, k);
  const Values dv = numeric_gradient([&](const Values& p) { return loss(q, k, p, mfull); }, v);

  Tensor tq = tensor_of(q, qs, DType::F32), tk = tensor_of(k, ks, DType::F32), tv = tensor_of(v, vs, DType::F32);
  Tensor tm = mask.empty() ? Tensor() : tensor_of(mask, mask_shape, DType::F32, mask_grad);
  Tensor to = attention(tq, tk, tv, tm);
  REQUIRE(to.shape() == os);
  to.backward(tensor_of(R, os, DType::F32, false));
  check_close(to, o, tol, "o");
  check_close(tq.grad(), dq, tol, "dq");
  check_close(tk.grad(), dk, tol, "dk");
  check_close(tv.grad(), dv, tol, "dv");
  if (mask_grad) {
    const Values dm = numeric_gradient(
        [&](const Values& p) { return loss(q, k, v, expand_mask(p, mask_shape, s)); }, mask);
    check_close(tm.grad(), dm, tol, "dmask");
  }
}

const Sizes kSelf{3, 2, 7, 7, 5, 5};  // batch 3, 2 heads of width 5, 7 tokens

}  // namespace

TEST_CASE("attention matches the double reference in float32 (forward and all gradients)") {
  SUBCASE("no mask") { check_against_reference(kSelf); }
  SUBCASE("additive [T, T] mask with a gradient (a relative position bias)") {
    check_against_reference(kSelf, random_values(49, 5), {7, 7}, true);
  }
  SUBCASE("full [B, H, T, T] mask with a gradient") {
    check_against_reference(kSelf, random_values(3 * 2 * 49, 6), {3, 2, 7, 7}, true);
  }
  SUBCASE("[B, 1, 1, T] key padding mask with -inf entries") {
    Values m(3 * 7, 0.0);
    m[5] = m[6] = -kInf;          // batch 0 ignores its last two keys
    m[7 + 0] = -kInf;             // batch 1 ignores its first key
    for (int j = 1; j < 7; ++j) m[14 + j] = -kInf;  // batch 2 keeps only key 0
    check_against_reference(kSelf, m, {3, 1, 1, 7});
  }
  SUBCASE("cross-attention: 4 queries, 7 keys, value width 3, [Tq, Tk] mask") {
    check_against_reference({3, 2, 4, 7, 5, 3}, random_values(28, 7), {4, 7}, true);
  }
  SUBCASE("one (batch, head) pair: the threaded-BLAS path") { check_against_reference({1, 1, 7, 7, 5, 5}); }
  SUBCASE("large logits: softmax stays finite") { check_against_reference(kSelf, {}, {}, false, 6.0, 1e-4); }
}

TEST_CASE("attention: float64 analytic gradients (CHECK_GRADIENTS)") {
  const Tensor q = random_input({3, 2, 7, 5}, 1), k = random_input({3, 2, 7, 5}, 2), v = random_input({3, 2, 7, 5}, 3);
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2]); }, {q, k, v}, strided(kFourPoint));
  const Tensor mask = random_input({7, 7}, 4);
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2], in[3]); },
                  {q, k, v, mask}, strided(kFourPoint));
  const Tensor mask_b = random_input({3, 1, 7, 1}, 5);  // broadcast over heads and keys
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2], in[3]); },
                  {q, k, v, mask_b}, strided(kFourPoint));
  const Tensor qc = random_input({3, 2, 4, 5}, 6), vc = random_input({3, 2, 7, 3}, 7);
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2]); }, {qc, k, vc}, strided(kFourPoint));
}

TEST_CASE("attention reads strided heads (a fused qkv projection) without changing the result") {
  // qkv [B, T, 3, H, Dh] as a linear layer produces it; q, k, v = its slices permuted to [B, H, T, Dh].
  const Shape fused{3, 7, 3, 2, 5};
  const Values vals = random_values(numel(fused), 8);
  Tensor qkv = tensor_of(vals, fused, DType::F32);
  const Tensor qs = qkv.narrow(2, 0, 1).squeeze(2).permute({0, 2, 1, 3});
  const Tensor ks = qkv.narrow(2, 1, 1).squeeze(2).permute({0, 2, 1, 3});
  const Tensor vs = qkv.narrow(2, 2, 1).squeeze(2).permute({0, 2, 1, 3});
  CHECK(!qs.is_contiguous());
  const Values R = random_values(3 * 2 * 7 * 5, 9);
  Tensor o = attention(qs, ks, vs);
  o.backward(tensor_of(R, o.shape(), DType::F32, false));
  const Tensor g_strided = qkv.grad();

  Tensor qkv2 = tensor_of(vals, fused, DType::F32);
  const Tensor q2 = qkv2.narrow(2, 0, 1).squeeze(2).permute({0, 2, 1, 3}).contiguous();
  const Tensor k2 = qkv2.narrow(2, 1, 1).squeeze(2).permute({0, 2, 1, 3}).contiguous();
  const Tensor v2 = qkv2.narrow(2, 2, 1).squeeze(2).permute({0, 2, 1, 3}).contiguous();
  Tensor o2 = attention(q2, k2, v2);
  o2.backward(tensor_of(R, o2.shape(), DType::F32, false));
  check_close(o, o2.to_vector(), 1e-6, "o");
  check_close(g_strided, qkv2.grad().to_vector(), 1e-6, "dqkv");
  // A layout BLAS cannot read directly (head width strided) is copied first: same result.
  const Tensor qt = tensor_of(random_values(3 * 2 * 5 * 7, 10), {3, 2, 5, 7}, DType::F32, false).transpose(2, 3);
  check_close(attention(qt, k2.detach(), v2.detach()), attention(qt.contiguous(), k2.detach(), v2.detach()).to_vector(),
              1e-6, "o (copied q)");
}

TEST_CASE("attention: a fully masked query row gives zeros and no gradient") {
  Tensor q = tensor_of(random_values(2 * 7 * 5, 11), {1, 2, 7, 5}, DType::F32);
  Tensor k = tensor_of(random_values(2 * 7 * 5, 12), {1, 2, 7, 5}, DType::F32);
  Tensor v = tensor_of(random_values(2 * 7 * 5, 13), {1, 2, 7, 5}, DType::F32);
  Values m(49, 0.0);
  for (int j = 0; j < 7; ++j) m[3 * 7 + j] = -kInf;  // query 3 sees no key
  Tensor o = attention(q, k, v, tensor_of(m, {7, 7}, DType::F32, false));
  sum(o).backward();
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t e = 0; e < 5; ++e) {
      CHECK(o.at({0, h, 3, e}) == 0.0);
      CHECK(q.grad().at({0, h, 3, e}) == 0.0);
    }
  for (double g : k.grad().to_vector()) CHECK(std::isfinite(g));
}

TEST_CASE("attention without a tape (inference) computes the same output") {
  const Tensor q = tensor_of(random_values(3 * 2 * 7 * 5, 14), {3, 2, 7, 5}, DType::F32);
  const Tensor k = tensor_of(random_values(3 * 2 * 7 * 5, 15), {3, 2, 7, 5}, DType::F32);
  const Tensor v = tensor_of(random_values(3 * 2 * 7 * 5, 16), {3, 2, 7, 5}, DType::F32);
  const Tensor with_tape = attention(q, k, v);
  CHECK(with_tape.requires_grad());
  NoGradGuard no_grad;
  const Tensor without = attention(q, k, v);
  CHECK(!without.requires_grad());
  check_close(without, with_tape.to_vector(), 0.0, "o");
}

TEST_CASE("attention gives the same results on one thread and on two") {
  // Two threads take whole (batch, head) pairs with single-threaded BLAS; one thread runs them in turn.
  const Shape shape{3, 2, 37, 16};
  const Values qv = random_values(numel(shape), 31), kv = random_values(numel(shape), 32),
               vv = random_values(numel(shape), 33), R = random_values(numel(shape), 34);
  const int saved = num_threads();
  std::vector<Values> results;
  for (int threads : {1, 2}) {
    set_threads(threads);
    Tensor q = tensor_of(qv, shape, DType::F32), k = tensor_of(kv, shape, DType::F32), v = tensor_of(vv, shape, DType::F32);
    Tensor o = attention(q, k, v);
    o.backward(tensor_of(R, shape, DType::F32, false));
    if (threads == 2) check_close(o, reference(qv, kv, vv, Values(3 * 2 * 37 * 37, 0.0), {3, 2, 37, 37, 16, 16}), 2e-5, "o");
    for (const Tensor& t : {o, q.grad(), k.grad(), v.grad()}) results.push_back(t.to_vector());
  }
  set_threads(saved);
  for (size_t i = 0; i < 4; ++i) check_close(tensor_of(results[i + 4], {numel(shape)}, DType::F64, false), results[i], 1e-6, "1 vs 2 threads");
}

TEST_CASE("vec::exp_inplace, the softmax's exp: about 1 ulp, and the right limits") {
  std::vector<float> x;
  for (double v = -87.3; v <= 88.3; v += 0.0137) x.push_back(static_cast<float>(v));
  x.push_back(0.0f);
  const size_t finite = x.size();  // then 8 special values, and a length that is no multiple of the lanes
  for (float v : {-std::numeric_limits<float>::infinity(), -100.0f, -87.5f, 88.5f, 100.0f,
                  std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(), 1.0f})
    x.push_back(v);
  std::vector<float> y = x;
  vec::exp_inplace(y.data(), static_cast<int64_t>(y.size()));
  double worst = 0;
  for (size_t i = 0; i < finite; ++i) worst = std::max(worst, std::abs(y[i] / std::exp(static_cast<double>(x[i])) - 1));
  INFO("max relative error " << worst);
  CHECK(worst < 2e-7);
  CHECK(y[finite] == 0.0f);
  CHECK(y[finite + 1] == 0.0f);
  CHECK(y[finite + 2] == 0.0f);
  CHECK(std::isinf(y[finite + 3]));
  CHECK(std::isinf(y[finite + 4]));
  CHECK(std::isinf(y[finite + 5]));
  CHECK(std::isnan(y[finite + 6]));
  CHECK(std::abs(y[finite + 7] - std::exp(1.0)) < 1e-6);
}

TEST_CASE("attention: bad arguments throw invalid_argument naming the op and the shapes") {
  const Tensor q = Tensor::zeros({3, 2, 7, 5}), k = Tensor::zeros({3, 2, 7, 5}), v = Tensor::zeros({3, 2, 7, 5});
  const auto starts = [](const std::string& m) { return m.rfind("attention:", 0) == 0; };
  std::string m = error_message([&] { attention(q, Tensor::zeros({3, 2, 7, 4}), v); });
  CHECK(starts(m));
  CHECK(m.find("float32[3, 2, 7, 4]") != std::string::npos);
  CHECK(m.find("head widths") != std::string::npos);
  m = error_message([&] { attention(q, k, Tensor::zeros({3, 2, 6, 5})); });
  CHECK(starts(m));
  CHECK(m.find("float32[3, 2, 6, 5]") != std::string::npos);
  m = error_message([&] { attention(q, Tensor::zeros({3, 1, 7, 5}), Tensor::zeros({3, 1, 7, 5})); });
  CHECK(starts(m));
  CHECK(m.find("head counts") != std::string::npos);
  m = error_message([&] { attention(Tensor::zeros({2, 7, 5}), k, v); });
  CHECK(starts(m));
  CHECK(m.find("float32[2, 7, 5]") != std::string::npos);
  m = error_message([&] { attention(q, k, v, Tensor::zeros({7, 6})); });
  CHECK(starts(m));
  CHECK(m.find("mask float32[7, 6]") != std::string::npos);
  CHECK(m.find("[3, 2, 7, 7]") != std::string::npos);
  CHECK(starts(error_message([&] { attention(q, k, v, Tensor::zeros({7, 7}, DType::F64)); })));
  CHECK(starts(error_message([&] { attention(q, k.to(DType::F64), v); })));
}
