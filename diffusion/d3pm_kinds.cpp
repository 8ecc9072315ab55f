// The table of D3PM transition kinds, and what the kinds share (see d3pm_kinds.hpp).
#include "diffusion/d3pm_kinds.hpp"

#include <algorithm>

#include "diffusion/d3pm_process.hpp"
#include "diffusion/d3pm_rows.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

// ---- The one dispatch: each unit, and the table that picks one for a configuration -------------------
extern const D3pmKindUnit kUniformKind;          // d3pm_kind_uniform.cpp
extern const D3pmKindUnit kAbsorbingKind;        // d3pm_kind_absorbing.cpp
extern const D3pmKindUnit kSpindleKind;          // d3pm_kind_spindle.cpp
extern const D3pmKindUnit kGaussianKind;         // d3pm_kind_gaussian.cpp
extern const D3pmKindUnit kNearestNeighborKind;  // d3pm_kind_nearest_neighbor.cpp
extern const D3pmKindUnit kMaskReplaceKind;      // d3pm_kind_mask_replace.cpp

namespace {
const D3pmKindUnit* const kKindTable[] = {
    &kUniformKind, &kAbsorbingKind, &kSpindleKind, &kGaussianKind, &kNearestNeighborKind, &kMaskReplaceKind,
};

// The names a configuration may give each D3pmKind; the first is the canonical one.
struct KindNames {
  D3pmKind kind;
  std::vector<std::string> names;
};
const KindNames kKindNames[] = {
    {D3pmKind::Uniform, {"uniform"}},
    {D3pmKind::Absorbing, {"absorbing", "mask"}},
    {D3pmKind::Gaussian, {"gaussian"}},
    {D3pmKind::NearestNeighbor, {"nn", "nearest_neighbor"}},
    {D3pmKind::MaskReplace, {"mask_replace", "mask-replace", "mask-and-replace"}},
};
}  // namespace

D3pmKind parse_d3pm_kind(const std::string& name) {
  for (const KindNames& k : kKindNames)
    if (std::find(k.names.begin(), k.names.end(), name) != k.names.end()) return k.kind;
  throw std::invalid_argument("unknown D3PM kind '" + name + "' (uniform, absorbing, gaussian, nn, mask-replace)");
}

const char* d3pm_kind_name(D3pmKind kind) {
  for (const KindNames& k : kKindNames)
    if (k.kind == kind) return k.names[0].c_str();
  return "?";
}

const D3pmKindUnit& d3pm_kind_unit(const D3pmConfig& config) {
  for (const D3pmKindUnit* unit : kKindTable)
    if (unit->serves(config)) return *unit;
  fail_d3pm_config(config, "no transition kind serves this configuration");
}

std::unique_ptr<D3pmTransitionKind> make_d3pm_kind(const D3pmConfig& config) {
  return d3pm_kind_unit(config).make(config);
}

void fail_d3pm_config(const D3pmConfig& config, const std::string& why) {
  throw std::invalid_argument(std::string("D3PM config (") + d3pm_kind_name(config.kind) + ", " +
                              d3pm_schedule_name(config.schedule) + "): " + why);
}

// ---- What every kind shares ---------------------------------------------------------------------------

D3pmTransitionKind::D3pmTransitionKind(const D3pmConfig& config)
    : config_(std::make_shared<const D3pmConfig>(config)) {}

const D3pmStates& D3pmTransitionKind::states() const { return config_->states; }
int64_t D3pmTransitionKind::timesteps() const { return config_->timesteps; }

D3pmStepValues D3pmTransitionKind::beta_schedule_values(const D3pmConfig& config) {
  const int64_t T = config.timesteps;
  D3pmStepValues v;
  switch (config.schedule) {
    case D3pmScheduleKind::Linear: v.betas = d3pm_linear_betas(T, config.beta_start, config.beta_end); break;
    case D3pmScheduleKind::Cosine: v.betas = d3pm_cosine_betas(T, config.cosine_s, config.max_beta); break;
    case D3pmScheduleKind::Jsd:
    case D3pmScheduleKind::Spindle: v.betas = d3pm_jsd_betas(T); break;  // spindle: lambda = 0 limit, for reference
    default: v.betas.assign(static_cast<size_t>(T + 1), 0.0); break;
  }
  v.abar = cumulative_alphas(v.betas);
  v.exponents.assign(static_cast<size_t>(T + 1), 0.0);
  return v;
}

D3pmTransitionKind::InformationTarget D3pmTransitionKind::information_target(const D3pmConfig& config) {
  // The unigram over the K states, from K entries or from the K_d data states' entries.
  std::vector<double> p(static_cast<size_t>(config.states.num_states), 0.0);
  const std::vector<int64_t> ids = config.states.data_ids();
  if (static_cast<int64_t>(config.unigram.size()) == config.states.num_states) {
    for (int64_t i : ids) p[static_cast<size_t>(i)] = config.unigram[static_cast<size_t>(i)];
  } else {
    for (size_t a = 0; a < ids.size(); ++a) p[static_cast<size_t>(ids[a])] = config.unigram[a];
  }
  double total = 0;
  for (double x : p) {
    if (!(x >= 0)) throw std::invalid_argument("mi unigram: negative or NaN entry");
    total += x;
  }
  if (!(total > 0)) throw std::invalid_argument("mi unigram: all zero");
  for (double& x : p) x /= total;
  InformationTarget target;
  target.entropy = entropy_nats(p);
  target.unigram = std::move(p);
  return target;
}

void D3pmTransitionKind::solve_information_abar(
    const std::function<double(const std::vector<double>& unigram, double abar)>& info) {
  const InformationTarget target = information_target(config());
  values_.abar = mutual_info_abar([&](double a) { return info(target.unigram, a); }, target.entropy, timesteps());
  for (size_t t = 1; t < values_.abar.size(); ++t)
    values_.betas[t] = values_.abar[t - 1] > 0 ? 1.0 - values_.abar[t] / values_.abar[t - 1] : 1.0;
}

void D3pmTransitionKind::set_mask_prior() {
  prior_.assign(static_cast<size_t>(states().num_states), 0.0);
  prior_[static_cast<size_t>(states().mask)] = 1.0;
}

void D3pmTransitionKind::set_uniform_prior() {
  const std::vector<int64_t> ids = states().data_ids();
  prior_.assign(static_cast<size_t>(states().num_states), 0.0);
  for (int64_t i : ids) prior_[static_cast<size_t>(i)] = 1.0 / static_cast<double>(ids.size());
}

double D3pmTransitionKind::keep_between(int64_t s, int64_t t, bool one_step) const {
  const size_t si = static_cast<size_t>(s), ti = static_cast<size_t>(t);
  if (one_step) return 1.0 - values_.betas[ti];
  const double as = values_.abar[si];
  if (!(as > 0)) throw std::logic_error("product_column: abar_s = 0 (nothing of x0 left to skip from)");
  return values_.abar[ti] / as;
}

DenseMatrix D3pmTransitionKind::q_matrix(int64_t t) const {
  const int64_t K = states().num_states;
  DenseMatrix q(K);
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < K; ++j) q(i, j) = q_entry(t, i, j);
  return q;
}

DenseMatrix D3pmTransitionKind::q_product(int64_t s, int64_t t) const {
  DenseMatrix p = q_matrix(s + 1);
  for (int64_t u = s + 2; u <= t; ++u) p = dense_matmul(p, q_matrix(u));
  return p;
}

const DenseMatrix& D3pmTransitionKind::cached_qbar(int64_t) const {
  throw std::logic_error("cached_qbar: only the Gaussian and nearest-neighbour kinds cache Qbar_t");
}

ReverseFactors D3pmTransitionKind::reverse_factors(const Tensor& ptilde, const Tensor& x_t,
                                                   const std::vector<int64_t>& t, const std::vector<int64_t>& s,
                                                   bool one_step) const {
  const int64_t B = x_t.size(0), L = x_t.size(1), K = states().num_states;
  const d3pm_rows::DenseProducts products = d3pm_rows::prepare_products(*this, s, t, one_step);
  const d3pm_rows::LogRowTables columns = d3pm_rows::log_product_columns(*this, products, s, t, one_step);
  return {d3pm_rows::table_rows(B, L, K, ptilde.dtype(), columns, d3pm_rows::token_ids(x_t)),
          dist_times_qbar(ptilde, s)};
}

std::vector<double> D3pmTransitionKind::sequence_weights(const std::vector<int64_t>&, int64_t B, int64_t) const {
  return std::vector<double>(static_cast<size_t>(B), 0.0);
}

const DenseMatrix& D3pmTransitionKind::rate_matrix() const {
  static const DenseMatrix none;
  return none;
}

const std::vector<double>& D3pmTransitionKind::spindle_weights() const {
  static const std::vector<double> none;
  return none;
}

// ---- The kinds of one stay probability ---------------------------------------------------------------

DenseMatrix D3pmStayKind::q_product(int64_t s, int64_t t) const {
  const size_t si = static_cast<size_t>(s), ti = static_cast<size_t>(t);
  if (values_.abar[si] > 0) return closed_form(values_.abar[ti] / values_.abar[si]);
  return D3pmTransitionKind::q_product(s, t);
}

// ---- The dense kinds ----------------------------------------------------------------------------------

void D3pmDenseKind::qbar_row_into(int64_t s, int64_t x, double, double* out) const {
  const double* r = qbar_[static_cast<size_t>(s)].row(x);
  std::copy(r, r + states().num_states, out);
}

void D3pmDenseKind::product_column_into(int64_t, int64_t, int64_t x, bool, double, const DenseMatrix* product,
                                        double* out) const {
  for (int64_t k = 0; k < states().num_states; ++k) out[k] = (*product)(k, x);
}

Tensor D3pmDenseKind::dist_times_qbar(const Tensor& dist, const std::vector<int64_t>& s) const {
  const int64_t B = dist.size(0), K = states().num_states;
  const DType dt = dist.dtype();
  const bool same = std::all_of(s.begin(), s.end(), [&](int64_t v) { return v == s[0]; });
  if (same) return matmul(dist, Tensor::from_vector(cached_qbar(s[0]).a, {K, K}).to(dt));
  std::vector<double> mats(static_cast<size_t>(B * K * K));
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<double>& a = cached_qbar(s[static_cast<size_t>(b)]).a;
    std::copy(a.begin(), a.end(), mats.begin() + b * K * K);
  }
  return matmul(dist, Tensor::from_vector(mats, {B, K, K}).to(dt));
}

}  // namespace diffuse::diffusion
