// The third kind of text corpus (apps/text_corpus.hpp): a pair file of aligned sentences (data/verses.hpp,
// "Book C:V<TAB>source<TAB>target", as scripts/export_bible.sh pairs KJV WEB writes), for the models of a
// target given its source (docs/math.md §9). data.dataset is "pairs".
//
//   vocabulary  one word vocabulary for both sides: the tokens of the training books' sources and targets
//               seen at least data.min_count times (default 5), with <pad> <unk> <bos> <eos> at 0..3.
//   rows        of model.seq_len (128 by default for pairs) in data.pair_layout (data/pair_rows.hpp): packed,
//               [<bos>, source, <eos>, target, <eos>, <pad> ...]; halves, the target from position L / 2. A side
//               holds at most 62 tokens of 128. The given mask is 1 at <bos>, the source and its <eos> (and,
//               halves, the first half's pads).
//   training    the training books' rows drawn uniformly with replacement (data::SequenceSampler; its state is
//               the checkpoint's "data.position"), the given mask beside each batch; a pair with a side too
//               long is dropped and counted (the training summary says how many, and how many sources and
//               targets), never cut.
//   evaluation  a split's pairs in file order, with their given mask, their sources and references as
//               tokenized text (words outside the vocabulary as written) and their references "Book C:V"; a
//               side too long is refused, naming its line, side and length. Bits per token count the target's
//               tokens and its <eos>.
// A token outside the vocabulary is <unk>: the training summary and TextItems count them.
#pragma once
#include <cstdint>
#include <memory>

#include "apps/text_corpus.hpp"
#include "data/pair_rows.hpp"
#include "data/verses.hpp"

namespace diffuse {

// The corpus of a parsed pair file, its vocabulary built at min_count, its rows in `layout`. Throws naming the
// file when it has no references (a two-column file cannot be split by book) or a split has no pair.
std::shared_ptr<const TextCorpus> make_pair_corpus(const data::PairFile& file, int64_t min_count, data::PairLayout layout);

// data.pair_layout of a configuration: absent (runs before it) is packed. Throws naming the field.
data::PairLayout pair_layout_of(const nlohmann::json& config);

}  // namespace diffuse
