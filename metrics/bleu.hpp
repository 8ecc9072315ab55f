// BLEU, ROUGE-L and self-BLEU for conditional text generation, as DiffuSeq (Gong et al. 2022) reports them.
//
// BLEU-4 (Papineni et al. 2002) as sacreBLEU computes it by default (Post 2018), so that figures are
// comparable: each segment tokenised by mteval-v13a ("13a": punctuation split off, periods and commas kept
// inside numbers), case-insensitive here (sacreBLEU's -lc); for n = 1..4 the clipped n-gram matches and the
// n-gram totals summed over the corpus; p_n = matches / total, with sacreBLEU's default "exp" smoothing
// (an n with no match gets 1 / (2^k total), k counting such orders) and a score of 0 when nothing matches at
// all; brevity penalty exp(1 - r/c) when the hypotheses' length c is below the references' r (the closest
// reference length per segment);
//   BLEU = 100 BP exp(sum_n log(p_n) / 4).
// ROUGE-L (Lin 2004): the F1 of the longest common subsequence of tokens, precision LCS / |hyp| and recall
// LCS / |ref|, tokens as Google's rouge-score package makes them (lower-cased, runs of [a-z0-9]); the corpus
// figure is the mean over segments, times 100.
// Self-BLEU (Zhu et al. 2018): for each source's n samples, each sample's sentence BLEU (the same
// definition on one segment) against the other n - 1 as references, averaged over samples and sources;
// high means the samples repeat each other.
// Minimum-Bayes-risk selection (DiffuSeq's, Gong et al. 2022 §4.3; Kumar & Byrne 2004): among n candidates
// for one source, the one whose mean sentence BLEU against each other candidate as the reference is highest:
//   argmax_i (1 / (n - 1)) sum_{j != i} BLEU(c_i; c_j),
// the expected BLEU of c_i when the model's n draws stand for its distribution (risk = -BLEU).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace diffuse::metrics {

// mteval-v13a's tokenisation (sacreBLEU's Tokenizer13a), optionally lower-cased first.
std::vector<std::string> tokenize_13a(std::string_view line, bool lowercase = true);

struct BleuScore {
  double score = 0;                   // 0..100
  std::array<double, 4> precisions{}; // p_n in percent, after smoothing
  std::array<int64_t, 4> matches{}, totals{};
  double brevity_penalty = 1;
  int64_t hypothesis_length = 0, reference_length = 0;
};

// Corpus BLEU-4 of hypotheses[i] against references[i] (one or more references per segment).
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references,
                      bool lowercase = true);
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references, bool lowercase = true);

// Mean ROUGE-L F1 over segments, 0..100.
double rouge_l(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references);

// samples[s] holds the n >= 2 samples of source s. 0..100.
double self_bleu(const std::vector<std::vector<std::string>>& samples);

// The index of the minimum-Bayes-risk candidate (the first on ties); 0 for a single candidate. Throws on none.
int64_t mbr_select(const std::vector<std::string>& candidates);

}  // namespace diffuse::metrics
