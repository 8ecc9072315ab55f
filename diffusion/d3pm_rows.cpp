// The rows of D3PM's transition matrices that one position of the bound needs (see d3pm_rows.hpp).
#include "diffusion/d3pm_rows.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "tensor/kernels.hpp"

namespace diffuse::diffusion::d3pm_rows {

namespace {
// Row x of the uniform kind's matrix with stay probability keep: keep at x plus (1 - keep) spread evenly
// over the data tokens; a token outside the data (a mask) stays put. out[K] is zero on entry.
void keep_or_uniform(const D3pmStates& st, int64_t x, double keep, double* out) {
  if (!st.is_data(x)) {
    out[x] = 1.0;
    return;
  }
  const double spread = (1.0 - keep) / static_cast<double>(st.num_data());
  for (int64_t k = 0; k < st.num_states; ++k)
    if (st.is_data(k)) out[k] = spread;
  out[x] += keep;
}
}  // namespace

std::vector<int64_t> token_ids(const Tensor& t) {
  const Tensor c = t.contiguous();
  const int32_t* v = c.data<int32_t>();
  return std::vector<int64_t>(v, v + c.numel());
}

void qbar_row_into(const D3pmProcess& p, int64_t s, int64_t x, double c, double* out) {
  const D3pmStates& st = p.states();
  const int64_t K = st.num_states, m = st.mask;
  std::fill(out, out + K, 0.0);
  if (p.dense()) {
    const double* r = p.cached_qbar(s).row(x);
    std::copy(r, r + K, out);
    return;
  }
  if (p.spindle()) {
    if (x == m) {
      out[m] = 1.0;
      return;
    }
    const double keep = 1.0 - p.spindle_mask(s, x, c);
    out[x] = keep;
    out[m] += 1.0 - keep;
    return;
  }
  const size_t si = static_cast<size_t>(s);
  const double a = p.abar()[si];
  switch (p.kind()) {
    case D3pmKind::Uniform: keep_or_uniform(st, x, a, out); return;
    case D3pmKind::Absorbing:
      out[x] = a;
      out[m] += 1.0 - a;
      return;
    case D3pmKind::MaskReplace:
      if (x == m) {
        out[m] = 1.0;
        return;
      }
      for (int64_t k = 0; k < K; ++k)
        if (st.is_data(k)) out[k] = p.mask_replace().bbar[si];
      out[x] += a;
      out[m] = p.mask_replace().gbar[si];
      return;
    default: throw std::logic_error("qbar_row_into: unexpected kind");
  }
}

void product_column_into(const D3pmProcess& p, int64_t s, int64_t t, int64_t x, bool one_step, double c,
                         const DenseMatrix* dense, double* out) {
  const D3pmStates& st = p.states();
  const int64_t K = st.num_states, m = st.mask;
  std::fill(out, out + K, 0.0);
  if (p.dense()) {
    for (int64_t k = 0; k < K; ++k) out[k] = (*dense)(k, x);
    return;
  }
  if (p.spindle()) {
    for (int64_t k = 0; k < K; ++k) {
      if (k == m) continue;
      const double keep_s = 1.0 - p.spindle_mask(s, k, c), keep_t = 1.0 - p.spindle_mask(t, k, c);
      const double r = keep_s > 0 ? keep_t / keep_s : 0.0;
      if (x == m) out[k] = 1.0 - r;
      else if (k == x) out[k] = r;
    }
    if (x == m) out[m] = 1.0;
    return;
  }
  const size_t si = static_cast<size_t>(s), ti = static_cast<size_t>(t);
  const double kd = static_cast<double>(st.num_data());
  double r, g = 0.0, b = 0.0;  // stay, to-mask and (mask-and-replace) to-each-token probabilities of P
  if (one_step) {
    r = p.kind() == D3pmKind::MaskReplace ? p.mask_replace().alpha[ti] : 1.0 - p.betas()[ti];
    if (p.kind() == D3pmKind::MaskReplace) {
      g = p.mask_replace().gamma[ti];
      b = p.mask_replace().beta[ti];
    }
  } else {
    const double as = p.abar()[si];
    if (!(as > 0)) throw std::logic_error("product_column: abar_s = 0 (nothing of x0 left to skip from)");
    r = p.abar()[ti] / as;
    if (p.kind() == D3pmKind::MaskReplace) {
      const std::vector<double>& gb = p.mask_replace().gbar;
      g = 1.0 - (1.0 - gb[ti]) / (1.0 - gb[si]);
      b = std::max(0.0, (1.0 - r - g) / kd);
    }
  }
  switch (p.kind()) {
    case D3pmKind::Uniform: keep_or_uniform(st, x, r, out); return;  // symmetric: column x = row x
    case D3pmKind::Absorbing:
      if (x == m) {
        for (int64_t k = 0; k < K; ++k) out[k] = 1.0 - r;
        out[m] = 1.0;
      } else {
        out[x] = r;
      }
      return;
    case D3pmKind::MaskReplace:
      if (x == m) {
        for (int64_t k = 0; k < K; ++k)
          if (st.is_data(k)) out[k] = g;
        out[m] = 1.0;
      } else {
        for (int64_t k = 0; k < K; ++k)
          if (st.is_data(k)) out[k] = b;
        out[x] += r;
      }
      return;
    default: throw std::logic_error("product_column_into: unexpected kind");
  }
}

DenseProducts prepare_products(const D3pmProcess& p, const std::vector<int64_t>& s, const std::vector<int64_t>& t,
                               bool one_step) {
  DenseProducts d;
  d.per_example.assign(t.size(), nullptr);
  if (!p.dense()) return d;
  for (size_t b = 0; b < t.size(); ++b) {
    const auto key = std::make_pair(s[b], t[b]);
    auto it = d.cache.find(key);
    if (it == d.cache.end())
      it = d.cache.emplace(key, one_step ? p.q_matrix(t[b]) : p.q_product(s[b], t[b])).first;
    d.per_example[b] = &it->second;
  }
  return d;
}

namespace {
// row_into(b, x, out) writes example b's row for token value x into out[K].
template <class RowInto>
LogRowTables log_row_tables(int64_t K, const std::vector<int64_t>& s, const std::vector<int64_t>& t, RowInto row_into) {
  LogRowTables r;
  r.K = K;
  r.per_example.resize(t.size());
  for (size_t b = 0; b < t.size(); ++b) {
    auto [it, fresh] = r.tables.try_emplace(std::make_pair(s[b], t[b]));
    if (fresh) {
      it->second.resize(static_cast<size_t>(K * K));
      double* table = it->second.data();
      kernels::parallel_for(K, 1, [&](int64_t x0, int64_t x1) {
        for (int64_t x = x0; x < x1; ++x) {
          double* row = table + x * K;
          row_into(b, x, row);
          for (int64_t k = 0; k < K; ++k) row[k] = std::log(row[k] + kEps);
        }
      });
    }
    r.per_example[b] = it->second.data();
  }
  return r;
}
}  // namespace

LogRowTables log_product_columns(const D3pmProcess& p, const DenseProducts& d, const std::vector<int64_t>& s,
                                 const std::vector<int64_t>& t, bool one_step) {
  return log_row_tables(p.num_states(), s, t, [&](size_t b, int64_t x, double* out) {
    product_column_into(p, s[b], t[b], x, one_step, 0.0, d.per_example[b], out);
  });
}

LogRowTables log_qbar_rows(const D3pmProcess& p, const std::vector<int64_t>& s) {
  return log_row_tables(p.num_states(), s, s, [&](size_t b, int64_t x, double* out) { qbar_row_into(p, s[b], x, 0.0, out); });
}

}  // namespace diffuse::diffusion::d3pm_rows
