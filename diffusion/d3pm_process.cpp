// The D3PM forward process: the configuration's checks, and the kind's unit asked with checked arguments.
#include "diffusion/d3pm_process.hpp"

#include <stdexcept>

namespace diffuse::diffusion {

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
  if (timesteps < 1) fail_d3pm_config(*this, "timesteps must be >= 1");
  d3pm_kind_unit(*this).validate(*this);  // what the kind itself needs
  if (schedule == D3pmScheduleKind::MutualInfo) {
    const int64_t n = static_cast<int64_t>(unigram.size());
    if (n != states.num_states && n != states.num_data()) fail_d3pm_config(*this, "mi needs a unigram distribution of K or K_d entries");
  }
  if (!(hybrid_lambda >= 0)) fail_d3pm_config(*this, "hybrid_lambda must be >= 0");
}

D3pmProcess::D3pmProcess(const D3pmConfig& config) : config_(config) {
  config_.validate();
  transition_ = make_d3pm_kind(config_);
}

void D3pmProcess::check_t(int64_t t, int64_t lo, const char* what) const {
  if (t < lo || t > timesteps())
    throw std::invalid_argument(std::string(what) + ": t = " + std::to_string(t) + " outside [" + std::to_string(lo) +
                                ", " + std::to_string(timesteps()) + "]");
}

double D3pmProcess::q_entry(int64_t t, int64_t i, int64_t j) const {
  check_t(t, 1, "q_entry");
  return transition_->q_entry(t, i, j);
}

DenseMatrix D3pmProcess::q_matrix(int64_t t) const {
  check_t(t, 1, "q_matrix");
  return transition_->q_matrix(t);
}

const DenseMatrix& D3pmProcess::cached_qbar(int64_t t) const {
  check_t(t, 0, "cached_qbar");
  return transition_->cached_qbar(t);
}

DenseMatrix D3pmProcess::qbar_matrix(int64_t t) const {
  check_t(t, 0, "qbar_matrix");
  return transition_->qbar_matrix(t);
}

DenseMatrix D3pmProcess::q_product(int64_t s, int64_t t) const {
  check_t(s, 0, "q_product");
  check_t(t, 0, "q_product");
  if (s > t) throw std::invalid_argument("q_product: s > t");
  if (s == t) return DenseMatrix::identity(num_states());
  return transition_->q_product(s, t);
}

}  // namespace diffuse::diffusion
