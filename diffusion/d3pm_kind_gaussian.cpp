// The discretized Gaussian kind (Austin et al. 2021 eq. 8; docs/math.md §3.3.3):
// over the K_d ordinal data states, for i != j
//   [Q_t]_ij = exp(-4 (i - j)^2 / ((K_d - 1)^2 beta_t)) / sum_{n = -(K_d-1)}^{K_d-1} exp(-4 n^2 / ((K_d - 1)^2 beta_t)),
// the diagonal making each row sum to 1 (an extra mask is isolated). Q_t is Toeplitz off the diagonal, so
// only its off-diagonal values by distance are stored; Qbar_t = Qbar_{t-1} Q_t is cached densely for
// t = 0..T, (T + 1) K^2 doubles (0.5 GB at K = 256, T = 1000). Prior: uniform over the data states.
// Schedules: linear, cosine or jsd (its Qbar has no one-parameter form for the MI schedule).
#include <cmath>

#include "diffusion/d3pm_kinds.hpp"
#include "diffusion/d3pm_process.hpp"

namespace diffuse::diffusion {

namespace {

class GaussianKind final : public D3pmDenseKind {
 public:
  explicit GaussianKind(const D3pmConfig& config) : D3pmDenseKind(config) {
    values_ = beta_schedule_values(config);
    const int64_t T = timesteps(), K = states().num_states;
    const size_t n = static_cast<size_t>(T + 1);
    offdiagonal_.assign(n, {});
    qbar_.assign(n, DenseMatrix());
    qbar_[0] = DenseMatrix::identity(K);
    for (int64_t t = 1; t <= T; ++t) {
      offdiagonal_[static_cast<size_t>(t)] = gaussian_offdiagonal(states().num_data(), values_.betas[static_cast<size_t>(t)]);
      qbar_[static_cast<size_t>(t)] = dense_matmul(qbar_[static_cast<size_t>(t - 1)], q_matrix(t));
    }
    set_uniform_prior();
  }

  double q_entry(int64_t t, int64_t i, int64_t j) const override {
    if (states().has_extra_mask() && i == states().mask) return j == i ? 1.0 : 0.0;
    if (!states().is_data(j)) return 0.0;
    const int64_t a = ordinal(i), b = ordinal(j), kd = states().num_data();
    const std::vector<double>& g = offdiagonal_[static_cast<size_t>(t)];
    if (a != b) return g[static_cast<size_t>(std::abs(a - b))];
    double off = 0;
    for (int64_t d = 1; d <= a; ++d) off += g[static_cast<size_t>(d)];
    for (int64_t d = 1; d <= kd - 1 - a; ++d) off += g[static_cast<size_t>(d)];
    return 1.0 - off;
  }

  // O(K^2): the row sums directly.
  DenseMatrix q_matrix(int64_t t) const override {
    const std::vector<int64_t> ids = states().data_ids();
    const std::vector<double>& g = offdiagonal_[static_cast<size_t>(t)];
    const int64_t kd = static_cast<int64_t>(ids.size());
    DenseMatrix q(states().num_states);
    for (int64_t a = 0; a < kd; ++a) {
      double off = 0;
      for (int64_t b = 0; b < kd; ++b)
        if (b != a) {
          q(ids[static_cast<size_t>(a)], ids[static_cast<size_t>(b)]) = g[static_cast<size_t>(std::abs(a - b))];
          off += g[static_cast<size_t>(std::abs(a - b))];
        }
      q(ids[static_cast<size_t>(a)], ids[static_cast<size_t>(a)]) = 1.0 - off;
    }
    if (states().has_extra_mask()) q(states().mask, states().mask) = 1.0;
    return q;
  }

 private:
  // A data state's position among the data states (the ordinal the Gaussian acts on).
  int64_t ordinal(int64_t x) const {
    return states().has_extra_mask() && x > states().mask ? x - 1 : x;
  }

  std::vector<std::vector<double>> offdiagonal_;  // [t][d] = [Q_t]_{i, i+d}, d = 1..K_d-1
};

}  // namespace

extern const D3pmKindUnit kGaussianKind = {
    "gaussian",
    [](const D3pmConfig& c) { return c.kind == D3pmKind::Gaussian; },
    [](const D3pmConfig& c) {
      if (!is_beta_schedule(c.schedule))
        fail_d3pm_config(c, "gaussian takes linear, cosine or jsd (its Qbar has no one-parameter form for mi)");
    },
    [](const D3pmConfig& c) -> std::unique_ptr<D3pmTransitionKind> { return std::make_unique<GaussianKind>(c); },
};

}  // namespace diffuse::diffusion
