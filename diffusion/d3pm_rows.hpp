// The rows of D3PM's transition matrices that one position of the bound needs, as plain double arrays:
// a row of Qbar_s (q(x_s | x0) for one x0), a column of Q_{s+1} ... Q_t (q(x_t | x_s) for one x_t), and
// their logs tabulated by token value. Shared by the tensor-level D3pm (d3pm_diffusion.cpp) and its
// fused no-tape bound (d3pm_dense_bound.cpp); internal to diffusion/.
#pragma once
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "diffusion/d3pm_process.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::diffusion::d3pm_rows {

constexpr double kEps = 1e-20;  // inside every log, as the reference codes

// The ids of an int32 tensor, in row-major order.
std::vector<int64_t> token_ids(const Tensor& t);

// Row x of Qbar_s into out[K] (c: the spindle sequence weight).
void qbar_row_into(const D3pmProcess& p, int64_t s, int64_t x, double c, double* out);

// For the dense kinds: the matrix P of each example (one_step: Q_t, else Q_{s+1} ... Q_t), one per distinct
// (s, t); empty pointers otherwise.
struct DenseProducts {
  std::map<std::pair<int64_t, int64_t>, DenseMatrix> cache;
  std::vector<const DenseMatrix*> per_example;
};
DenseProducts prepare_products(const D3pmProcess& p, const std::vector<int64_t>& s, const std::vector<int64_t>& t,
                               bool one_step);

// Column x of P = Q_{s+1} ... Q_t (one_step: Q_t from its one-step values, s = t - 1) into out[K]:
// out[k] = P[k, x], i.e. the vector x P^T. dense: the prepared matrix P (dense kinds).
void product_column_into(const D3pmProcess& p, int64_t s, int64_t t, int64_t x, bool one_step, double c,
                         const DenseMatrix* dense, double* out);

// log(row + eps) of every token value, for each distinct (s, t) among the examples. Outside spindle a
// position's rows (a column of Q_{s+1} ... Q_t, a row of Qbar_s) depend on nothing else, so a table
// costs K^2 logs per (s, t) instead of K per position: for images 256^2 instead of 3 x 32 x 32 x 256.
struct LogRowTables {
  int64_t K = 0;
  std::map<std::pair<int64_t, int64_t>, std::vector<double>> tables;  // [value, K] each
  std::vector<const double*> per_example;
  const double* row(int64_t b, int64_t value) const { return per_example[static_cast<size_t>(b)] + value * K; }
};

// log(column x_t of Q_{s+1} ... Q_t + eps) by x_t, per example (not for spindle): fact1 of the posterior
// and of p_theta. d: prepare_products(p, s, t, one_step).
LogRowTables log_product_columns(const D3pmProcess& p, const DenseProducts& d, const std::vector<int64_t>& s,
                                 const std::vector<int64_t>& t, bool one_step);

// log(row x0 of Qbar_s + eps) by x0, per example (not for spindle): fact2 of the posterior.
LogRowTables log_qbar_rows(const D3pmProcess& p, const std::vector<int64_t>& s);

}  // namespace diffuse::diffusion::d3pm_rows
