// The nearest-neighbour kind (Austin et al. 2021 eqs. 9 and 16, the MI schedule eq. 17; docs/math.md §3.3.4): a token moves to
// tokens near it in an embedding space. From the k nearest neighbours of each data token,
// A = (A' + A'^T) / (2k) and the rate matrix R = A - diag(A 1) (nearest_neighbor_rate); then
//   Q_t = expm((e_t - e_{t-1}) R),   Qbar_t = expm(e_t R) (computed directly, not as a product),
// both dense and cached. Under a beta schedule the exponents are e_t = sum_{s <= t} beta_s (the reference
// code's), so Q_t = expm(beta_t R); the mutual-information schedule solves e_t so that
// I(x_t; x0) = (1 - t/T) H.
//
// Final mask step (our choice): with an extra mask state and nn_final_mask (the default then, as the
// reference "nearest-neighbor-cached" code), Q_T = 1 e_m^T sends every token to the mask, the exponents
// cover t = 1..T-1 only, and the prior is the mask; the MI schedule targets I = (1 - t/T) H for t < T and
// the mask step makes I = 0 at T, so I stays linear in t throughout. Without it, the prior is uniform over
// the data states and the MI schedule's e_T solves I = 1e-12 H (I = 0 needs e = infinity), capped at
// e_max = 1e5 (the reference's largest exponent); a disconnected kNN graph never loses all information and
// stops at e_max.
#include "diffusion/d3pm_kinds.hpp"
#include "diffusion/d3pm_process.hpp"

namespace diffuse::diffusion {

namespace {

class NearestNeighborKind final : public D3pmDenseKind {
 public:
  explicit NearestNeighborKind(const D3pmConfig& config) : D3pmDenseKind(config) {
    values_ = beta_schedule_values(config);
    const int64_t T = timesteps(), K = states().num_states;
    const size_t n = static_cast<size_t>(T + 1);
    final_mask_ = states().has_extra_mask() && config.nn_final_mask;
    const int64_t rows = static_cast<int64_t>(config.nn_embeddings.size()) / config.nn_embedding_dim;
    rate_ = nearest_neighbor_rate(states(), config.nn_embeddings, rows, config.nn_embedding_dim, config.nn_knn);
    const int64_t last = final_mask_ ? T - 1 : T;
    std::vector<double>& e = values_.exponents;
    if (config.schedule == D3pmScheduleKind::MutualInfo) {
      const InformationTarget target = information_target(config);
      const SymmetricEigen eig = symmetric_eigen(rate_);
      e = mutual_info_exponents([&](double x) { return mutual_information(target.unigram, eigen_expm(eig, x)); },
                                target.entropy, T, last, config.mi_max_exponent);
    } else {
      e = cumulative_exponents(values_.betas);
      for (int64_t t = last + 1; t <= T; ++t) e[static_cast<size_t>(t)] = e[static_cast<size_t>(last)];
    }
    q_.assign(n, DenseMatrix());
    qbar_.assign(n, DenseMatrix());
    qbar_[0] = DenseMatrix::identity(K);
    for (int64_t t = 1; t <= last; ++t) {
      const size_t ti = static_cast<size_t>(t);
      q_[ti] = expm(dense_scale(rate_, e[ti] - e[ti - 1]));
      qbar_[ti] = expm(dense_scale(rate_, e[ti]));
    }
    if (final_mask_) {
      q_[static_cast<size_t>(T)] = all_to_mask_matrix(states());
      qbar_[static_cast<size_t>(T)] = all_to_mask_matrix(states());
      set_mask_prior();
    } else {
      set_uniform_prior();
    }
  }

  double q_entry(int64_t t, int64_t i, int64_t j) const override { return q_[static_cast<size_t>(t)](i, j); }
  DenseMatrix q_matrix(int64_t t) const override { return q_[static_cast<size_t>(t)]; }
  const DenseMatrix& rate_matrix() const override { return rate_; }
  bool final_mask_step() const override { return final_mask_; }

 private:
  bool final_mask_ = false;
  DenseMatrix rate_;              // R
  std::vector<DenseMatrix> q_;    // [t], entry 0 unused
};

}  // namespace

extern const D3pmKindUnit kNearestNeighborKind = {
    "nn",
    [](const D3pmConfig& c) { return c.kind == D3pmKind::NearestNeighbor; },
    [](const D3pmConfig& c) {
      if (!is_beta_schedule(c.schedule) && c.schedule != D3pmScheduleKind::MutualInfo)
        fail_d3pm_config(c, "nn takes linear, cosine, jsd or mi");
      if (c.nn_embeddings.empty() || c.nn_embedding_dim < 1) fail_d3pm_config(c, "nn needs embeddings (nn_embeddings, nn_embedding_dim)");
      if (c.nn_knn < 1) fail_d3pm_config(c, "nn_knn must be >= 1");
      if (!(c.mi_max_exponent > 0)) fail_d3pm_config(c, "mi_max_exponent must be > 0");
    },
    [](const D3pmConfig& c) -> std::unique_ptr<D3pmTransitionKind> { return std::make_unique<NearestNeighborKind>(c); },
};

}  // namespace diffuse::diffusion
