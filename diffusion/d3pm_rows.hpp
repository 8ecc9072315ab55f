// The rows of D3PM's transition matrices that the positions of a batch need, gathered from the kind's unit
// (d3pm_kinds.hpp) into tables and tensors: a column of Q_{s+1} ... Q_t (q(x_t | x_s) for one x_t) and a
// row of Qbar_s (q(x_s | x0) for one x0), their logs tabulated by token value, and the small constant
// tensors the kinds' differentiable products are built from. Shared by the tensor-level D3pm
// (d3pm_diffusion.cpp), the kinds and the fused no-tape bound (d3pm_dense_bound.cpp); internal to diffusion/.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "diffusion/d3pm_kinds.hpp"
#include "tensor/kernels.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::diffusion::d3pm_rows {

constexpr double kEps = 1e-20;  // inside every log, as the reference codes

// The ids of an int32 tensor, in row-major order.
std::vector<int64_t> token_ids(const Tensor& x);

// For the dense kinds: the matrix P of each example (one_step: Q_t, else Q_{s+1} ... Q_t), one per distinct
// (s, t); empty pointers otherwise.
struct DenseProducts {
  std::map<std::pair<int64_t, int64_t>, DenseMatrix> cache;
  std::vector<const DenseMatrix*> per_example;
};
DenseProducts prepare_products(const D3pmTransitionKind& kind, const std::vector<int64_t>& s,
                               const std::vector<int64_t>& t, bool one_step);

// log(row + eps) of every token value, for each distinct (s, t) among the examples. Outside spindle a
// position's rows (a column of Q_{s+1} ... Q_t, a row of Qbar_s) depend on nothing else, so a table
// costs K^2 logs per (s, t) instead of K per position: for images 256^2 instead of 3 x 32 x 32 x 256.
struct LogRowTables {
  int64_t K = 0;
  std::map<std::pair<int64_t, int64_t>, std::vector<double>> tables;  // [value, K] each
  std::vector<const double*> per_example;
  const double* row(int64_t b, int64_t value) const { return per_example[static_cast<size_t>(b)] + value * K; }
};

// log(column x_t of Q_{s+1} ... Q_t + eps) by x_t, per example (not for spindle): the first factor of the
// posterior (eq. 3) and of p_theta (eq. 4). products: prepare_products(kind, s, t, one_step).
LogRowTables log_product_columns(const D3pmTransitionKind& kind, const DenseProducts& products,
                                 const std::vector<int64_t>& s, const std::vector<int64_t>& t, bool one_step);

// log(row x0 of Qbar_s + eps) by x0, per example (not for spindle): the second factor of the posterior.
LogRowTables log_qbar_rows(const D3pmTransitionKind& kind, const std::vector<int64_t>& s);

// A [B, L, K] tensor of `dtype` whose row (b, l) is written by f(b, l, row) in double (in parallel: f must
// only read shared state).
template <class F>
Tensor fill_rows(int64_t B, int64_t L, int64_t K, DType dtype, F&& f) {
  Tensor out = Tensor::empty({B, L, K}, dtype);
  dispatch_float(dtype, "d3pm", [&]<class T>() {
    T* out_rows = out.data<T>();
    kernels::parallel_for(B * L, std::max<int64_t>(1, 4096 / K), [&](int64_t r0, int64_t r1) {
      std::vector<double> row(static_cast<size_t>(K));
      for (int64_t r = r0; r < r1; ++r) {
        f(r / L, r % L, row.data());
        for (int64_t k = 0; k < K; ++k) out_rows[r * K + k] = static_cast<T>(row[static_cast<size_t>(k)]);
      }
    });
  });
  return out;
}

// A [B, L, K] tensor of `dtype` whose row (b, l) is first's row of example b at token first_ids[b, l],
// plus, when `second` is given, second's row at second_ids[b, l].
Tensor table_rows(int64_t B, int64_t L, int64_t K, DType dtype, const LogRowTables& first,
                  const std::vector<int64_t>& first_ids, const LogRowTables* second = nullptr,
                  const std::vector<int64_t>* second_ids = nullptr);

// One value per example as a [B, 1, 1] tensor of `dtype`.
Tensor per_example(const std::vector<double>& v, DType dtype);

// The [K] vector of `dtype` with 1 at the states where pred holds, 0 elsewhere.
template <class P>
Tensor state_indicator(int64_t K, DType dtype, P pred) {
  std::vector<double> v(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) v[static_cast<size_t>(k)] = pred(k) ? 1.0 : 0.0;
  return Tensor::from_vector(v, {K}).to(dtype);
}

}  // namespace diffuse::diffusion::d3pm_rows
