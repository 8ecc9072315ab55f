// D3PM on tensors: forward process, posterior, x0-parameterised reverse process, bound terms, hybrid loss.
// Constant tensors (q, its posterior, x_t Q^T) are filled row by row in double and cast once; everything
// that depends on the model's logits is built from differentiable ops, so gradients reach the logits
// through the tape.
#include "diffusion/d3pm_diffusion.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <stdexcept>
#include <string>

#include "diffusion/d3pm_rows.hpp"
#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

namespace diffuse::diffusion {

using namespace d3pm_rows;

namespace {

[[noreturn]] void fail(const char* what, const std::string& why) {
  throw std::invalid_argument(std::string("d3pm ") + what + ": " + why);
}

// x int32 [B, L] with ids in [0, K) (data states only when data_only).
std::vector<int64_t> check_ids(const char* what, const Tensor& x, const D3pmStates& states, bool data_only) {
  if (!x.defined() || x.dtype() != DType::I32 || x.dim() != 2)
    fail(what, "expected int32 [B, L] token ids, got " + (x.defined() ? describe(x) : std::string("undefined")));
  std::vector<int64_t> v = token_ids(x);
  for (int64_t id : v) {
    if (id < 0 || id >= states.num_states) fail(what, "id " + std::to_string(id) + " outside [0, K = " + std::to_string(states.num_states) + ")");
    if (data_only && !states.is_data(id)) fail(what, "x0 holds the extra mask id " + std::to_string(id));
  }
  return v;
}

// The per-example t (or, with name "s", s) of an int32 [B] tensor, each in [lo, hi].
std::vector<int64_t> check_t(const char* what, const Tensor& t_batch, int64_t batch, int64_t lo, int64_t hi,
                             const char* name = "t") {
  if (!t_batch.defined() || t_batch.dtype() != DType::I32 || t_batch.dim() != 1 || t_batch.size(0) != batch)
    fail(what, "expected int32 [" + std::to_string(batch) + "] " + name + ", got " +
                   (t_batch.defined() ? describe(t_batch) : std::string("undefined")));
  std::vector<int64_t> t = token_ids(t_batch);
  for (int64_t value : t)
    if (value < lo || value > hi)
      fail(what, std::string(name) + " = " + std::to_string(value) + " outside [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  return t;
}

void check_logits(const char* what, const Tensor& logits, const Tensor& x, int64_t K) {
  if (!logits.defined() || logits.dim() != 3 || logits.size(0) != x.size(0) || logits.size(1) != x.size(1) ||
      logits.size(2) != K || logits.dtype() == DType::I32)
    fail(what, "model logits " + (logits.defined() ? describe(logits) : std::string("undefined")) + " must be float [" +
                   std::to_string(x.size(0)) + ", " + std::to_string(x.size(1)) + ", " + std::to_string(K) + "]");
}

}  // namespace

D3pm::D3pm(const D3pmConfig& config) : process_(config) {}

Tensor D3pm::t_tensor(int64_t batch, int64_t t) {
  return Tensor::from_vector(std::vector<int32_t>(static_cast<size_t>(batch), static_cast<int32_t>(t)), {batch});
}

Tensor D3pm::sample_t(int64_t batch, Philox& rng) const {
  Tensor t_batch = Tensor::empty({batch}, DType::I32);
  rng.fill_int(t_batch.data<int32_t>(), batch, 1, timesteps() + 1);
  return t_batch;
}

Tensor D3pm::model_step(const Tensor& t_batch) {
  const std::vector<int64_t> t = token_ids(t_batch);
  std::vector<int32_t> step(t.size());
  for (size_t i = 0; i < t.size(); ++i) step[i] = static_cast<int32_t>(t[i] - 1);
  return Tensor::from_vector(step, t_batch.shape());
}

std::vector<double> D3pm::sequence_weights(const Tensor& x0) const {
  const std::vector<int64_t> v = check_ids("sequence_weights", x0, process_.states(), false);
  return process_.transition().sequence_weights(v, x0.size(0), x0.size(1));
}

std::vector<double> D3pm::qbar_row(int64_t s, int64_t x0, double c) const {
  if (s < 0 || s > timesteps() || x0 < 0 || x0 >= num_states()) fail("qbar_row", "s or x0 out of range");
  std::vector<double> out(static_cast<size_t>(num_states()));
  process_.transition().qbar_row_into(s, x0, c, out.data());
  return out;
}

std::vector<double> D3pm::product_column(int64_t s, int64_t t, int64_t x, bool one_step, double c) const {
  if (!(0 <= s && s < t && t <= timesteps()) || x < 0 || x >= num_states() || (one_step && s != t - 1))
    fail("product_column", "need 0 <= s < t <= T (s = t - 1 for one_step) and 0 <= x < K");
  const DenseProducts d = prepare_products(process_.transition(), {s}, {t}, one_step);
  std::vector<double> out(static_cast<size_t>(num_states()));
  process_.transition().product_column_into(s, t, x, one_step, c, d.per_example[0], out.data());
  return out;
}

// ---- forward process -------------------------------------------------------------------------------------

Tensor D3pm::q_probs(const Tensor& x0, const Tensor& t_batch, DType dtype) const {
  const std::vector<int64_t> xv = check_ids("q_probs", x0, process_.states(), true);
  const int64_t B = x0.size(0), L = x0.size(1), K = num_states();
  const std::vector<int64_t> t = check_t("q_probs", t_batch, B, 0, timesteps());
  const std::vector<double> c = sequence_weights(x0);
  return fill_rows(B, L, K, dtype, [&](int64_t b, int64_t l, double* row) {
    process_.transition().qbar_row_into(t[static_cast<size_t>(b)], xv[static_cast<size_t>(b * L + l)], c[static_cast<size_t>(b)], row);
  });
}

Tensor D3pm::q_sample(const Tensor& x0, const Tensor& t_batch, Philox& rng) const {
  const std::vector<int64_t> xv = check_ids("q_sample", x0, process_.states(), true);
  const int64_t B = x0.size(0), L = x0.size(1), K = num_states();
  const std::vector<int64_t> t = check_t("q_sample", t_batch, B, 0, timesteps());
  const std::vector<double> c = sequence_weights(x0);
  std::vector<double> u(static_cast<size_t>(B * L));
  rng.fill_uniform(u.data(), B * L);
  Tensor x_t = Tensor::empty({B, L}, DType::I32);
  int32_t* x_t_ids = x_t.data<int32_t>();
  kernels::parallel_for(B * L, std::max<int64_t>(1, 4096 / K), [&](int64_t r0, int64_t r1) {
    std::vector<double> row(static_cast<size_t>(K));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / L;
      process_.transition().qbar_row_into(t[static_cast<size_t>(b)], xv[static_cast<size_t>(r)], c[static_cast<size_t>(b)], row.data());
      double total = 0;
      for (double v : row) total += v;
      const double target = u[static_cast<size_t>(r)] * total;
      double cum = 0;
      int64_t pick = -1;
      for (int64_t k = 0; k < K; ++k) {
        if (row[static_cast<size_t>(k)] <= 0) continue;
        cum += row[static_cast<size_t>(k)];
        pick = k;
        if (cum > target) break;
      }
      x_t_ids[r] = static_cast<int32_t>(pick);
    }
  });
  return x_t;
}

Tensor D3pm::q_posterior_logits(const Tensor& x0, const Tensor& x_t, const Tensor& t_batch, DType dtype) const {
  check_ids("q_posterior_logits", x0, process_.states(), true);
  check_ids("q_posterior_logits", x_t, process_.states(), false);
  if (x0.shape() != x_t.shape()) fail("q_posterior_logits", "x0 and x_t shapes differ");
  const std::vector<int64_t> t = check_t("q_posterior_logits", t_batch, x0.size(0), 1, timesteps());
  std::vector<int64_t> s(t);
  for (int64_t& v : s) v -= 1;
  return posterior_logits(x0, x_t, t, s, true, dtype);
}

// Austin et al. eq. 3: q(x_s | x_t, x0) = (x_t P^T) .* (x0 Qbar_s) / (x0 Qbar_t x_t^T), P = Q_{s+1} ... Q_t
// (one_step: P = Q_t, s = t - 1), as logits log(x_t P^T + eps) + log(x0 Qbar_s + eps) (the denominator is
// a constant of the row). The kind's rows, tabulated by token value unless they depend on the sequence.
Tensor D3pm::posterior_logits(const Tensor& x0, const Tensor& x_t, const std::vector<int64_t>& t,
                              const std::vector<int64_t>& s, bool one_step, DType dtype) const {
  const D3pmTransitionKind& kind = process_.transition();
  const std::vector<int64_t> xv = token_ids(x0), yv = token_ids(x_t);
  const int64_t B = x0.size(0), L = x0.size(1), K = num_states();
  const DenseProducts products = prepare_products(kind, s, t, one_step);
  if (!kind.depends_on_sequence()) {
    const LogRowTables column = log_product_columns(kind, products, s, t, one_step);
    const LogRowTables qbar_row = log_qbar_rows(kind, s);
    return table_rows(B, L, K, dtype, column, yv, &qbar_row, &xv);
  }
  const std::vector<double> c = sequence_weights(x0);
  return fill_rows(B, L, K, dtype, [&](int64_t b, int64_t l, double* row) {
    std::vector<double> qbar_row(static_cast<size_t>(K));
    const size_t bi = static_cast<size_t>(b), r = static_cast<size_t>(b * L + l);
    kind.product_column_into(s[bi], t[bi], yv[r], one_step, c[bi], products.per_example[bi], row);
    kind.qbar_row_into(s[bi], xv[r], c[bi], qbar_row.data());
    for (int64_t k = 0; k < K; ++k) row[k] = std::log(row[k] + kEps) + std::log(qbar_row[static_cast<size_t>(k)] + kEps);
  });
}

Tensor D3pm::prior_kl(const Tensor& x0, DType dtype) const {
  const std::vector<int64_t> xv = check_ids("prior_kl", x0, process_.states(), true);
  const int64_t B = x0.size(0), L = x0.size(1), K = num_states();
  const std::vector<double> c = sequence_weights(x0);
  const std::vector<double>& prior = process_.prior();
  std::vector<double> kl(static_cast<size_t>(B), 0.0), row(static_cast<size_t>(K));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l) {
      process_.transition().qbar_row_into(timesteps(), xv[static_cast<size_t>(b * L + l)], c[static_cast<size_t>(b)], row.data());
      double v = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double q = row[static_cast<size_t>(k)];
        if (q > 0) v += q * (std::log(q + kEps) - std::log(prior[static_cast<size_t>(k)] + kEps));
      }
      kl[static_cast<size_t>(b)] += std::max(v, 0.0);
    }
  return Tensor::from_vector(kl, {B}).to(dtype);
}

Tensor D3pm::prior_sample(int64_t batch, int64_t length, Philox& rng) const {
  const std::vector<double>& prior = process_.prior();
  std::vector<double> u(static_cast<size_t>(batch * length));
  rng.fill_uniform(u.data(), batch * length);
  std::vector<int32_t> x(u.size());
  for (size_t i = 0; i < u.size(); ++i) {
    double cum = 0;
    int32_t pick = -1;
    for (size_t k = 0; k < prior.size(); ++k) {
      if (prior[k] <= 0) continue;
      cum += prior[k];
      pick = static_cast<int32_t>(k);
      if (cum > u[i]) break;
    }
    x[i] = pick;
  }
  return Tensor::from_vector(x, {batch, length});
}

// ---- reverse process -------------------------------------------------------------------------------------

Tensor D3pm::x0_log_probs(const Tensor& model_logits) const {
  const D3pmStates& states = process_.states();
  if (!states.has_extra_mask()) return log_softmax(model_logits, -1);
  const Tensor is_mask = state_indicator(states.num_states, model_logits.dtype(), [&](int64_t k) { return k == states.mask; });
  return log_softmax(masked_fill(model_logits, is_mask, -std::numeric_limits<double>::infinity()), -1);
}

// Austin et al. eq. 4, the x0-parameterisation: p_theta(x_s | x_t) proportional to
// sum_x0 q(x_s, x_t | x0) ptilde(x0 | x_t) = (x_t P^T) .* (ptilde Qbar_s), P = Q_{s+1} ... Q_t, as logits
//   log(x_t P^T + eps) + log(ptilde Qbar_s + eps),
// the two factors from the kind (reverse_factors). With apply_decoder, examples at s = 0 take log ptilde
// instead when the decoder is Ptilde.
Tensor D3pm::reverse_logits(const Tensor& model_logits, const Tensor& x_t, const std::vector<int64_t>& t,
                            const std::vector<int64_t>& s, bool one_step, bool apply_decoder) const {
  const DType dt = model_logits.dtype();
  const Tensor log_ptilde = x0_log_probs(model_logits);
  const ReverseFactors factors = process_.transition().reverse_factors(exp(log_ptilde), x_t, t, s, one_step);
  const Tensor general = add(factors.log_column, log(add(factors.dist_qbar, kEps)));
  if (apply_decoder && config().decoder == D3pmDecoder::Ptilde &&
      std::any_of(s.begin(), s.end(), [](int64_t v) { return v == 0; })) {
    std::vector<double> at0(s.size());
    for (size_t b = 0; b < s.size(); ++b) at0[b] = s[b] == 0 ? 1.0 : 0.0;
    return where(per_example(at0, dt), log_ptilde, general);
  }
  return general;
}

Tensor D3pm::p_logits(const Tensor& model_logits, const Tensor& x_t, const Tensor& t_batch) const {
  check_ids("p_logits", x_t, process_.states(), false);
  check_logits("p_logits", model_logits, x_t, num_states());
  const std::vector<int64_t> t = check_t("p_logits", t_batch, x_t.size(0), 1, timesteps());
  std::vector<int64_t> s(t);
  for (int64_t& v : s) v -= 1;
  return reverse_logits(model_logits, x_t, t, s, true);
}

Tensor D3pm::p_logits_skip(const Tensor& model_logits, const Tensor& x_t, const Tensor& t_batch,
                           const Tensor& s_batch) const {
  check_ids("p_logits_skip", x_t, process_.states(), false);
  check_logits("p_logits_skip", model_logits, x_t, num_states());
  const std::vector<int64_t> t = check_t("p_logits_skip", t_batch, x_t.size(0), 1, timesteps());
  const std::vector<int64_t> s = check_t("p_logits_skip", s_batch, x_t.size(0), 0, timesteps() - 1, "s");
  for (size_t b = 0; b < t.size(); ++b)
    if (s[b] >= t[b]) fail("p_logits_skip", "need s < t for every example");
  return reverse_logits(model_logits, x_t, t, s, false);
}

// ---- bound and loss ----------------------------------------------------------------------------------

D3pm::Jumps D3pm::check_bound_args(const char* what, const Tensor& model_logits, const Tensor& x0, const Tensor& x_t,
                                   const Tensor& t_batch, const Tensor& s_batch) const {
  check_ids(what, x0, process_.states(), true);
  check_ids(what, x_t, process_.states(), false);
  check_logits(what, model_logits, x_t, num_states());
  Jumps jumps;
  jumps.t = check_t(what, t_batch, x0.size(0), 1, timesteps());
  if (!s_batch.defined()) {
    jumps.s = jumps.t;
    for (int64_t& v : jumps.s) v -= 1;
    return jumps;
  }
  jumps.s = check_t(what, s_batch, x0.size(0), 0, timesteps() - 1, "s");
  for (size_t b = 0; b < jumps.t.size(); ++b)
    if (jumps.s[b] >= jumps.t[b]) fail(what, "need s < t for every example");
  return jumps;
}

Tensor D3pm::vb_terms(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t, const Tensor& t_batch) const {
  const Jumps jumps = check_bound_args("vb_terms", model_logits, x0, x_t, t_batch, Tensor());
  return bound_terms(model_logits, x0, x_t, jumps.t, jumps.s, true);
}

Tensor D3pm::vb_terms_skip(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t, const Tensor& t_batch,
                           const Tensor& s_batch) const {
  const Jumps jumps = check_bound_args("vb_terms_skip", model_logits, x0, x_t, t_batch, s_batch);
  return bound_terms(model_logits, x0, x_t, jumps.t, jumps.s, false);
}

Tensor D3pm::vb_terms_f64(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t, const Tensor& t_batch,
                          const Tensor& s_batch) const {
  const Jumps jumps = check_bound_args("vb_terms_f64", model_logits, x0, x_t, t_batch, s_batch);
  if (fused_bound_applies(model_logits)) return dense_bound_terms(model_logits, x0, x_t, jumps.t, jumps.s, !s_batch.defined());
  return bound_terms(model_logits.to(DType::F64), x0, x_t, jumps.t, jumps.s, !s_batch.defined());
}

bool D3pm::fused_bound_applies(const Tensor& model_logits) const {
  return process_.dense() && !needs_grad({model_logits});
}

Tensor D3pm::bound_terms(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t, const std::vector<int64_t>& t,
                         const std::vector<int64_t>& s, bool one_step) const {
  if (x0.shape() != x_t.shape()) fail("vb_terms", "x0 and x_t shapes differ");
  if (model_logits.dtype() == DType::F64 && fused_bound_applies(model_logits))
    return dense_bound_terms(model_logits, x0, x_t, t, s, one_step);
  const int64_t B = x0.size(0);
  const DType dt = model_logits.dtype();
  // The general formula at every example (finite everywhere); the decoder choice enters L_0 only.
  const Tensor plog = reverse_logits(model_logits, x_t, t, s, one_step, false);
  Tensor q, lq;
  {
    NoGradGuard no_grad;
    const Tensor qlog = posterior_logits(x0, x_t, t, s, one_step, dt);
    lq = log_softmax(qlog, -1);
    q = exp(lq);
  }
  // KL(q || p) per position, clamped at >= 0: [B, L]
  const Tensor kl = clamp(sum(mul(q, sub(lq, log_softmax(plog, -1))), {-1}), 0.0, std::numeric_limits<double>::infinity());
  Tensor per_position = kl;
  if (std::any_of(s.begin(), s.end(), [](int64_t v) { return v == 0; })) {
    std::vector<double> at0(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) at0[static_cast<size_t>(b)] = s[static_cast<size_t>(b)] == 0 ? 1.0 : 0.0;
    // L_0 = -log p_theta(x0 | x_t): the general formula with Qbar_0 = I, or ptilde itself.
    const Tensor decoder = config().decoder == D3pmDecoder::Posterior ? plog : x0_log_probs(model_logits);
    per_position = where(Tensor::from_vector(at0, {B, 1}).to(dt), cross_entropy(decoder, x0, Reduction::None), kl);
  }
  return sum(per_position, {1});
}

Tensor D3pm::x0_cross_entropy(const Tensor& model_logits, const Tensor& x0) const {
  check_ids("x0_cross_entropy", x0, process_.states(), true);
  check_logits("x0_cross_entropy", model_logits, x0, num_states());
  return sum(cross_entropy(x0_log_probs(model_logits), x0, Reduction::None), {1});
}

D3pmLoss D3pm::loss_from_logits(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t,
                                const Tensor& t_batch, const Tensor& weight) const {
  D3pmLoss out;
  out.x_t = x_t;
  out.vb = vb_terms(model_logits, x0, x_t, t_batch);
  const double lambda = config().hybrid_lambda;
  if (lambda > 0) {
    out.ce = x0_cross_entropy(model_logits, x0);
    out.per_example = add(out.vb, mul(out.ce, lambda));
  } else {
    {
      NoGradGuard no_grad;  // reported, not trained on
      out.ce = x0_cross_entropy(model_logits, x0);
    }
    out.per_example = out.vb;
  }
  if (weight.defined() && (weight.dim() != 1 || weight.size(0) != x0.size(0)))
    fail("loss_from_logits", "weight " + describe(weight) + " must be [" + std::to_string(x0.size(0)) + "]");
  out.loss = mean(weight.defined() ? mul(out.per_example, weight.to(out.per_example.dtype())) : out.per_example);
  if (config().loss_bits_per_dim) out.loss = mul(out.loss, 1.0 / (static_cast<double>(x0.size(1)) * std::numbers::ln2));
  return out;
}

D3pmLoss D3pm::training_loss(const X0Model& model, const Tensor& x0, const Tensor& t_batch, Philox& rng) const {
  return training_loss_at(model, x0, t_batch, q_sample(x0, t_batch, rng));
}

D3pmLoss D3pm::training_loss_at(const X0Model& model, const Tensor& x0, const Tensor& t_batch, const Tensor& x_t,
                                const Tensor& weight) const {
  return loss_from_logits(model(x_t, model_step(t_batch)), x0, x_t, t_batch, weight);
}

}  // namespace diffuse::diffusion
