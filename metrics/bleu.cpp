#include "metrics/bleu.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <stdexcept>

namespace diffuse::metrics {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The characters 13a splits off everywhere: { to ~, [ to `, space to &, ( to +, : to @, and /.
bool split_always(unsigned char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= ':' && c <= '@') || c == '/';
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
}

using Ngrams = std::map<std::vector<std::string>, int64_t>;

Ngrams ngrams(const std::vector<std::string>& tokens, size_t n) {
  Ngrams out;
  for (size_t i = 0; i + n <= tokens.size(); ++i) ++out[std::vector<std::string>(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                                                                                 tokens.begin() + static_cast<std::ptrdiff_t>(i + n))];
  return out;
}

// sacreBLEU's compute_bleu with smooth_method "exp".
BleuScore score_from_counts(BleuScore s) {
  const int64_t c = s.hypothesis_length, r = s.reference_length;
  s.brevity_penalty = c < r ? (c > 0 ? std::exp(1.0 - static_cast<double>(r) / static_cast<double>(c)) : 0.0) : 1.0;
  s.precisions = {0, 0, 0, 0};
  if (std::all_of(s.matches.begin(), s.matches.end(), [](int64_t m) { return m == 0; })) {
    s.score = 0;
    return s;
  }
  double smooth = 1, log_sum = 0;
  for (size_t n = 0; n < 4; ++n) {
    if (s.totals[n] == 0) break;
    if (s.matches[n] == 0) {
      smooth *= 2;
      s.precisions[n] = 100.0 / (smooth * static_cast<double>(s.totals[n]));
    } else {
      s.precisions[n] = 100.0 * static_cast<double>(s.matches[n]) / static_cast<double>(s.totals[n]);
    }
  }
  for (double p : s.precisions) log_sum += p > 0 ? std::log(p) : -9999999999.0;  // sacreBLEU's my_log(0)
  s.score = s.brevity_penalty * std::exp(log_sum / 4.0);
  return s;
}

void add_segment(BleuScore& s, const std::vector<std::string>& hyp, const std::vector<std::vector<std::string>>& refs) {
  if (refs.empty()) throw std::invalid_argument("BLEU: a segment without a reference");
  s.hypothesis_length += static_cast<int64_t>(hyp.size());
  // The closest reference length (the shorter on a tie), as sacreBLEU.
  int64_t best = -1;
  for (const auto& ref : refs) {
    const int64_t len = static_cast<int64_t>(ref.size());
    const int64_t diff = std::llabs(len - static_cast<int64_t>(hyp.size()));
    if (best < 0 || diff < std::llabs(best - static_cast<int64_t>(hyp.size())) ||
        (diff == std::llabs(best - static_cast<int64_t>(hyp.size())) && len < best))
      best = len;
  }
  s.reference_length += best;
  for (size_t n = 1; n <= 4; ++n) {
    const Ngrams h = ngrams(hyp, n);
    Ngrams most;  // each n-gram's largest count in any reference
    for (const auto& ref : refs)
      for (const auto& [g, count] : ngrams(ref, n)) most[g] = std::max(most[g], count);
    for (const auto& [g, count] : h) {
      const auto it = most.find(g);
      s.matches[n - 1] += std::min(count, it == most.end() ? 0 : it->second);
    }
    s.totals[n - 1] += std::max<int64_t>(static_cast<int64_t>(hyp.size()) - static_cast<int64_t>(n) + 1, 0);
  }
}

std::vector<std::string> rouge_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if ((c >= 'a' && c <= 'z') || is_digit(c)) {
      cur += c;
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

int64_t lcs(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<int64_t> prev(b.size() + 1, 0), row(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) row[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], row[j - 1]);
    std::swap(prev, row);
  }
  return prev[b.size()];
}

}  // namespace

std::vector<std::string> tokenize_13a(std::string_view line_in, bool lowercase) {
  std::string line(line_in);
  if (lowercase)
    for (char& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  replace_all(line, "&quot;", "\"");
  replace_all(line, "&amp;", "&");
  replace_all(line, "&lt;", "<");
  replace_all(line, "&gt;", ">");
  line = " " + line + " ";
  // The four regular expressions of sacreBLEU's TokenizerRegexp, in order, each over the whole line.
  std::string a;
  for (char c : line) {
    if (split_always(static_cast<unsigned char>(c))) a += std::string(" ") + c + " ";
    else a += c;
  }
  std::string b;  // ([^0-9])([\.,]) -> \1 \2 ; matches do not overlap: the period consumed with its left neighbour
  for (size_t i = 0; i < a.size(); ++i) {
    if (i + 1 < a.size() && !is_digit(a[i]) && (a[i + 1] == '.' || a[i + 1] == ',')) {
      b += a[i];
      b += ' ';
      b += a[i + 1];
      b += ' ';
      ++i;
    } else {
      b += a[i];
    }
  }
  std::string c;  // ([\.,])([^0-9]) ->  \1 \2
  for (size_t i = 0; i < b.size(); ++i) {
    if (i + 1 < b.size() && (b[i] == '.' || b[i] == ',') && !is_digit(b[i + 1])) {
      c += ' ';
      c += b[i];
      c += ' ';
      c += b[i + 1];
      ++i;
    } else {
      c += b[i];
    }
  }
  std::string d;  // ([0-9])(-) -> \1 \2
  for (size_t i = 0; i < c.size(); ++i) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d += c[i];
      d += " - ";
      ++i;
    } else {
      d += c[i];
    }
  }
  std::vector<std::string> tokens;
  std::string cur;
  for (char ch : d) {
    if (std::isspace(static_cast<unsigned char>(ch))) {
      if (!cur.empty()) tokens.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (!cur.empty()) tokens.push_back(cur);
  return tokens;
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references,
                      bool lowercase) {
  if (hypotheses.size() != references.size())
    throw std::invalid_argument("BLEU: " + std::to_string(hypotheses.size()) + " hypotheses but " +
                                std::to_string(references.size()) + " reference sets");
  BleuScore s;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    std::vector<std::vector<std::string>> refs;
    for (const std::string& r : references[i]) refs.push_back(tokenize_13a(r, lowercase));
    add_segment(s, tokenize_13a(hypotheses[i], lowercase), refs);
  }
  return score_from_counts(s);
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references, bool lowercase) {
  std::vector<std::vector<std::string>> sets;
  for (const std::string& r : references) sets.push_back({r});
  return corpus_bleu(hypotheses, sets, lowercase);
}

double rouge_l(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) {
  if (hypotheses.size() != references.size() || hypotheses.empty())
    throw std::invalid_argument("ROUGE-L: needs as many hypotheses as references, at least one");
  double sum = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    const std::vector<std::string> h = rouge_tokens(hypotheses[i]), r = rouge_tokens(references[i]);
    const double l = static_cast<double>(lcs(h, r));
    if (l == 0) continue;
    const double p = l / static_cast<double>(h.size()), q = l / static_cast<double>(r.size());
    sum += 2 * p * q / (p + q);
  }
  return 100.0 * sum / static_cast<double>(hypotheses.size());
}

double self_bleu(const std::vector<std::vector<std::string>>& samples) {
  double sum = 0;
  int64_t count = 0;
  for (const auto& group : samples) {
    if (group.size() < 2) throw std::invalid_argument("self-BLEU: every source needs at least 2 samples");
    for (size_t i = 0; i < group.size(); ++i) {
      std::vector<std::string> others;
      for (size_t j = 0; j < group.size(); ++j)
        if (j != i) others.push_back(group[j]);
      sum += corpus_bleu({group[i]}, std::vector<std::vector<std::string>>{others}).score;
      ++count;
    }
  }
  return count == 0 ? 0.0 : sum / static_cast<double>(count);
}

int64_t mbr_select(const std::vector<std::string>& candidates) {
  if (candidates.empty()) throw std::invalid_argument("MBR: no candidate to choose from");
  const size_t n = candidates.size();
  int64_t best = 0;
  double best_gain = -1;
  for (size_t i = 0; i < n; ++i) {
    double gain = 0;
    for (size_t j = 0; j < n; ++j)
      if (j != i) gain += corpus_bleu({candidates[i]}, std::vector<std::string>{candidates[j]}).score;
    if (gain > best_gain) {  // the sum over the same n - 1 others: the mean's argmax
      best_gain = gain;
      best = static_cast<int64_t>(i);
    }
  }
  return best;
}

}  // namespace diffuse::metrics
