// Dense double matrices: products on cblas_dgemm, expm by scaling and squaring with the degree-13 Pade
// approximant, symmetric eigendecomposition by cyclic Jacobi.
#include "diffusion/d3pm_matrix.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace diffuse::diffusion {

DenseMatrix DenseMatrix::identity(int64_t size) {
  DenseMatrix m(size);
  for (int64_t i = 0; i < size; ++i) m(i, i) = 1.0;
  return m;
}

DenseMatrix dense_matmul(const DenseMatrix& a, const DenseMatrix& b) {
  if (a.n != b.n) throw std::invalid_argument("dense_matmul: sizes " + std::to_string(a.n) + " and " + std::to_string(b.n));
  DenseMatrix c(a.n);
  if (a.n == 0) return c;
  const int n = static_cast<int>(a.n);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.a.data(), n, b.a.data(), n, 0.0,
              c.a.data(), n);
  return c;
}

DenseMatrix dense_scale(const DenseMatrix& a, double factor) {
  DenseMatrix c = a;
  for (double& v : c.a) v *= factor;
  return c;
}

DenseMatrix dense_transpose(const DenseMatrix& a) {
  DenseMatrix c(a.n);
  for (int64_t i = 0; i < a.n; ++i)
    for (int64_t j = 0; j < a.n; ++j) c(j, i) = a(i, j);
  return c;
}

double max_abs_diff(const DenseMatrix& a, const DenseMatrix& b) {
  if (a.n != b.n) throw std::invalid_argument("max_abs_diff: sizes differ");
  double m = 0;
  for (size_t i = 0; i < a.a.size(); ++i) m = std::max(m, std::abs(a.a[i] - b.a[i]));
  return m;
}

double row_sum_error(const DenseMatrix& a) {
  double m = 0;
  for (int64_t i = 0; i < a.n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < a.n; ++j) sum += a(i, j);
    m = std::max(m, std::abs(sum - 1.0));
  }
  return m;
}

double column_sum_error(const DenseMatrix& a) { return row_sum_error(dense_transpose(a)); }

namespace {

double norm1(const DenseMatrix& a) {  // max column sum of |a_ij|
  double m = 0;
  for (int64_t j = 0; j < a.n; ++j) {
    double sum = 0;
    for (int64_t i = 0; i < a.n; ++i) sum += std::abs(a(i, j));
    m = std::max(m, sum);
  }
  return m;
}

// x = a^-1 b by LU with partial pivoting (a and b are n x n; a is well conditioned here: V - U of the
// Pade approximant at ||A||_1 <= theta_13).
DenseMatrix solve(DenseMatrix a, DenseMatrix b) {
  const int64_t n = a.n;
  for (int64_t k = 0; k < n; ++k) {
    int64_t p = k;
    for (int64_t i = k + 1; i < n; ++i)
      if (std::abs(a(i, k)) > std::abs(a(p, k))) p = i;
    if (a(p, k) == 0.0) throw std::runtime_error("expm: singular Pade denominator");
    if (p != k)
      for (int64_t j = 0; j < n; ++j) {
        std::swap(a(k, j), a(p, j));
        std::swap(b(k, j), b(p, j));
      }
    for (int64_t i = k + 1; i < n; ++i) {
      const double f = a(i, k) / a(k, k);
      if (f == 0.0) continue;
      for (int64_t j = k; j < n; ++j) a(i, j) -= f * a(k, j);
      for (int64_t j = 0; j < n; ++j) b(i, j) -= f * b(k, j);
    }
  }
  for (int64_t i = n - 1; i >= 0; --i)
    for (int64_t j = 0; j < n; ++j) {
      double x = b(i, j);
      for (int64_t k = i + 1; k < n; ++k) x -= a(i, k) * b(k, j);
      b(i, j) = x / a(i, i);
    }
  return b;
}

// c0 * x + c1 * y + c2 * z + c3 * I (any of x, y, z may be skipped with a zero coefficient)
DenseMatrix combo(double c0, const DenseMatrix& x, double c1, const DenseMatrix& y, double c2, const DenseMatrix& z,
                  double c3) {
  DenseMatrix r(x.n);
  for (size_t i = 0; i < r.a.size(); ++i) r.a[i] = c0 * x.a[i] + c1 * y.a[i] + c2 * z.a[i];
  for (int64_t i = 0; i < r.n; ++i) r(i, i) += c3;
  return r;
}

}  // namespace

DenseMatrix expm(const DenseMatrix& a) {
  const int64_t n = a.n;
  if (n == 0) return a;
  for (double v : a.a)
    if (!std::isfinite(v)) throw std::invalid_argument("expm: the matrix has a non-finite entry");
  // Pade(13, 13) coefficients b_0..b_13 and its scaling threshold (Higham 2005, table 2.3).
  static constexpr double b[14] = {64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                                   1187353796428800.0,  129060195264000.0,   10559470521600.0,
                                   670442572800.0,      33522128640.0,       1323241920.0,
                                   40840800.0,          960960.0,            16380.0,
                                   182.0,               1.0};
  constexpr double theta13 = 5.371920351148152;
  const double nrm = norm1(a);
  int squarings = 0;  // Higham's s
  if (nrm > theta13) squarings = static_cast<int>(std::ceil(std::log2(nrm / theta13)));
  const DenseMatrix A = dense_scale(a, std::ldexp(1.0, -squarings));
  const DenseMatrix A2 = dense_matmul(A, A);
  const DenseMatrix A4 = dense_matmul(A2, A2);
  const DenseMatrix A6 = dense_matmul(A4, A2);
  // U = A [A6 (b13 A6 + b11 A4 + b9 A2) + b7 A6 + b5 A4 + b3 A2 + b1 I]
  // V =    A6 (b12 A6 + b10 A4 + b8 A2) + b6 A6 + b4 A4 + b2 A2 + b0 I
  DenseMatrix u_inner = dense_matmul(A6, combo(b[13], A6, b[11], A4, b[9], A2, 0.0));
  const DenseMatrix u_tail = combo(b[7], A6, b[5], A4, b[3], A2, b[1]);
  for (size_t i = 0; i < u_inner.a.size(); ++i) u_inner.a[i] += u_tail.a[i];
  const DenseMatrix U = dense_matmul(A, u_inner);
  DenseMatrix V = dense_matmul(A6, combo(b[12], A6, b[10], A4, b[8], A2, 0.0));
  const DenseMatrix v_tail = combo(b[6], A6, b[4], A4, b[2], A2, b[0]);
  for (size_t i = 0; i < V.a.size(); ++i) V.a[i] += v_tail.a[i];
  DenseMatrix P(n), Q(n);  // P = V + U, Q = V - U
  for (size_t i = 0; i < P.a.size(); ++i) {
    P.a[i] = V.a[i] + U.a[i];
    Q.a[i] = V.a[i] - U.a[i];
  }
  DenseMatrix R = solve(Q, P);
  for (int k = 0; k < squarings; ++k) R = dense_matmul(R, R);
  return R;
}

SymmetricEigen symmetric_eigen(const DenseMatrix& input) {
  const int64_t n = input.n;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j)
      if (std::abs(input(i, j) - input(j, i)) > 1e-12 * (1 + std::abs(input(i, j))))
        throw std::invalid_argument("symmetric_eigen: the matrix is not symmetric");
  DenseMatrix a = input;
  DenseMatrix v = DenseMatrix::identity(n);
  double scale = 0;
  for (double x : a.a) scale = std::max(scale, std::abs(x));
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) off = std::max(off, std::abs(a(i, j)));
    if (off <= 1e-300 || off <= 1e-17 * scale) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = a(p, q);
        if (std::abs(apq) <= 1e-300) continue;
        // Rotation that zeroes a(p, q) (Golub & Van Loan, algorithm 8.5.1).
        const double tau = (a(q, q) - a(p, p)) / (2 * apq);
        const double tangent = (tau >= 0 ? 1.0 : -1.0) / (std::abs(tau) + std::sqrt(1 + tau * tau));
        const double cosine = 1 / std::sqrt(1 + tangent * tangent), sine = tangent * cosine;
        for (int64_t k = 0; k < n; ++k) {  // columns p, q of a
          const double akp = a(k, p), akq = a(k, q);
          a(k, p) = cosine * akp - sine * akq;
          a(k, q) = sine * akp + cosine * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p, q of a
          const double apk = a(p, k), aqk = a(q, k);
          a(p, k) = cosine * apk - sine * aqk;
          a(q, k) = sine * apk + cosine * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double vkp = v(k, p), vkq = v(k, q);
          v(k, p) = cosine * vkp - sine * vkq;
          v(k, q) = sine * vkp + cosine * vkq;
        }
      }
  }
  SymmetricEigen e;
  e.values.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) e.values[static_cast<size_t>(i)] = a(i, i);
  e.vectors = std::move(v);
  return e;
}

DenseMatrix eigen_expm(const SymmetricEigen& eig, double scale) {
  const int64_t n = eig.vectors.n;
  DenseMatrix vd(n);  // V diag(exp(scale * values))
  for (int64_t j = 0; j < n; ++j) {
    const double f = std::exp(scale * eig.values[static_cast<size_t>(j)]);
    for (int64_t i = 0; i < n; ++i) vd(i, j) = eig.vectors(i, j) * f;
  }
  DenseMatrix r(n);
  if (n == 0) return r;
  const int m = static_cast<int>(n);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, m, 1.0, vd.a.data(), m, eig.vectors.a.data(), m, 0.0,
              r.a.data(), m);
  return r;
}

}  // namespace diffuse::diffusion
