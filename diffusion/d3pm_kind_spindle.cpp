// Absorbing with DiffusionBERT's spindle schedule (He et al. 2022; docs/math.md §3.4.6): a position holding
// token i is masked in x_t with probability spindle_mask_prob(t, i, c), where w_i comes from the token's
// training-set frequency and c is its sequence's mean weight. Given c, each position is a Markov chain whose
// one-step matrix depends on the current state, so the posterior and the reverse step keep their form with
// state-dependent stay probabilities keep_t(k) = 1 - spindle_mask_prob(t, k, c):
//   row x of Qbar_s        = keep_s(x) e_x + (1 - keep_s(x)) e_m
//   column x of Q_{s+1..t} = r e_x if x is unmasked, (1 - r) on the data states and 1 at m if x = m,
//                            r = keep_t / keep_s.
// q takes c from x0. p_theta cannot see x0, so its reverse step uses
//   c_hat = mean over positions of (x_t unmasked ? w(x_t) : E_ptilde[w])
// (differentiable in ptilde): a valid reverse process, so the bound stays a bound (DiffusionBERT's own code
// feeds p the true x0's weights during evaluation). A perfect ptilde gives c_hat = c and L_{t-1} = 0.
// Q_t and Qbar_t have no form independent of the sequence: the matrix accessors refuse.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "diffusion/d3pm_kinds.hpp"
#include "diffusion/d3pm_process.hpp"
#include "diffusion/d3pm_rows.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

namespace {

class SpindleKind final : public D3pmTransitionKind {
 public:
  explicit SpindleKind(const D3pmConfig& config) : D3pmTransitionKind(config) {
    values_ = beta_schedule_values(config);
    // w from the raw counts of the data states; 0 at the mask.
    const int64_t K = states().num_states;
    const std::vector<int64_t> ids = states().data_ids();
    std::vector<double> raw(static_cast<size_t>(K), 0.0);
    const bool per_state = static_cast<int64_t>(config.token_counts.size()) == K;
    for (size_t a = 0; a < ids.size(); ++a)
      raw[static_cast<size_t>(ids[a])] = config.token_counts[per_state ? static_cast<size_t>(ids[a]) : a];
    weights_ = diffusion::spindle_weights(raw);
    weights_[static_cast<size_t>(states().mask)] = 0.0;
    set_mask_prior();
  }

  bool depends_on_sequence() const override { return true; }
  const std::vector<double>& spindle_weights() const override { return weights_; }

  double q_entry(int64_t, int64_t, int64_t) const override {
    throw std::logic_error("q_entry: the spindle schedule's Q_t depends on the sequence");
  }
  DenseMatrix q_matrix(int64_t) const override {
    throw std::logic_error("q_matrix: the spindle schedule's Q_t depends on the sequence");
  }
  DenseMatrix qbar_matrix(int64_t) const override {
    throw std::logic_error("qbar_matrix: the spindle schedule's Qbar_t depends on the sequence");
  }
  DenseMatrix q_product(int64_t, int64_t) const override {
    throw std::logic_error("q_product: the spindle schedule's Q_t depends on the sequence");
  }

  void qbar_row_into(int64_t s, int64_t x, double c, double* out) const override {
    const int64_t m = states().mask;
    std::fill(out, out + states().num_states, 0.0);
    if (x == m) {
      out[m] = 1.0;
      return;
    }
    const double keep = 1.0 - mask_prob(s, x, c);
    out[x] = keep;
    out[m] += 1.0 - keep;
  }

  void product_column_into(int64_t s, int64_t t, int64_t x, bool, double c, const DenseMatrix*,
                           double* out) const override {
    const int64_t K = states().num_states, m = states().mask;
    std::fill(out, out + K, 0.0);
    for (int64_t k = 0; k < K; ++k) {
      if (k == m) continue;
      const double keep_s = 1.0 - mask_prob(s, k, c), keep_t = 1.0 - mask_prob(t, k, c);
      const double r = keep_s > 0 ? keep_t / keep_s : 0.0;
      if (x == m) out[k] = 1.0 - r;
      else if (k == x) out[k] = r;
    }
    if (x == m) out[m] = 1.0;
  }

  Tensor dist_times_qbar(const Tensor&, const std::vector<int64_t>&) const override {
    throw std::logic_error("dist_times_qbar: the spindle schedule's Qbar_s depends on the sequence (reverse_factors)");
  }

  // Both factors of eq. 4 at the reverse process's c_hat (see the file comment).
  ReverseFactors reverse_factors(const Tensor& ptilde, const Tensor& x_t, const std::vector<int64_t>& t,
                                 const std::vector<int64_t>& s, bool) const override {
    const int64_t B = x_t.size(0), L = x_t.size(1), K = states().num_states, m = states().mask, T = timesteps();
    const DType dt = ptilde.dtype();
    const std::vector<int64_t> yv = d3pm_rows::token_ids(x_t);
    const std::vector<double>& w = weights_;
    // Constants: one-hot x_t [B, L, K], x_t == mask [B, L, 1] and [B, L], w(x_t) for unmasked positions [B, L].
    std::vector<double> onehot(static_cast<size_t>(B * L * K), 0.0), masked(static_cast<size_t>(B * L)),
        known(static_cast<size_t>(B * L));
    for (int64_t r = 0; r < B * L; ++r) {
      const int64_t y = yv[static_cast<size_t>(r)];
      onehot[static_cast<size_t>(r * K + y)] = 1.0;
      masked[static_cast<size_t>(r)] = y == m ? 1.0 : 0.0;
      known[static_cast<size_t>(r)] = y == m ? 0.0 : w[static_cast<size_t>(y)];
    }
    const Tensor onehot_t = Tensor::from_vector(onehot, {B, L, K}).to(dt);
    const Tensor masked2 = Tensor::from_vector(masked, {B, L}).to(dt);
    const Tensor masked3 = masked2.reshape({B, L, 1});
    const Tensor wvec = Tensor::from_vector(w, {K}).to(dt);
    const Tensor on_data = d3pm_rows::state_indicator(K, dt, [&](int64_t k) { return k != m; });
    const Tensor at_mask = d3pm_rows::state_indicator(K, dt, [&](int64_t k) { return k == m; });
    const Tensor one = Tensor::ones({}, dt);

    // c_hat = mean over positions of (unmasked ? w(x_t) : E_ptilde[w]): [B, 1, 1], differentiable in ptilde.
    const Tensor ew = sum(mul(ptilde, wvec), {-1});
    const Tensor c_hat = mean(add(Tensor::from_vector(known, {B, L}).to(dt), mul(masked2, ew)), {1}).reshape({B, 1, 1});
    // keep_u(k) = 1 - spindle_mask_prob(u, k, c_hat) at each example's u = t_or_s[b] (its t, or its s):
    // [B, 1, K], 1 at the mask.
    auto keep = [&](const std::vector<int64_t>& t_or_s) {
      std::vector<double> frac(static_cast<size_t>(B)), coef(static_cast<size_t>(B)), at_T(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b) {
        const double x = static_cast<double>(t_or_s[static_cast<size_t>(b)]) / static_cast<double>(T);
        frac[static_cast<size_t>(b)] = x;
        coef[static_cast<size_t>(b)] = config().spindle_lambda * std::sin(std::numbers::pi * x);
        at_T[static_cast<size_t>(b)] = t_or_s[static_cast<size_t>(b)] >= T ? 1.0 : 0.0;
      }
      const Tensor prob = clamp(add(d3pm_rows::per_example(frac, dt), mul(d3pm_rows::per_example(coef, dt), sub(wvec, c_hat))),
                                0.0, 0.999);
      const Tensor k = sub(one, mul(prob, on_data));
      return where(d3pm_rows::per_example(at_T, dt), at_mask, k);
    };
    const Tensor keep_s = keep(s), keep_t = keep(t);
    // ptilde Qbar_s = ptilde .* keep_s + (sum ptilde .* (1 - keep_s)) e_m
    const Tensor dist_qbar = add(mul(ptilde, keep_s), mul(sum(mul(ptilde, sub(one, keep_s)), {-1}, true), at_mask));
    // x_t (Q_{s+1} ... Q_t)^T with r = keep_t / keep_s: r at x_t if unmasked; 1 - r (1 at m) if masked.
    const Tensor r = div(keep_t, keep_s);
    const Tensor column = add(mul(onehot_t, r), mul(masked3, sub(one, r)));
    return {log(add(column, d3pm_rows::kEps)), dist_qbar};
  }

  std::vector<double> sequence_weights(const std::vector<int64_t>& x0, int64_t B, int64_t L) const override {
    std::vector<double> c(static_cast<size_t>(B), 0.0);
    for (int64_t b = 0; b < B; ++b) {
      double sum_w = 0;
      for (int64_t l = 0; l < L; ++l) sum_w += weights_[static_cast<size_t>(x0[static_cast<size_t>(b * L + l)])];
      c[static_cast<size_t>(b)] = sum_w / static_cast<double>(L);
    }
    return c;
  }

  // The masking probability of state j at t in a sequence of mean weight c; 0 for the mask itself.
  double mask_prob(int64_t t, int64_t j, double c) const {
    if (j == states().mask) return 0.0;
    return spindle_mask_prob(t, timesteps(), config().spindle_lambda, weights_[static_cast<size_t>(j)], c);
  }

 private:
  std::vector<double> weights_;  // w over the K states, 0 at the mask
};

}  // namespace

extern const D3pmKindUnit kSpindleKind = {
    "absorbing (spindle schedule)",
    [](const D3pmConfig& c) { return c.kind == D3pmKind::Absorbing && c.schedule == D3pmScheduleKind::Spindle; },
    [](const D3pmConfig& c) {
      if (!c.states.has_mask()) fail_d3pm_config(c, "absorbing needs a mask state");
      if (!c.states.has_extra_mask()) fail_d3pm_config(c, "spindle needs an extra mask state");
      const int64_t n = static_cast<int64_t>(c.token_counts.size());
      if (n != c.states.num_states && n != c.states.num_data()) fail_d3pm_config(c, "spindle needs token_counts of K or K_d entries");
      if (!(std::abs(c.spindle_lambda) * std::numbers::pi <= 1.0))
        fail_d3pm_config(c, "|spindle_lambda| must be <= 1/pi so that the masking probability grows with t");
    },
    [](const D3pmConfig& c) -> std::unique_ptr<D3pmTransitionKind> { return std::make_unique<SpindleKind>(c); },
};

}  // namespace diffuse::diffusion
