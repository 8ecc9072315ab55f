// Sample quality in a feature space (metrics/feature_metrics.hpp): the Gaussian fit by hand, the eigendecomposition
// and the PSD square root by their defining identities, the Fréchet distance against closed forms (identical sets:
// 0; diagonal and commuting covariances: ||mu_1 - mu_2||^2 + sum (sqrt a_i - sqrt b_i)^2; any two 2 x 2 covariances:
// Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M)) with M = S_1^{1/2} S_2 S_1^{1/2}), precision and recall on a point cloud
// worked out by hand and against a brute-force count, and class accuracy by hand.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "metrics/feature_metrics.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

using namespace diffuse;
using namespace diffuse::metrics;

namespace {

Tensor points(const std::vector<double>& values, int64_t d) {
  return Tensor::from_vector(values, {static_cast<int64_t>(values.size()) / d, d});
}

// A fit with exactly these moments (not estimated from samples).
GaussianFit exact(std::vector<double> mean, std::vector<double> covariance) {
  GaussianFit f;
  f.dim = static_cast<int64_t>(mean.size());
  f.count = 0;
  f.mean = std::move(mean);
  f.covariance = std::move(covariance);
  return f;
}

// Q diag(l) Q^T for the rotation Q by angle theta (2 x 2).
std::vector<double> rotated(double theta, double l1, double l2) {
  const double c = std::cos(theta), s = std::sin(theta);
  return {c * c * l1 + s * s * l2, c * s * (l1 - l2), c * s * (l1 - l2), s * s * l1 + c * c * l2};
}

}  // namespace

TEST_CASE("the Gaussian fit of four points, by hand: mean (1, 1), unbiased covariance 4/3 I") {
  const GaussianFit f = fit_gaussian(points({0, 0, 2, 0, 0, 2, 2, 2}, 2));
  CHECK(f.count == 4);
  CHECK(f.mean == std::vector<double>{1, 1});
  CHECK(f.covariance[0] == doctest::Approx(4.0 / 3).epsilon(1e-15));
  CHECK(f.covariance[3] == doctest::Approx(4.0 / 3).epsilon(1e-15));
  CHECK(std::abs(f.covariance[1]) < 1e-15);
  CHECK_THROWS_WITH_AS(fit_gaussian(points({1, 2}, 2)), doctest::Contains("at least 2"), std::invalid_argument);
}

TEST_CASE("symmetric_eigen: A v = l v for each pair, ascending; psd_sqrt(A)^2 = A") {
  Philox rng(3);
  const int64_t n = 6;
  const Tensor r = randn({n, n}, rng, DType::F64);
  const Tensor spd = matmul(r, r.transpose(0, 1)).contiguous();
  std::vector<double> a(spd.data<double>(), spd.data<double>() + n * n);
  for (int64_t i = 0; i < n; ++i) a[i * n + i] += 0.1;  // R R^T + 0.1 I: symmetric positive definite
  const SymmetricEigen e = symmetric_eigen(a, n);
  for (int64_t j = 0; j < n; ++j) {
    if (j > 0) CHECK(e.values[j] >= e.values[j - 1]);
    for (int64_t i = 0; i < n; ++i) {
      double av = 0;
      for (int64_t k = 0; k < n; ++k) av += a[i * n + k] * e.vectors[k * n + j];
      CHECK(av == doctest::Approx(e.values[j] * e.vectors[i * n + j]).epsilon(1e-10).scale(1.0));
    }
  }
  const std::vector<double> root = psd_sqrt(a, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sq = 0;
      for (int64_t k = 0; k < n; ++k) sq += root[i * n + k] * root[k * n + j];
      CHECK(sq == doctest::Approx(a[i * n + j]).epsilon(1e-10).scale(1.0));
    }
}

TEST_CASE("FD of a set with itself is 0 to rounding; of shifted sets, the squared shift") {
  Philox rng(4);
  const Tensor x = randn({500, 16}, rng) * 3.0 + 1.0;
  const GaussianFit f = fit_gaussian(x);
  double trace = 0;
  for (int64_t j = 0; j < 16; ++j) trace += f.covariance[j * 16 + j];
  const FrechetDistance same = frechet_distance(f, f);
  MESSAGE("FD(x, x) = " << same.value << " against Tr S = " << trace);
  CHECK(std::abs(same.value) < 1e-10 * trace);
  // Translating every point by v moves only the mean: FD = ||v||^2 (the covariances are equal).
  const FrechetDistance shifted = frechet_distance(f, fit_gaussian(x.to(DType::F64) + 0.5));
  CHECK(shifted.value == doctest::Approx(16 * 0.25).epsilon(1e-9));
  CHECK(shifted.mean_term == doctest::Approx(16 * 0.25).epsilon(1e-12));
}

TEST_CASE("FD between Gaussians against the closed forms: diagonal, commuting and general 2 x 2 covariances") {
  // Diagonal: ||mu_1 - mu_2||^2 + sum_i (sqrt a_i - sqrt b_i)^2.
  const GaussianFit a = exact({0, 1, 2}, {4, 0, 0, 0, 1, 0, 0, 0, 9});
  const GaussianFit b = exact({1, 1, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 0.25});
  const double diagonal = 1 + 0 + 4 + std::pow(2 - 1, 2) + 0 + std::pow(3 - 0.5, 2);
  CHECK(frechet_distance(a, b).value == doctest::Approx(diagonal).epsilon(1e-12));
  // Commuting (the same eigenvectors, a rotation by 0.7): the same formula in the eigenvalues.
  const GaussianFit c = exact({0, 0}, rotated(0.7, 4, 0.25)), d = exact({3, 4}, rotated(0.7, 1, 2.25));
  CHECK(frechet_distance(c, d).value == doctest::Approx(25 + std::pow(2 - 1, 2) + std::pow(0.5 - 1.5, 2)).epsilon(1e-12));
  // Not commuting: Tr sqrt(M) = sqrt(Tr(S_1 S_2) + 2 sqrt(det S_1 det S_2)) for 2 x 2 (M's eigenvalues l1, l2:
  // (sqrt l1 + sqrt l2)^2 = Tr M + 2 sqrt(det M), Tr M = Tr(S_1 S_2), det M = det S_1 det S_2).
  const std::vector<double> s1 = rotated(0.3, 5, 0.5), s2 = rotated(1.2, 2, 0.1);
  const double tr12 = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
  const double closed = (s1[0] + s1[3]) + (s2[0] + s2[3]) - 2 * std::sqrt(tr12 + 2 * std::sqrt(5 * 0.5 * 2 * 0.1));
  const FrechetDistance general = frechet_distance(exact({0, 0}, s1), exact({0, 0}, s2));
  CHECK(general.value == doctest::Approx(closed).epsilon(1e-12));
  CHECK(general.value > 0.5);  // far from 0: the test tells the covariances apart
  CHECK_THROWS_WITH_AS(frechet_distance(a, c), doctest::Contains("3 and 2 dimensions"), std::invalid_argument);
}

TEST_CASE("FD of large samples approaches the closed form of their Gaussians") {
  Philox rng(5);
  const int64_t n = 40000;
  const Tensor x = randn({n, 2}, rng, DType::F64) * Tensor::from_vector(std::vector<double>{2, 1}, {2});
  const Tensor y = randn({n, 2}, rng, DType::F64) * Tensor::from_vector(std::vector<double>{1, 0.5}, {2}) + 1.0;
  const double closed = 2 + std::pow(2 - 1, 2) + std::pow(1 - 0.5, 2);  // means (0,0) vs (1,1); sds (2,1) vs (1,0.5)
  CHECK(frechet_distance(fit_gaussian(x), fit_gaussian(y)).value == doctest::Approx(closed).epsilon(0.03));
}

TEST_CASE("precision and recall on a line, by hand (k = 2)") {
  // Real 0..4: radii to the 2nd nearest other point 2, 1, 1, 1, 2 -> balls [-2,2] [0,2] [1,3] [2,4] [2,6].
  // Generated 3.9 4.0 4.1 4.2 10: radii 0.2, 0.1, 0.1, 0.2, 5.9 -> balls [3.7,4.1] [3.9,4.1] [4.0,4.2] [4.0,4.4] [4.1,15.9].
  // Precision: 3.9, 4.0, 4.1, 4.2 lie in [2,6]; 10 in no real ball: 4/5. Recall: only 4 lies in a generated ball: 1/5.
  const Tensor real = points({0, 1, 2, 3, 4}, 1), generated = points({3.9, 4.0, 4.1, 4.2, 10}, 1);
  const std::vector<double> radii = knn_squared_radii(real, 2);
  CHECK(radii == std::vector<double>{4, 1, 1, 1, 4});
  const PrecisionRecall pr = precision_recall(real, generated, 2);
  CHECK(pr.precision == doctest::Approx(0.8));
  CHECK(pr.recall == doctest::Approx(0.2));
  // k = 1: real balls [-1,1] [0,2] [1,3] [2,4] [3,5] hold 3.9 4.0 4.1 4.2 (4/5); generated radii 0.1 0.1 0.1 0.1
  // 5.8: [3.8,4.0] ... [4.2,15.8] hold 4 only: recall 1/5.
  const PrecisionRecall one = precision_recall(real, generated, 1);
  CHECK(one.precision == doctest::Approx(0.8));
  CHECK(one.recall == doctest::Approx(0.2));
  CHECK_THROWS_WITH_AS(precision_recall(real, generated, 5), doctest::Contains("1 <= k < N"), std::invalid_argument);
}

TEST_CASE("precision and recall: a set against itself is (1, 1); random clouds equal a brute-force count") {
  Philox rng(6);
  const Tensor a = randn({300, 4}, rng, DType::F64), b = randn({200, 4}, rng, DType::F64) * 1.1 + 1.0;
  const PrecisionRecall self = precision_recall(a, a, 3);
  CHECK(self.precision == 1.0);
  CHECK(self.recall == 1.0);
  auto dist2 = [](const Tensor& x, int64_t i, const Tensor& y, int64_t j) {
    double s = 0;
    for (int64_t c = 0; c < x.size(1); ++c) s += std::pow(x.data<double>()[i * x.size(1) + c] - y.data<double>()[j * y.size(1) + c], 2);
    return s;
  };
  auto radii = [&](const Tensor& x, int64_t k) {  // sort every row: the k-th other point
    std::vector<double> r;
    for (int64_t i = 0; i < x.size(0); ++i) {
      std::vector<double> row;
      for (int64_t j = 0; j < x.size(0); ++j)
        if (j != i) row.push_back(dist2(x, i, x, j));
      std::sort(row.begin(), row.end());
      r.push_back(row[k - 1]);
    }
    return r;
  };
  auto inside = [&](const Tensor& queries, const Tensor& centres, const std::vector<double>& r) {
    int64_t count = 0;
    for (int64_t i = 0; i < queries.size(0); ++i)
      for (int64_t j = 0; j < centres.size(0); ++j)
        if (dist2(queries, i, centres, j) <= r[j]) {
          ++count;
          break;
        }
    return static_cast<double>(count) / static_cast<double>(queries.size(0));
  };
  const PrecisionRecall pr = precision_recall(a, b, 3);
  const double precision = inside(b, a, radii(a, 3)), recall = inside(a, b, radii(b, 3));
  MESSAGE("precision " << pr.precision << ", recall " << pr.recall);
  CHECK(pr.precision == precision);
  CHECK(pr.recall == recall);
  CHECK(precision > 0.2);
  CHECK(precision < 0.95);  // neither trivially 0 nor 1
  CHECK(recall < 0.95);
}

TEST_CASE("class accuracy by hand") {
  CHECK(class_accuracy({0, 1, 2, 3}, {0, 1, 1, 3}) == 0.75);
  CHECK(class_accuracy({7}, {7}) == 1.0);
  CHECK_THROWS_AS(class_accuracy({0, 1}, {0}), std::invalid_argument);
  CHECK_THROWS_AS(class_accuracy({}, {}), std::invalid_argument);
}
