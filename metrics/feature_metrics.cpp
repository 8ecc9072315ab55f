#include "metrics/feature_metrics.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

// LAPACK's symmetric eigensolver (divide and conquer), as libopenblas exports it (Debian's OpenBLAS 0.3.21 carries
// LAPACK 3.11; 32-bit integers). gfortran passes each CHARACTER argument's length after the others, so they are
// declared and passed (both 1).
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
                        const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_length, size_t uplo_length);

namespace diffuse::metrics {

namespace {

// features [N, d] as row-major doubles.
std::vector<double> as_doubles(const Tensor& features, const char* who) {
  if (features.dim() != 2) throw std::invalid_argument(std::string(who) + ": features must be [N, d], got " + describe(features));
  const Tensor f = features.to(DType::F64).contiguous();
  return std::vector<double>(f.data<double>(), f.data<double>() + f.numel());
}

// c [m, n] = alpha a [m, k] b^T [k, n] (b is [n, k]), all row-major.
void gemm_nt(int64_t m, int64_t n, int64_t k, double alpha, const double* a, const double* b, double* c) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(k), b, static_cast<int>(k), 0.0, c, static_cast<int>(n));
}

// c [n, n] = a [n, n] b [n, n], row-major.
std::vector<double> matmul_square(const std::vector<double>& a, const std::vector<double>& b, int64_t n) {
  std::vector<double> c(static_cast<size_t>(n * n));
  const int ni = static_cast<int>(n);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0, a.data(), ni, b.data(), ni, 0.0, c.data(), ni);
  return c;
}

std::vector<double> squared_norms(const std::vector<double>& x, int64_t n, int64_t d) {
  std::vector<double> s(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) s[static_cast<size_t>(i)] += x[static_cast<size_t>(i * d + j)] * x[static_cast<size_t>(i * d + j)];
  return s;
}

// Rows [begin, end) of the squared distances between points a [na, d] and b [nb, d]: out [(end - begin), nb],
// ||a_i||^2 + ||b_j||^2 - 2 a_i . b_j, negative round-off clamped to 0.
constexpr int64_t kDistanceRows = 512;
void squared_distances(const std::vector<double>& a, const std::vector<double>& a_norms, const std::vector<double>& b,
                       const std::vector<double>& b_norms, int64_t nb, int64_t d, int64_t begin, int64_t end, std::vector<double>& out) {
  out.resize(static_cast<size_t>((end - begin) * nb));
  gemm_nt(end - begin, nb, d, -2.0, a.data() + begin * d, b.data(), out.data());
  for (int64_t i = begin; i < end; ++i)
    for (int64_t j = 0; j < nb; ++j) {
      double& v = out[static_cast<size_t>((i - begin) * nb + j)];
      v = std::max(0.0, v + a_norms[static_cast<size_t>(i)] + b_norms[static_cast<size_t>(j)]);
    }
}

}  // namespace

GaussianFit fit_gaussian(const Tensor& features) {
  const std::vector<double> x = as_doubles(features, "fit_gaussian");
  const int64_t n = features.size(0), d = features.size(1);
  if (n < 2) throw std::invalid_argument("fit_gaussian: a covariance needs at least 2 feature vectors, got " + std::to_string(n));
  GaussianFit fit;
  fit.count = n;
  fit.dim = d;
  fit.mean.assign(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) fit.mean[static_cast<size_t>(j)] += x[static_cast<size_t>(i * d + j)];
  for (double& m : fit.mean) m /= static_cast<double>(n);
  std::vector<double> centred(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) centred[static_cast<size_t>(i * d + j)] = x[static_cast<size_t>(i * d + j)] - fit.mean[static_cast<size_t>(j)];
  // S = X_c^T X_c / (N - 1)   [d, d]
  fit.covariance.assign(static_cast<size_t>(d * d), 0.0);
  const int di = static_cast<int>(d);
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, di, di, static_cast<int>(n), 1.0 / static_cast<double>(n - 1), centred.data(), di,
              centred.data(), di, 0.0, fit.covariance.data(), di);
  return fit;
}

SymmetricEigen symmetric_eigen(const std::vector<double>& a, int64_t n) {
  if (n < 1 || a.size() != static_cast<size_t>(n * n))
    throw std::invalid_argument("symmetric_eigen: a must hold n x n = " + std::to_string(n * n) + " values, got " + std::to_string(a.size()));
  // A symmetric matrix reads the same in row- and column-major order; dsyevd overwrites it (column-major) with
  // the eigenvectors, column j the j-th.
  std::vector<double> work_a = a;
  SymmetricEigen e;
  e.values.resize(static_cast<size_t>(n));
  const int ni = static_cast<int>(n);
  int info = 0, lwork = -1, liwork = -1, iwork_size = 0;
  double work_size = 0;
  dsyevd_("V", "U", &ni, work_a.data(), &ni, e.values.data(), &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);  // sizes
  if (info != 0) throw std::runtime_error("symmetric_eigen: dsyevd's workspace query failed (info " + std::to_string(info) + ")");
  lwork = static_cast<int>(work_size);
  liwork = iwork_size;
  std::vector<double> work(static_cast<size_t>(lwork));
  std::vector<int> iwork(static_cast<size_t>(liwork));
  dsyevd_("V", "U", &ni, work_a.data(), &ni, e.values.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info != 0) throw std::runtime_error("symmetric_eigen: dsyevd did not converge (info " + std::to_string(info) + ")");
  // Column-major A(i, j) = work_a[i + j n] is component i of eigenvector j: row-major vectors[i n + j].
  e.vectors.resize(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) e.vectors[static_cast<size_t>(i * n + j)] = work_a[static_cast<size_t>(i + j * n)];
  return e;
}

std::vector<double> psd_sqrt(const std::vector<double>& a, int64_t n) {
  const SymmetricEigen e = symmetric_eigen(a, n);
  // B = V diag(sqrt(max(l, 0))), then B V^T.
  std::vector<double> scaled = e.vectors;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) scaled[static_cast<size_t>(i * n + j)] *= std::sqrt(std::max(0.0, e.values[static_cast<size_t>(j)]));
  std::vector<double> root(static_cast<size_t>(n * n));
  gemm_nt(n, n, n, 1.0, scaled.data(), e.vectors.data(), root.data());
  return root;
}

FrechetDistance frechet_distance(const GaussianFit& a, const GaussianFit& b) {
  if (a.dim != b.dim || a.dim < 1)
    throw std::invalid_argument("frechet_distance: features of " + std::to_string(a.dim) + " and " + std::to_string(b.dim) +
                                " dimensions cannot be compared");
  const int64_t d = a.dim;
  FrechetDistance fd;
  for (int64_t j = 0; j < d; ++j) {
    const double diff = a.mean[static_cast<size_t>(j)] - b.mean[static_cast<size_t>(j)];
    fd.mean_term += diff * diff;
  }
  // M = S_1^{1/2} S_2 S_1^{1/2}, symmetric PSD; made exactly symmetric before its eigenvalues.
  const std::vector<double> root = psd_sqrt(a.covariance, d);
  std::vector<double> m = matmul_square(matmul_square(root, b.covariance, d), root, d);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < i; ++j) {
      const double v = 0.5 * (m[static_cast<size_t>(i * d + j)] + m[static_cast<size_t>(j * d + i)]);
      m[static_cast<size_t>(i * d + j)] = m[static_cast<size_t>(j * d + i)] = v;
    }
  double trace_sqrt = 0, traces = 0;
  for (double l : symmetric_eigen(m, d).values) trace_sqrt += std::sqrt(std::max(0.0, l));
  for (int64_t j = 0; j < d; ++j) traces += a.covariance[static_cast<size_t>(j * d + j)] + b.covariance[static_cast<size_t>(j * d + j)];
  fd.trace_term = traces - 2.0 * trace_sqrt;
  fd.value = fd.mean_term + fd.trace_term;
  return fd;
}

std::vector<double> knn_squared_radii(const Tensor& points, int64_t k) {
  const std::vector<double> x = as_doubles(points, "knn_squared_radii");
  const int64_t n = points.size(0), d = points.size(1);
  if (k < 1 || k >= n)
    throw std::invalid_argument("precision and recall: k = " + std::to_string(k) + " needs 1 <= k < N = " + std::to_string(n) +
                                " points in each set");
  const std::vector<double> norms = squared_norms(x, n, d);
  std::vector<double> radii(static_cast<size_t>(n)), block;
  for (int64_t begin = 0; begin < n; begin += kDistanceRows) {
    const int64_t end = std::min(n, begin + kDistanceRows);
    squared_distances(x, norms, x, norms, n, d, begin, end, block);
    for (int64_t i = begin; i < end; ++i) {
      double* row = block.data() + (i - begin) * n;
      row[i] = -std::numeric_limits<double>::infinity();  // a point is not its own neighbour: sorted first
      std::nth_element(row, row + k, row + n);
      radii[static_cast<size_t>(i)] = row[k];
    }
  }
  return radii;
}

PrecisionRecall precision_recall(const Tensor& real, const Tensor& generated, int64_t k) {
  const std::vector<double> r = as_doubles(real, "precision_recall"), g = as_doubles(generated, "precision_recall");
  const int64_t n = real.size(0), m = generated.size(0), d = real.size(1);
  if (generated.size(1) != d)
    throw std::invalid_argument("precision_recall: real features have " + std::to_string(d) + " dimensions, generated " +
                                std::to_string(generated.size(1)));
  const std::vector<double> real_radii = knn_squared_radii(real, k), generated_radii = knn_squared_radii(generated, k);
  const std::vector<double> r_norms = squared_norms(r, n, d), g_norms = squared_norms(g, m, d);
  std::vector<char> generated_inside(static_cast<size_t>(m), 0), real_inside(static_cast<size_t>(n), 0);
  std::vector<double> block;
  for (int64_t begin = 0; begin < n; begin += kDistanceRows) {
    const int64_t end = std::min(n, begin + kDistanceRows);
    squared_distances(r, r_norms, g, g_norms, m, d, begin, end, block);
    for (int64_t i = begin; i < end; ++i)
      for (int64_t j = 0; j < m; ++j) {
        const double dist = block[static_cast<size_t>((i - begin) * m + j)];
        if (dist <= real_radii[static_cast<size_t>(i)]) generated_inside[static_cast<size_t>(j)] = 1;  // g_j in real ball i
        if (dist <= generated_radii[static_cast<size_t>(j)]) real_inside[static_cast<size_t>(i)] = 1;  // r_i in generated ball j
      }
  }
  PrecisionRecall pr;
  pr.k = k;
  for (char c : generated_inside) pr.precision += c;
  for (char c : real_inside) pr.recall += c;
  pr.precision /= static_cast<double>(m);
  pr.recall /= static_cast<double>(n);
  return pr;
}

double class_accuracy(const std::vector<int64_t>& predicted, const std::vector<int64_t>& wanted) {
  if (predicted.size() != wanted.size() || predicted.empty())
    throw std::invalid_argument("class_accuracy: " + std::to_string(predicted.size()) + " predictions for " +
                                std::to_string(wanted.size()) + " wanted classes");
  int64_t right = 0;
  for (size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == wanted[i];
  return static_cast<double>(right) / static_cast<double>(predicted.size());
}

}  // namespace diffuse::metrics
