#include "data/pair_rows.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "data/file_io.hpp"

namespace diffuse::data {

PairLayout pair_layout_from_name(const std::string& name) {
  if (name == "packed") return PairLayout::Packed;
  if (name == "halves") return PairLayout::Halves;
  throw std::invalid_argument("data.pair_layout: '" + name + "' is not a layout of pair rows ('packed': [<bos> x <eos> y <eos>]; "
                              "'halves': the target from position L / 2)");
}

const char* pair_layout_name(PairLayout layout) { return layout == PairLayout::Packed ? "packed" : "halves"; }

std::string PairRowOptions::describe() const {
  return "rows of " + std::to_string(length) +
         (layout == PairLayout::Packed ? ": <bos> source <eos> target <eos>"
                                       : ": <bos> source <eos> in the first " + std::to_string(length / 2) + ", target <eos> in the rest");
}

std::string EncodedPairs::summary() const {
  std::string s = with_commas(sequences.rows()) + " pairs of " + std::to_string(sequences.length());
  if (too_long > 0)
    s += "; " + with_commas(too_long) + " with a side longer than the maximum dropped (" + with_commas(long_sources) + " sources, " +
         with_commas(long_targets) + " targets; longest " + std::to_string(longest) + " tokens)";
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.2f%%", tokens > 0 ? 100.0 * static_cast<double>(unknown) / static_cast<double>(tokens) : 0.0);
  return s + "; " + with_commas(unknown) + " of " + with_commas(tokens) + " tokens unknown (" + pct + ")";
}

EncodedPairs encode_pairs(const std::vector<TokenizedText>& sources, const std::vector<TokenizedText>& targets,
                          const Vocabulary& vocab, const PairRowOptions& options, LongSequences policy) {
  if (sources.size() != targets.size())
    throw std::invalid_argument("encode_pairs: " + std::to_string(sources.size()) + " sources but " + std::to_string(targets.size()) +
                                " targets");
  const int64_t L = options.length, max_side = options.max_side_tokens();
  if (max_side < 1)
    throw std::invalid_argument("encode_pairs: rows of " + std::to_string(L) + " leave no room for a source and a target (at least 5)");
  EncodedPairs out;
  std::vector<int32_t> grid, given;
  for (size_t k = 0; k < sources.size(); ++k) {
    const int64_t n = static_cast<int64_t>(sources[k].tokens.size()), m = static_cast<int64_t>(targets[k].tokens.size());
    out.longest = std::max({out.longest, n, m});
    if (n > max_side || m > max_side) {
      const TokenizedText& side = n > max_side ? sources[k] : targets[k];
      if (policy == LongSequences::Refuse)
        throw std::runtime_error(side.where + ": " + std::to_string(side.tokens.size()) + " tokens, longer than the maximum of " +
                                 std::to_string(max_side) + " a side (" + options.describe() + "); a pair is never cut");
      ++out.too_long;
      out.long_sources += n > max_side;
      out.long_targets += m > max_side;
      continue;
    }
    const std::vector<int32_t> x = vocab.encode(sources[k].tokens, &out.unknown);
    const std::vector<int32_t> y = vocab.encode(targets[k].tokens, &out.unknown);
    out.tokens += n + m;
    const size_t row = grid.size();
    grid.resize(row + static_cast<size_t>(L), kPadId);
    given.resize(row + static_cast<size_t>(L), 0);
    size_t j = row;
    grid[j++] = kBosId;
    for (const int32_t id : x) grid[j++] = id;
    grid[j++] = kEosId;
    if (options.layout == PairLayout::Halves) j = row + static_cast<size_t>(L / 2);  // the first half's pads are given
    std::fill(given.begin() + static_cast<std::ptrdiff_t>(row), given.begin() + static_cast<std::ptrdiff_t>(j), 1);
    for (const int32_t id : y) grid[j++] = id;
    grid[j++] = kEosId;
    out.sequences.lengths.push_back(static_cast<int64_t>(j - row));
    out.items.push_back(static_cast<int64_t>(k));
    out.target_tokens.push_back(m);
  }
  const int64_t rows = static_cast<int64_t>(out.items.size());
  if (rows == 0)
    throw std::runtime_error("encode_pairs: no pair of " + std::to_string(sources.size()) + " fits in rows of " + std::to_string(L) +
                             " (longest side " + std::to_string(out.longest) + " tokens)");
  out.sequences.ids = Tensor::from_vector(grid, {rows, L});
  out.sequences.vocab_size = vocab.size();
  out.sequences.pad_id = kPadId;
  out.given = Tensor::from_vector(given, {rows, L});
  return out;
}

Tensor pair_given(const Tensor& rows, PairLayout layout) {
  if (rows.dtype() != DType::I32 || rows.dim() != 2) throw std::invalid_argument("pair_given: expected int32 [N, L], got " + describe(rows));
  const Tensor c = rows.contiguous();
  const int64_t N = c.size(0), L = c.size(1);
  std::vector<int32_t> given(static_cast<size_t>(N * L), 0);
  for (int64_t r = 0; r < N; ++r) {
    const int32_t* row = c.data<int32_t>() + r * L;
    const int64_t end = layout == PairLayout::Packed ? L : L / 2;  // where the source's <eos> must be
    const int64_t eos = std::find(row, row + end, kEosId) - row;
    if (eos == end)
      throw std::invalid_argument("pair_given: row " + std::to_string(r) + " has no <eos> closing its source" +
                                  (layout == PairLayout::Packed ? "" : " in its first half (data.pair_layout halves)"));
    std::fill(given.begin() + r * L, given.begin() + r * L + (layout == PairLayout::Packed ? eos + 1 : end), 1);
  }
  return Tensor::from_vector(given, {N, L});
}

}  // namespace diffuse::data
