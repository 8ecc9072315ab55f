// The area under the ROC curve of a score that should rank positives above negatives: the Mann-Whitney
// statistic, the chance that a random positive outscores a random negative, a tie counted one half
// (Hanley & McNeil 1982). 1: a perfect ranking; 1/2: none. Computed from ranks, O(n log n).
// `evaluate --control word=W` of a words classifier reads it from the word's logit (apps/text_classifier_commands.cpp).
#pragma once
#include <vector>

namespace diffuse::metrics {

// NaN when either side is empty.
double auc(const std::vector<double>& positives, const std::vector<double>& negatives);

}  // namespace diffuse::metrics
