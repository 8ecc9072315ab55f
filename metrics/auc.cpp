#include "metrics/auc.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace diffuse::metrics {

double auc(const std::vector<double>& positives, const std::vector<double>& negatives) {
  if (positives.empty() || negatives.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<std::pair<double, bool>> all;  // (score, positive)
  for (double s : positives) all.emplace_back(s, true);
  for (double s : negatives) all.emplace_back(s, false);
  std::sort(all.begin(), all.end());
  // U = (sum of the positives' ranks) - p (p + 1) / 2, ranks from 1, tied scores sharing their mean rank.
  double rank_sum = 0;
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k)
      if (all[k].second) rank_sum += mean_rank;
    i = j;
  }
  const double p = static_cast<double>(positives.size()), q = static_cast<double>(negatives.size());
  return (rank_sum - p * (p + 1) / 2) / (p * q);
}

}  // namespace diffuse::metrics
