// Internal loop helpers shared by the elementwise ops: an OpenMP parallel_for and a strided loop that
// walks up to three operands with their own (possibly broadcast, possibly transposed) strides into a
// contiguous output. Dimensions are coalesced first, so the inner loop is as long as possible and is a
// plain unit-stride loop in the common cases, which the compiler vectorises.
#pragma once
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "tensor/tensor.hpp"

namespace diffuse::kernels {

// Runs f(begin, end) over [0, n) in chunks on the OpenMP threads; serially when n < grain.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= grain || omp_get_max_threads() == 1 || omp_in_parallel()) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, 64 * omp_get_max_threads());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    if (begin < end) f(begin, end);
  }
}

// Strides of `t` when broadcast to `shape` (0 on broadcast and missing leading dims).
inline Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  const size_t lead = shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    st[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

// out[..] = f(in_0[..], ..., in_{N-1}[..]) for every index of `shape`. Every operand, the output
// included, has its own strides; the output must not overlap itself (no stride-0 dims).
template <class TOut, class TIn, size_t N, class F>
void strided_map(TOut* out, const Shape& out_strides, const Shape& shape, std::array<const TIn*, N> in,
                 std::array<Shape, N> strides, F f) {
  // Coalesce adjacent dims that every operand walks contiguously, and drop size-1 dims.
  Shape cs, ost;
  std::array<Shape, N> cst;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !cs.empty() && ost.back() == out_strides[d] * shape[d];
    for (size_t k = 0; k < N && merge; ++k) merge = cst[k].back() == strides[k][d] * shape[d];
    if (merge) {
      cs.back() *= shape[d];
      ost.back() = out_strides[d];
      for (size_t k = 0; k < N; ++k) cst[k].back() = strides[k][d];
    } else {
      cs.push_back(shape[d]);
      ost.push_back(out_strides[d]);
      for (size_t k = 0; k < N; ++k) cst[k].push_back(strides[k][d]);
    }
  }
  if (cs.empty()) {  // a single element
    cs.push_back(1);
    ost.push_back(1);
    for (size_t k = 0; k < N; ++k) cst[k].push_back(0);
  }
  const int64_t nd = static_cast<int64_t>(cs.size());
  const int64_t inner = cs.back();
  const int64_t rows = numel(cs) / inner;
  // Work items are (row, piece of the row), so one long contiguous row still splits across threads.
  const int64_t piece = 16384;
  const int64_t pieces = (inner + piece - 1) / piece;
  parallel_for(rows * pieces, 32768 / std::min(inner, piece) + 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / pieces, i0 = (item % pieces) * piece, i1 = std::min(inner, i0 + piece);
      std::array<const TIn*, N> p = in;
      TOut* out_row = out;
      int64_t rem = r;
      for (int64_t d = nd - 2; d >= 0; --d) {
        const int64_t idx = rem % cs[d];
        rem /= cs[d];
        out_row += idx * ost[d];
        for (size_t k = 0; k < N; ++k) p[k] += idx * cst[k][d];
      }
      bool unit = ost[nd - 1] == 1;
      for (size_t k = 0; k < N; ++k) unit = unit && cst[k][nd - 1] == 1;
      if (unit) {
        if constexpr (N == 1) {
          for (int64_t i = i0; i < i1; ++i) out_row[i] = f(p[0][i]);
        } else if constexpr (N == 2) {
          for (int64_t i = i0; i < i1; ++i) out_row[i] = f(p[0][i], p[1][i]);
        } else {
          for (int64_t i = i0; i < i1; ++i) out_row[i] = f(p[0][i], p[1][i], p[2][i]);
        }
      } else {
        const int64_t so = ost[nd - 1];
        std::array<int64_t, N> s;
        for (size_t k = 0; k < N; ++k) s[k] = cst[k][nd - 1];
        if constexpr (N == 1) {
          for (int64_t i = i0; i < i1; ++i) out_row[i * so] = f(p[0][i * s[0]]);
        } else if constexpr (N == 2) {
          for (int64_t i = i0; i < i1; ++i) out_row[i * so] = f(p[0][i * s[0]], p[1][i * s[1]]);
        } else {
          for (int64_t i = i0; i < i1; ++i) out_row[i * so] = f(p[0][i * s[0]], p[1][i * s[1]], p[2][i * s[2]]);
        }
      }
    }
  });
}

// y = f(x) elementwise into a new contiguous tensor of x's shape and dtype.
template <class T, class F>
Tensor map_unary(const Tensor& x, F f) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  strided_map<T, T, 1>(y.data<T>(), y.strides(), x.shape(), {x.data<T>()}, {x.strides()}, f);
  return y;
}

// y = f(a, b) with broadcasting into a new contiguous tensor.
template <class T, class F>
Tensor map_binary(const Tensor& a, const Tensor& b, const Shape& shape, F f) {
  Tensor y = Tensor::empty(shape, a.dtype());
  strided_map<T, T, 2>(y.data<T>(), y.strides(), shape, {a.data<T>(), b.data<T>()},
                       {broadcast_strides(a, shape), broadcast_strides(b, shape)}, f);
  return y;
}

}  // namespace diffuse::kernels
