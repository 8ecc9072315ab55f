// The D3PM forward process: per-step constants and cached matrices, in double precision.
#include "diffusion/d3pm_process.hpp"

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace diffuse::diffusion {

D3pmKind parse_d3pm_kind(const std::string& name) {
  if (name == "uniform") return D3pmKind::Uniform;
  if (name == "absorbing" || name == "mask") return D3pmKind::Absorbing;
  if (name == "gaussian") return D3pmKind::Gaussian;
  if (name == "nn" || name == "nearest_neighbor") return D3pmKind::NearestNeighbor;
  if (name == "mask_replace" || name == "mask-replace" || name == "mask-and-replace") return D3pmKind::MaskReplace;
  throw std::invalid_argument("unknown D3PM kind '" + name + "' (uniform, absorbing, gaussian, nn, mask-replace)");
}

const char* d3pm_kind_name(D3pmKind kind) {
  switch (kind) {
    case D3pmKind::Uniform: return "uniform";
    case D3pmKind::Absorbing: return "absorbing";
    case D3pmKind::Gaussian: return "gaussian";
    case D3pmKind::NearestNeighbor: return "nn";
    case D3pmKind::MaskReplace: return "mask_replace";
  }
  return "?";
}

D3pmDecoder parse_d3pm_decoder(const std::string& name) {
  if (name == "posterior") return D3pmDecoder::Posterior;
  if (name == "ptilde") return D3pmDecoder::Ptilde;
  throw std::invalid_argument("unknown D3PM decoder '" + name + "' (posterior, ptilde)");
}

const char* d3pm_decoder_name(D3pmDecoder decoder) {
  return decoder == D3pmDecoder::Posterior ? "posterior" : "ptilde";
}

void D3pmConfig::validate() const {
  states.validate();
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string("D3PM config (") + d3pm_kind_name(kind) + ", " +
                                d3pm_schedule_name(schedule) + "): " + why);
  };
  if (timesteps < 1) fail("timesteps must be >= 1");
  const bool beta_schedule = schedule == D3pmScheduleKind::Linear || schedule == D3pmScheduleKind::Cosine ||
                             schedule == D3pmScheduleKind::Jsd;
  switch (kind) {
    case D3pmKind::Uniform:
      if (!beta_schedule && schedule != D3pmScheduleKind::MutualInfo) fail("uniform takes linear, cosine, jsd or mi");
      break;
    case D3pmKind::Absorbing:
      if (!states.has_mask()) fail("absorbing needs a mask state");
      if (!beta_schedule && schedule != D3pmScheduleKind::MutualInfo && schedule != D3pmScheduleKind::Spindle)
        fail("absorbing takes linear, cosine, jsd, mi or spindle");
      break;
    case D3pmKind::Gaussian:
      if (!beta_schedule) fail("gaussian takes linear, cosine or jsd (its Qbar has no one-parameter form for mi)");
      break;
    case D3pmKind::NearestNeighbor:
      if (!beta_schedule && schedule != D3pmScheduleKind::MutualInfo) fail("nn takes linear, cosine, jsd or mi");
      if (nn_embeddings.empty() || nn_embedding_dim < 1) fail("nn needs embeddings (nn_embeddings, nn_embedding_dim)");
      if (nn_knn < 1) fail("nn_knn must be >= 1");
      if (!(mi_max_exponent > 0)) fail("mi_max_exponent must be > 0");
      break;
    case D3pmKind::MaskReplace:
      if (!states.has_extra_mask()) fail("mask_replace needs an extra mask state (not a data value)");
      if (schedule != D3pmScheduleKind::VqDiffusion) fail("mask_replace takes the vq schedule");
      break;
  }
  if (schedule == D3pmScheduleKind::MutualInfo) {
    const int64_t n = static_cast<int64_t>(unigram.size());
    if (n != states.num_states && n != states.num_data()) fail("mi needs a unigram distribution of K or K_d entries");
  }
  if (schedule == D3pmScheduleKind::Spindle) {
    if (!states.has_extra_mask()) fail("spindle needs an extra mask state");
    const int64_t n = static_cast<int64_t>(token_counts.size());
    if (n != states.num_states && n != states.num_data()) fail("spindle needs token_counts of K or K_d entries");
    if (!(std::abs(spindle_lambda) * 3.141592653589793 <= 1.0))
      fail("|spindle_lambda| must be <= 1/pi so that the masking probability grows with t");
  }
  if (!(hybrid_lambda >= 0)) fail("hybrid_lambda must be >= 0");
}

std::vector<double> load_embedding_matrix(const std::string& path, int64_t* rows, int64_t* dim) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("load_embedding_matrix: cannot open " + path);
  std::vector<double> values;
  std::string line;
  int64_t r = 0, d = -1;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    double v;
    int64_t n = 0;
    while (s >> v) {
      values.push_back(v);
      ++n;
    }
    if (n == 0) continue;
    if (d >= 0 && n != d)
      throw std::runtime_error("load_embedding_matrix: " + path + " row " + std::to_string(r) + " has " +
                               std::to_string(n) + " values, the first had " + std::to_string(d));
    d = n;
    ++r;
  }
  if (r == 0) throw std::runtime_error("load_embedding_matrix: " + path + " holds no numbers");
  *rows = r;
  *dim = d;
  return values;
}

namespace {

// p over the K states from a vector of K entries or of the K_d data states; normalised.
std::vector<double> over_states(const D3pmStates& s, const std::vector<double>& v, const char* what) {
  std::vector<double> p(static_cast<size_t>(s.num_states), 0.0);
  const std::vector<int64_t> ids = s.data_ids();
  if (static_cast<int64_t>(v.size()) == s.num_states) {
    for (int64_t i : ids) p[static_cast<size_t>(i)] = v[static_cast<size_t>(i)];
  } else {
    for (size_t a = 0; a < ids.size(); ++a) p[static_cast<size_t>(ids[a])] = v[a];
  }
  double total = 0;
  for (double x : p) {
    if (!(x >= 0)) throw std::invalid_argument(std::string(what) + ": negative or NaN entry");
    total += x;
  }
  if (!(total > 0)) throw std::invalid_argument(std::string(what) + ": all zero");
  return p;
}

}  // namespace

D3pmProcess::D3pmProcess(const D3pmConfig& config) : config_(config) {
  config_.validate();
  const D3pmStates& st = config_.states;
  const int64_t T = config_.timesteps, K = st.num_states;
  const size_t n = static_cast<size_t>(T + 1);
  const std::vector<int64_t> ids = st.data_ids();

  switch (config_.schedule) {
    case D3pmScheduleKind::Linear: betas_ = d3pm_linear_betas(T, config_.beta_start, config_.beta_end); break;
    case D3pmScheduleKind::Cosine: betas_ = d3pm_cosine_betas(T, config_.cosine_s, config_.max_beta); break;
    case D3pmScheduleKind::Jsd:
    case D3pmScheduleKind::Spindle: betas_ = d3pm_jsd_betas(T); break;  // spindle: lambda = 0 limit, for reference
    default: betas_.assign(n, 0.0); break;
  }
  abar_ = cumulative_alphas(betas_);
  exponents_.assign(n, 0.0);

  std::vector<double> unigram;
  double entropy = 0;
  if (config_.schedule == D3pmScheduleKind::MutualInfo) {
    unigram = over_states(st, config_.unigram, "mi unigram");
    double total = 0;
    for (double x : unigram) total += x;
    for (double& x : unigram) x /= total;
    entropy = entropy_nats(unigram);
  }

  if (config_.schedule == D3pmScheduleKind::MutualInfo &&
      (kind() == D3pmKind::Uniform || kind() == D3pmKind::Absorbing)) {
    std::vector<char> is_data(static_cast<size_t>(K));
    for (int64_t i = 0; i < K; ++i) is_data[static_cast<size_t>(i)] = st.is_data(i) ? 1 : 0;
    const int64_t m = st.mask;
    const bool uniform = kind() == D3pmKind::Uniform;
    abar_ = mutual_info_abar(
        [&](double a) {
          return uniform ? uniform_mutual_information(unigram, is_data, a) : absorbing_mutual_information(unigram, m, a);
        },
        entropy, T);
    for (size_t t = 1; t < n; ++t) betas_[t] = abar_[t - 1] > 0 ? 1.0 - abar_[t] / abar_[t - 1] : 1.0;
  }

  if (kind() == D3pmKind::MaskReplace) {
    mr_ = vq_diffusion_schedule(T, st.num_data(), config_.vq_abar_start, config_.vq_abar_end, config_.vq_gbar_start,
                                config_.vq_gbar_end);
    abar_ = mr_.abar;
    betas_ = mr_.beta;
  }

  if (kind() == D3pmKind::Gaussian) {
    const int64_t kd = st.num_data();
    gauss_offdiag_.assign(n, {});
    qbar_.assign(n, DenseMatrix());
    qbar_[0] = DenseMatrix::identity(K);
    for (int64_t t = 1; t <= T; ++t) {
      gauss_offdiag_[static_cast<size_t>(t)] = gaussian_offdiagonal(kd, betas_[static_cast<size_t>(t)]);
      qbar_[static_cast<size_t>(t)] = dense_matmul(qbar_[static_cast<size_t>(t - 1)], q_matrix(t));
    }
  }

  if (kind() == D3pmKind::NearestNeighbor) {
    final_mask_ = st.has_extra_mask() && config_.nn_final_mask;
    const int64_t rows = static_cast<int64_t>(config_.nn_embeddings.size()) / config_.nn_embedding_dim;
    rate_ = nearest_neighbor_rate(st, config_.nn_embeddings, rows, config_.nn_embedding_dim, config_.nn_knn);
    const int64_t last = final_mask_ ? T - 1 : T;
    if (config_.schedule == D3pmScheduleKind::MutualInfo) {
      const SymmetricEigen eig = symmetric_eigen(rate_);
      exponents_ = mutual_info_exponents([&](double e) { return mutual_information(unigram, eigen_expm(eig, e)); },
                                         entropy, T, last, config_.mi_max_exponent);
    } else {
      exponents_ = cumulative_exponents(betas_);
      for (int64_t t = last + 1; t <= T; ++t) exponents_[static_cast<size_t>(t)] = exponents_[static_cast<size_t>(last)];
    }
    q_.assign(n, DenseMatrix());
    qbar_.assign(n, DenseMatrix());
    qbar_[0] = DenseMatrix::identity(K);
    for (int64_t t = 1; t <= last; ++t) {
      const size_t i = static_cast<size_t>(t);
      q_[i] = expm(dense_scale(rate_, exponents_[i] - exponents_[i - 1]));
      qbar_[i] = expm(dense_scale(rate_, exponents_[i]));
    }
    if (final_mask_) {
      q_[static_cast<size_t>(T)] = all_to_mask_matrix(st);
      qbar_[static_cast<size_t>(T)] = all_to_mask_matrix(st);
    }
  }

  if (spindle()) {  // w from the raw counts of the data states; 0 at the mask
    std::vector<double> raw(static_cast<size_t>(K), 0.0);
    const bool per_state = static_cast<int64_t>(config_.token_counts.size()) == K;
    for (size_t a = 0; a < ids.size(); ++a)
      raw[static_cast<size_t>(ids[a])] = config_.token_counts[per_state ? static_cast<size_t>(ids[a]) : a];
    spindle_w_ = diffusion::spindle_weights(raw);
    spindle_w_[static_cast<size_t>(st.mask)] = 0.0;
  }

  // The prior p(x_T).
  prior_.assign(static_cast<size_t>(K), 0.0);
  const bool to_mask = kind() == D3pmKind::Absorbing || kind() == D3pmKind::MaskReplace || final_mask_;
  if (to_mask) {
    prior_[static_cast<size_t>(st.mask)] = 1.0;
  } else {
    for (int64_t i : ids) prior_[static_cast<size_t>(i)] = 1.0 / static_cast<double>(ids.size());
  }
}

void D3pmProcess::check_t(int64_t t, int64_t lo, const char* what) const {
  if (t < lo || t > timesteps())
    throw std::invalid_argument(std::string(what) + ": t = " + std::to_string(t) + " outside [" + std::to_string(lo) +
                                ", " + std::to_string(timesteps()) + "]");
}

double D3pmProcess::q_entry(int64_t t, int64_t i, int64_t j) const {
  check_t(t, 1, "q_entry");
  if (spindle()) throw std::logic_error("q_entry: the spindle schedule's Q_t depends on the sequence");
  const D3pmStates& st = states();
  const size_t ti = static_cast<size_t>(t);
  if (st.has_extra_mask() && i == st.mask && kind() != D3pmKind::NearestNeighbor) return j == i ? 1.0 : 0.0;
  switch (kind()) {
    case D3pmKind::Uniform:
      if (!st.is_data(j)) return 0.0;
      return (i == j ? 1.0 - betas_[ti] : 0.0) + betas_[ti] / static_cast<double>(st.num_data());
    case D3pmKind::Absorbing:
      return (i == j ? 1.0 - betas_[ti] : 0.0) + (j == st.mask ? betas_[ti] : 0.0);
    case D3pmKind::Gaussian: {
      if (!st.is_data(j)) return 0.0;
      const auto pos = [&](int64_t x) { return st.has_extra_mask() && x > st.mask ? x - 1 : x; };
      const int64_t a = pos(i), b = pos(j), kd = st.num_data();
      const std::vector<double>& g = gauss_offdiag_[ti];
      if (a != b) return g[static_cast<size_t>(std::abs(a - b))];
      double off = 0;
      for (int64_t d = 1; d <= a; ++d) off += g[static_cast<size_t>(d)];
      for (int64_t d = 1; d <= kd - 1 - a; ++d) off += g[static_cast<size_t>(d)];
      return 1.0 - off;
    }
    case D3pmKind::NearestNeighbor: return q_[ti](i, j);
    case D3pmKind::MaskReplace:
      if (j == st.mask) return mr_.gamma[ti];
      return mr_.beta[ti] + (i == j ? mr_.alpha[ti] : 0.0);
  }
  return 0.0;
}

DenseMatrix D3pmProcess::q_matrix(int64_t t) const {
  check_t(t, 1, "q_matrix");
  const int64_t K = num_states();
  if (kind() == D3pmKind::NearestNeighbor) return q_[static_cast<size_t>(t)];
  DenseMatrix q(K);
  if (kind() == D3pmKind::Gaussian) {  // O(K^2): row sums directly
    const D3pmStates& st = states();
    const std::vector<int64_t> ids = st.data_ids();
    const std::vector<double>& g = gauss_offdiag_[static_cast<size_t>(t)];
    const int64_t kd = static_cast<int64_t>(ids.size());
    for (int64_t a = 0; a < kd; ++a) {
      double off = 0;
      for (int64_t b = 0; b < kd; ++b)
        if (b != a) {
          q(ids[static_cast<size_t>(a)], ids[static_cast<size_t>(b)]) = g[static_cast<size_t>(std::abs(a - b))];
          off += g[static_cast<size_t>(std::abs(a - b))];
        }
      q(ids[static_cast<size_t>(a)], ids[static_cast<size_t>(a)]) = 1.0 - off;
    }
    if (st.has_extra_mask()) q(st.mask, st.mask) = 1.0;
    return q;
  }
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < K; ++j) q(i, j) = q_entry(t, i, j);
  return q;
}

const DenseMatrix& D3pmProcess::cached_qbar(int64_t t) const {
  check_t(t, 0, "cached_qbar");
  if (!dense()) throw std::logic_error("cached_qbar: only the Gaussian and nearest-neighbour kinds cache Qbar_t");
  return qbar_[static_cast<size_t>(t)];
}

namespace {
// The closed-form cumulative matrix of the uniform / absorbing / mask-and-replace kinds from its values:
// keep = abar (or the ratio abar_t / abar_s), and for mask-and-replace gmask = gammabar.
DenseMatrix closed_form(const D3pmStates& st, D3pmKind kind, double keep, double gmask) {
  const int64_t K = st.num_states;
  const std::vector<int64_t> ids = st.data_ids();
  const double kd = static_cast<double>(ids.size());
  DenseMatrix q(K);
  switch (kind) {
    case D3pmKind::Uniform:
      for (int64_t i : ids) {
        for (int64_t j : ids) q(i, j) = (1 - keep) / kd;
        q(i, i) += keep;
      }
      if (st.has_extra_mask()) q(st.mask, st.mask) = 1.0;
      break;
    case D3pmKind::Absorbing:
      for (int64_t i = 0; i < K; ++i) {
        q(i, i) = keep;
        q(i, st.mask) += 1 - keep;
      }
      break;
    case D3pmKind::MaskReplace: {
      const double b = std::max(0.0, (1 - keep - gmask) / kd);
      for (int64_t i : ids) {
        for (int64_t j : ids) q(i, j) = b;
        q(i, i) += keep;
        q(i, st.mask) = gmask;
      }
      q(st.mask, st.mask) = 1.0;
      break;
    }
    default: throw std::logic_error("closed_form: not a closed-form kind");
  }
  return q;
}
}  // namespace

DenseMatrix D3pmProcess::qbar_matrix(int64_t t) const {
  check_t(t, 0, "qbar_matrix");
  if (dense()) return qbar_[static_cast<size_t>(t)];
  if (spindle()) throw std::logic_error("qbar_matrix: the spindle schedule's Qbar_t depends on the sequence");
  const size_t ti = static_cast<size_t>(t);
  return closed_form(states(), kind(), abar_[ti], kind() == D3pmKind::MaskReplace ? mr_.gbar[ti] : 0.0);
}

DenseMatrix D3pmProcess::q_product(int64_t s, int64_t t) const {
  check_t(s, 0, "q_product");
  check_t(t, 0, "q_product");
  if (s > t) throw std::invalid_argument("q_product: s > t");
  if (spindle()) throw std::logic_error("q_product: the spindle schedule's Q_t depends on the sequence");
  const int64_t K = num_states();
  if (s == t) return DenseMatrix::identity(K);
  const size_t si = static_cast<size_t>(s), ti = static_cast<size_t>(t);
  if (!dense() && abar_[si] > 0) {
    const double keep = abar_[ti] / abar_[si];
    const double gmask = kind() == D3pmKind::MaskReplace ? 1 - (1 - mr_.gbar[ti]) / (1 - mr_.gbar[si]) : 0.0;
    return closed_form(states(), kind(), keep, gmask);
  }
  DenseMatrix p = q_matrix(s + 1);
  for (int64_t u = s + 2; u <= t; ++u) p = dense_matmul(p, q_matrix(u));
  return p;
}

double D3pmProcess::spindle_mask(int64_t t, int64_t j, double c) const {
  if (!spindle()) throw std::logic_error("spindle_mask: not a spindle schedule");
  if (j == states().mask) return 0.0;
  return spindle_mask_prob(t, timesteps(), config_.spindle_lambda, spindle_w_[static_cast<size_t>(j)], c);
}

}  // namespace diffuse::diffusion
