// Sample quality in a feature space (docs/math.md §10.3-§10.5): each image is a feature vector (for the engine,
// the clean image classifier's penultimate layer), and two sets of them, N real [N, d] and M generated [M, d],
// are compared.
//
// - Fréchet distance between the Gaussians fitted to the two sets (Heusel et al. 2017, eq. 6 with Inception's
//   features; Dowson & Landau 1982):
//     FD = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2}).
//   The trace term is computed with symmetric eigendecompositions only (LAPACK's dsyevd): S_1^{1/2} = V diag(sqrt l) V^T,
//   then Tr((S_1^{1/2} S_2 S_1^{1/2})^{1/2}) = sum_i sqrt(l_i) over the eigenvalues of that symmetric PSD matrix. It
//   equals Tr((S_1 S_2)^{1/2}), which pytorch-fid takes from scipy's sqrtm of the non-symmetric product; the
//   symmetric form never meets sqrtm's complex round-off. Eigenvalues below zero (round-off of a singular
//   covariance) count as zero. Covariances are unbiased (divided by N - 1), as numpy.cov. All in double.
//   In features other than Inception-v3's pool3 it is not FID: the engine calls it FD-classifier.
// - Precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
//   Models", eqs. 1-3): the manifold of a set is the union of the balls around its points whose radius is the
//   distance to the point's k-th nearest neighbour in the same set (k = 3 by default; the point itself is not its
//   own neighbour);
//     precision = share of generated points inside the real manifold,
//     recall    = share of real points inside the generated manifold.
//   A point on a ball's boundary is inside (distance <= radius), as in the paper's reference code. Distances are
//   squared Euclidean in double through dgemm, ||a||^2 + ||b||^2 - 2 a.b (negative round-off clamped to 0), in
//   blocks of rows so that 10,000 x 10,000 needs 40 MB at a time, not 800.
// - Class accuracy: the share of items whose predicted class is the one asked for.
//
// Depends on tensor/ only (OpenBLAS's CBLAS and LAPACK, which libopenblas carries).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse::metrics {

// The Gaussian fitted to features [N, d] (float32 or float64, N >= 2): the mean [d] and the unbiased covariance
// [d, d], row-major, in double.
struct GaussianFit {
  int64_t count = 0, dim = 0;
  std::vector<double> mean, covariance;
};
GaussianFit fit_gaussian(const Tensor& features);

// The eigendecomposition of a symmetric matrix a [n, n] (row-major; only its values matter, not which triangle):
// eigenvalues ascending, and the eigenvectors as the columns of `vectors` [n, n] row-major. LAPACK dsyevd.
struct SymmetricEigen {
  std::vector<double> values, vectors;
};
SymmetricEigen symmetric_eigen(const std::vector<double>& a, int64_t n);

// The square root of a symmetric positive semi-definite a [n, n]: V diag(sqrt(max(l, 0))) V^T.
std::vector<double> psd_sqrt(const std::vector<double>& a, int64_t n);

struct FrechetDistance {
  double value = 0;       // mean_term + trace_term
  double mean_term = 0;   // ||mu_1 - mu_2||^2
  double trace_term = 0;  // Tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2})
};
// Throws std::invalid_argument when the two fits have different dimensions.
FrechetDistance frechet_distance(const GaussianFit& a, const GaussianFit& b);

// The squared radius of each point of `points` [N, d]: its squared distance to its k-th nearest other point.
// Throws std::invalid_argument unless 1 <= k < N.
std::vector<double> knn_squared_radii(const Tensor& points, int64_t k);

struct PrecisionRecall {
  double precision = 0, recall = 0;
  int64_t k = 0;
};
// real [N, d], generated [M, d]; k as above, at most min(N, M) - 1.
PrecisionRecall precision_recall(const Tensor& real, const Tensor& generated, int64_t k = 3);

// The share of i with predicted[i] == wanted[i]; throws std::invalid_argument on different lengths or none.
double class_accuracy(const std::vector<int64_t>& predicted, const std::vector<int64_t>& wanted);

}  // namespace diffuse::metrics
