#include "metrics/text_metrics.hpp"

#include <array>
#include <cmath>
#include <map>
#include <numbers>
#include <set>
#include <stdexcept>

namespace diffuse::metrics {

double unigram_entropy_bits(const std::vector<std::string_view>& texts) {
  std::array<int64_t, 256> counts{};
  int64_t total = 0;
  for (std::string_view t : texts)
    for (unsigned char c : t) {
      ++counts[c];
      ++total;
    }
  double h = 0;
  for (int64_t c : counts)
    if (c > 0) {
      const double p = static_cast<double>(c) / static_cast<double>(total);
      h -= p * std::log2(p);
    }
  return h;
}

double id_entropy_bits(const std::vector<std::vector<int32_t>>& sequences) {
  std::map<int32_t, int64_t> counts;
  int64_t total = 0;
  for (const std::vector<int32_t>& ids : sequences)
    for (const int32_t id : ids) {
      if (id < 0) throw std::invalid_argument("id_entropy_bits: a negative id " + std::to_string(id));
      ++counts[id];
      ++total;
    }
  double h = 0;
  for (const auto& [id, c] : counts) {
    const double p = static_cast<double>(c) / static_cast<double>(total);
    h -= p * std::log2(p);
  }
  return h;
}

std::vector<double> distinct_n(const std::vector<std::string_view>& texts, int64_t max_n) {
  if (max_n < 1) throw std::invalid_argument("distinct_n: n must be at least 1");
  std::vector<std::set<std::vector<std::string_view>>> seen(static_cast<size_t>(max_n));
  std::vector<int64_t> total(static_cast<size_t>(max_n), 0);
  for (std::string_view t : texts) {
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < t.size()) {
      while (i < t.size() && t[i] == ' ') ++i;
      const size_t start = i;
      while (i < t.size() && t[i] != ' ') ++i;
      if (i > start) words.push_back(t.substr(start, i - start));
    }
    for (int64_t n = 1; n <= max_n; ++n)
      for (size_t w = 0; w + static_cast<size_t>(n) <= words.size(); ++w) {
        seen[static_cast<size_t>(n - 1)].insert(std::vector<std::string_view>(words.begin() + static_cast<std::ptrdiff_t>(w),
                                                                               words.begin() + static_cast<std::ptrdiff_t>(w) + n));
        ++total[static_cast<size_t>(n - 1)];
      }
  }
  std::vector<double> out;
  for (int64_t n = 0; n < max_n; ++n)
    out.push_back(total[static_cast<size_t>(n)] == 0 ? 0.0
                                                     : static_cast<double>(seen[static_cast<size_t>(n)].size()) /
                                                           static_cast<double>(total[static_cast<size_t>(n)]));
  return out;
}

double GenerativePerplexity::perplexity() const { return std::exp(nats / static_cast<double>(tokens)); }
double GenerativePerplexity::bits_per_token() const { return nats / (static_cast<double>(tokens) * std::numbers::ln2); }

GenerativePerplexity generative_perplexity(const std::vector<Tensor>& samples, const SequenceScorer& scorer, int64_t window,
                                           int64_t batch) {
  if (window < 1 || batch < 1) throw std::invalid_argument("generative perplexity: window and batch must be positive");
  // Windows grouped by length, so that each batch is one [B, W] tensor.
  std::map<int64_t, std::vector<std::vector<int32_t>>> by_length;
  for (const Tensor& s : samples) {
    if (s.dtype() != DType::I32 || s.dim() != 1) throw std::invalid_argument("generative perplexity: samples must be int32 [L]");
    const Tensor c = s.contiguous();
    for (int64_t begin = 0; begin < c.numel(); begin += window) {
      const int64_t end = std::min(c.numel(), begin + window);
      by_length[end - begin].emplace_back(c.data<int32_t>() + begin, c.data<int32_t>() + end);
    }
  }
  GenerativePerplexity r;
  for (const auto& [length, windows] : by_length)
    for (size_t first = 0; first < windows.size(); first += static_cast<size_t>(batch)) {
      const size_t count = std::min(windows.size() - first, static_cast<size_t>(batch));
      std::vector<int32_t> ids;
      for (size_t i = first; i < first + count; ++i) ids.insert(ids.end(), windows[i].begin(), windows[i].end());
      const Tensor nll = scorer(Tensor::from_vector(ids, {static_cast<int64_t>(count), length})).to(DType::F64).contiguous();
      for (int64_t i = 0; i < nll.numel(); ++i) r.nats += nll.data<double>()[i];
      r.tokens += static_cast<int64_t>(count) * length;
      r.windows += static_cast<int64_t>(count);
    }
  if (r.tokens == 0) throw std::invalid_argument("generative perplexity: the samples hold no tokens");
  return r;
}

}  // namespace diffuse::metrics
