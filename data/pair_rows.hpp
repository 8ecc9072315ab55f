// Rows of aligned pairs (data/verses.hpp's pair files) for a model of the target given the source: DiffuSeq's
// [x; y] (Gong et al. 2022), the source-conditioned masked model and the autoregressive "x SEP y". docs/math.md §9.
//
// A pair is one row of L positions (model.seq_len, 128 by default), in one of two layouts (data.pair_layout):
//   packed  [<bos>, x^1 .. x^n, <eos>, y^1 .. y^m, <eos>, <pad> ...]                 (DiffuSeq's [x; y])
//   halves  [<bos>, x^1 .. x^n, <eos>, <pad> ... | y^1 .. y^m, <eos>, <pad> ...]     the target from L / 2
// the source's <eos> doing the autoregressive model's SEP. The given mask, int32 [N, L], is 1 at <bos>, the
// source and its <eos> (packed), or the whole first half (halves): what the model is given; 0 at the target,
// its <eos> and the pads after it (what it writes and what its loss and bound cover).
//
// Why halves (docs/math.md §9): a target word y^j sits at a fixed distance L / 2 - 1 from the source word x^j in
// every row, so a model with learned absolute positions can read "the source word at my place" from the
// positions alone (and with nn/transformer.hpp's half_positions, x^j and y^j read the same position); packed,
// the distance is n + 2 and changes from row to row. On the monotone KJV -> WEB
// paraphrase this is what lets a small model copy and edit within a CPU's budget. (XLM's translation
// language model resets the target's positions for the same reason: Lample & Conneau 2019, §3.3.)
//
// Either side holds at most max_side_tokens tokens, 62 of L = 128 in both layouts: floor((L - 3) / 2) packed
// (two sides at their maximum fit), L / 2 - 2 halves (<bos> x <eos> in the first half). A pair with a longer
// side is never cut: training drops it and counts it
// (LongSequences::DropAndCount, counting long sources and long targets apart); evaluation refuses it with
// its line, side and length (LongSequences::Refuse). A word outside the vocabulary becomes <unk>, counted.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/words.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::data {

constexpr int64_t kDefaultPairLength = 128;

enum class PairLayout { Packed, Halves };

// "packed" or "halves" (data.pair_layout; absent in runs before it: packed). Throws naming the field.
PairLayout pair_layout_from_name(const std::string& name);
const char* pair_layout_name(PairLayout layout);

struct PairRowOptions {
  int64_t length = kDefaultPairLength;  // L
  PairLayout layout = PairLayout::Packed;
  // The most tokens of one side: packed, L less <bos> and the two <eos>, halved; halves, L / 2 less <bos>, <eos>.
  int64_t max_side_tokens() const { return layout == PairLayout::Packed ? (length - 3) / 2 : length / 2 - 2; }
  // The shortest L whose rows hold a side of `side_tokens` in this layout.
  int64_t length_for(int64_t side_tokens) const { return layout == PairLayout::Packed ? 2 * side_tokens + 3 : 2 * side_tokens + 4; }
  // "rows of 128: <bos> source <eos> target <eos>": the layout in messages.
  std::string describe() const;
};

struct EncodedPairs {
  TokenSequences sequences;            // int32 [N, L]; lengths: the positions before padding
  Tensor given;                        // int32 [N, L]: 1 at <bos>, the source and its <eos>
  std::vector<int64_t> items;          // per row, the index of its pair
  std::vector<int64_t> target_tokens;  // per row, the target's tokens (its bits are divided by these + 1, its <eos>)
  int64_t too_long = 0;                // pairs dropped (DropAndCount) ...
  int64_t long_sources = 0, long_targets = 0;  // ... with a source, a target too long (a pair may have both)
  int64_t longest = 0;                 // the most tokens of any side, dropped ones included
  int64_t tokens = 0;                  // tokens of both sides encoded (markers and padding not counted)
  int64_t unknown = 0;                 // of them, mapped to <unk>
  // "27,023 pairs of 128; 419 with a side longer than 62 tokens dropped (401 sources, 33 targets; longest 97);
  //  1,234 of 1,600,000 tokens unknown (0.08%)"
  std::string summary() const;
};

// Encodes sources[i] and targets[i] (the same number) into rows (see the header comment). Throws
// std::runtime_error "<where>: 70 tokens, longer than the maximum of 62 a side (rows of 128: <bos> source
// <eos> target <eos>); a pair is never cut" under Refuse; when no row remains; when L leaves no room.
EncodedPairs encode_pairs(const std::vector<TokenizedText>& sources, const std::vector<TokenizedText>& targets,
                          const Vocabulary& vocab, const PairRowOptions& options, LongSequences policy);

// The given mask of pair rows (int32 [N, L]): packed, 1 from position 0 through the row's first <eos>;
// halves, 1 over the first half. Throws when a row's source has no <eos> (in its half).
Tensor pair_given(const Tensor& rows, PairLayout layout);

}  // namespace diffuse::data
