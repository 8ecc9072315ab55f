// The rows of D3PM's transition matrices that the positions of a batch need (see d3pm_rows.hpp).
#include "diffusion/d3pm_rows.hpp"

#include <cmath>

namespace diffuse::diffusion::d3pm_rows {

std::vector<int64_t> token_ids(const Tensor& x) {
  const Tensor packed = x.contiguous();
  const int32_t* ids = packed.data<int32_t>();
  return std::vector<int64_t>(ids, ids + packed.numel());
}

DenseProducts prepare_products(const D3pmTransitionKind& kind, const std::vector<int64_t>& s,
                               const std::vector<int64_t>& t, bool one_step) {
  DenseProducts d;
  d.per_example.assign(t.size(), nullptr);
  if (!kind.dense()) return d;
  for (size_t b = 0; b < t.size(); ++b) {
    const auto key = std::make_pair(s[b], t[b]);
    auto it = d.cache.find(key);
    if (it == d.cache.end())
      it = d.cache.emplace(key, one_step ? kind.q_matrix(t[b]) : kind.q_product(s[b], t[b])).first;
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

LogRowTables log_product_columns(const D3pmTransitionKind& kind, const DenseProducts& products,
                                 const std::vector<int64_t>& s, const std::vector<int64_t>& t, bool one_step) {
  const int64_t K = kind.num_states();
  return log_row_tables(K, s, t, [&](size_t b, int64_t x, double* out) {
    kind.product_column_into(s[b], t[b], x, one_step, 0.0, products.per_example[b], out);
  });
}

LogRowTables log_qbar_rows(const D3pmTransitionKind& kind, const std::vector<int64_t>& s) {
  const int64_t K = kind.num_states();
  return log_row_tables(K, s, s, [&](size_t b, int64_t x, double* out) { kind.qbar_row_into(s[b], x, 0.0, out); });
}

Tensor table_rows(int64_t B, int64_t L, int64_t K, DType dtype, const LogRowTables& first,
                  const std::vector<int64_t>& first_ids, const LogRowTables* second,
                  const std::vector<int64_t>* second_ids) {
  return fill_rows(B, L, K, dtype, [&](int64_t b, int64_t l, double* row) {
    const size_t r = static_cast<size_t>(b * L + l);
    const double* f = first.row(b, first_ids[r]);
    std::copy(f, f + K, row);
    if (second == nullptr) return;
    const double* g = second->row(b, (*second_ids)[r]);
    for (int64_t k = 0; k < K; ++k) row[k] += g[k];
  });
}

Tensor per_example(const std::vector<double>& v, DType dtype) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size()), 1, 1}).to(dtype);
}

}  // namespace diffuse::diffusion::d3pm_rows
