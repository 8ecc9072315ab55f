// Small dense matrices of doubles for the D3PM transition matrices (docs/math.md §3.3): products, the
// matrix exponential and the symmetric eigendecomposition. Every Q_t / Qbar_t product of the D3PM code
// is computed here, in double precision, before anything is cast to a tensor's dtype.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace diffuse::diffusion {

// A square n x n matrix, row-major: (i, j) is a[i * n + j].
struct DenseMatrix {
  int64_t n = 0;
  std::vector<double> a;

  DenseMatrix() = default;
  explicit DenseMatrix(int64_t size, double fill = 0.0) : n(size), a(static_cast<size_t>(size * size), fill) {}
  static DenseMatrix identity(int64_t size);

  double& operator()(int64_t i, int64_t j) { return a[static_cast<size_t>(i * n + j)]; }
  double operator()(int64_t i, int64_t j) const { return a[static_cast<size_t>(i * n + j)]; }
  const double* row(int64_t i) const { return a.data() + i * n; }
};

// a @ b (cblas_dgemm).
DenseMatrix dense_matmul(const DenseMatrix& a, const DenseMatrix& b);
// factor * a
DenseMatrix dense_scale(const DenseMatrix& a, double factor);
DenseMatrix dense_transpose(const DenseMatrix& a);
// max_ij |a_ij - b_ij|
double max_abs_diff(const DenseMatrix& a, const DenseMatrix& b);
// max_i |sum_j a_ij - 1|: how far a is from row-stochastic.
double row_sum_error(const DenseMatrix& a);
// max_j |sum_i a_ij - 1|
double column_sum_error(const DenseMatrix& a);

// The matrix exponential expm(a), double precision, by scaling and squaring with the degree-13 Pade
// approximant (Higham, "The scaling and squaring method for the matrix exponential revisited", SIAM J.
// Matrix Anal. Appl. 2005, algorithm 2.3 at its highest degree): a is scaled by 2^-s so that
// ||a / 2^s||_1 <= theta_13 = 5.37, r_13 = (V - U)^-1 (V + U) is solved by LU with partial pivoting, and
// the result is squared s times. Relative accuracy ~1e-15 for the well-conditioned rate matrices here.
// The matrix exponential of Austin et al. eq. 16 (docs/math.md §3.3.4).
DenseMatrix expm(const DenseMatrix& a);

// The eigendecomposition a = V diag(values) V^T of a symmetric matrix by cyclic Jacobi rotations (to
// machine precision). vectors holds the eigenvectors as columns. Used by the mutual-information schedule,
// which evaluates expm(e R) = V diag(exp(e values)) V^T for many exponents e of one symmetric rate matrix R
// (Austin et al. eq. 17; docs/math.md §3.4.4).
struct SymmetricEigen {
  std::vector<double> values;
  DenseMatrix vectors;
};
SymmetricEigen symmetric_eigen(const DenseMatrix& a);
// V diag(f(values)) V^T for f = exp(scale * .)
DenseMatrix eigen_expm(const SymmetricEigen& eig, double scale);

}  // namespace diffuse::diffusion
