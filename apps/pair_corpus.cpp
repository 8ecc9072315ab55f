#include "apps/pair_corpus.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "apps/word_vocabulary.hpp"
#include "data/file_io.hpp"
#include "data/pair_rows.hpp"
#include "metrics/text_metrics.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
using data::Text8Split;
using data::with_commas;

// The tokens joined by single spaces: a side as the metrics read it.
std::string joined(const std::vector<std::string>& tokens) {
  std::string s;
  for (const std::string& t : tokens) s += (s.empty() ? "" : " ") + t;
  return s;
}

class PairRows : public TextRowSampler {
 public:
  PairRows(std::shared_ptr<const data::TokenSequences> rows, uint64_t seed, std::string summary, data::PairLayout layout)
      : rows_(std::move(rows), seed), summary_(std::move(summary)), layout_(layout) {}
  TextRows next(int64_t batch) override {
    Tensor rows = rows_.next(batch);
    Tensor given = data::pair_given(rows, layout_);  // the layout says where the source ends
    return {std::move(rows), std::move(given)};
  }
  std::string state() const override { return json(rows_.state().to_strings()).dump(); }
  void restore(const std::string& state) override { rows_.restore(data::SequenceSamplerState::from_strings(json::parse(state))); }
  std::string summary() const override { return summary_; }

 private:
  data::SequenceSampler rows_;
  std::string summary_;
  data::PairLayout layout_;
};

// One split's pairs, tokenized.
struct SplitPairs {
  std::vector<data::TokenizedText> sources, targets;
  std::vector<std::string> books, names;
};

class PairCorpus : public TextCorpus {
 public:
  PairCorpus(const data::PairFile& file, int64_t min_count, data::PairLayout layout)
      : source_(file.path), min_count_(min_count), layout_(layout) {
    if (!file.has_references)
      data::file_error(file.path, "two columns, no references: a pair file without 'Book C:V' cannot be split by book");
    std::array<std::vector<data::TextPair>, 3> pairs;
    const data::BookSplit books;
    for (const data::TextPair& p : file.pairs) pairs[index(books.of(p.book))].push_back(p);
    for (size_t k = 0; k < 3; ++k) {
      SplitPairs& s = splits_[k];
      s.sources = data::tokenize_pairs(pairs[k], data::PairSide::Source, file.path);
      s.targets = data::tokenize_pairs(pairs[k], data::PairSide::Target, file.path);
      for (const data::TextPair& p : pairs[k]) {
        s.books.push_back(p.book);
        s.names.push_back(p.book + " " + std::to_string(p.chapter) + ":" + std::to_string(p.verse));
      }
    }
    const SplitPairs& train = split_of(Text8Split::Train);
    data::TokenCounts counts = data::count_tokens(train.sources);
    for (const data::TokenizedText& t : train.targets) counts.add(t.tokens);
    vocabulary_ = std::make_shared<const WordVocabulary>(data::Vocabulary::build(counts, min_count), "pairs", layout);
  }

  std::shared_ptr<const TextVocabulary> vocabulary() const override { return vocabulary_; }
  const std::string& source() const override { return source_; }
  std::string item_noun() const override { return "pairs"; }

  std::unique_ptr<TextRowSampler> training_rows(int64_t length, uint64_t seed) const override {
    const SplitPairs& train = split_of(Text8Split::Train);
    data::EncodedPairs encoded = data::encode_pairs(train.sources, train.targets, vocabulary_->words(),
                                                    {.length = length, .layout = layout_}, data::LongSequences::DropAndCount);
    const std::string summary = "the training books of " + source_ + ": " + encoded.summary() + "; a vocabulary of " +
                                with_commas(vocabulary_->size()) + " tokens of both sides (data.min_count " +
                                std::to_string(min_count_) + ")";
    return std::make_unique<PairRows>(std::make_shared<const data::TokenSequences>(std::move(encoded.sequences)), seed, summary,
                                      layout_);
  }

  int64_t available_items(Text8Split split, int64_t) const override {
    return static_cast<int64_t>(splits_[index(split)].sources.size());
  }

  TextItems items(Text8Split split, int64_t count, int64_t length, data::LongSequences long_rows) const override {
    const SplitPairs& all = split_of(split);
    const int64_t total = static_cast<int64_t>(all.sources.size());
    const int64_t n = count > 0 ? std::min(count, total) : total;
    const std::vector<data::TokenizedText> sources(all.sources.begin(), all.sources.begin() + n);
    const std::vector<data::TokenizedText> targets(all.targets.begin(), all.targets.begin() + n);
    const data::PairRowOptions rows{.length = length, .layout = layout_};
    if (long_rows == data::LongSequences::Refuse) refuse_long(split, sources, targets, rows);
    const data::EncodedPairs encoded = data::encode_pairs(sources, targets, vocabulary_->words(), rows, long_rows);
    TextItems r;
    r.rows = encoded.sequences.ids;
    r.given = encoded.given;
    r.noun = item_noun();
    r.dropped = encoded.too_long;
    r.tokens = encoded.tokens;
    r.unknown = encoded.unknown;
    for (size_t row = 0; row < encoded.items.size(); ++row) {
      const size_t i = static_cast<size_t>(encoded.items[row]);
      r.units.push_back(encoded.target_tokens[row] + 1);  // the target's tokens and its <eos>
      r.books.push_back(all.books[i]);
      r.names.push_back(all.names[i]);
      r.sources.push_back(joined(all.sources[i].tokens));
      r.references.push_back(joined(all.targets[i].tokens));
    }
    return r;
  }

  // The targets' token ids (words outside the vocabulary as <unk>): what a model writes.
  double unigram_entropy_bits(Text8Split split) const override {
    std::vector<std::vector<int32_t>> ids;
    for (const data::TokenizedText& t : split_of(split).targets) ids.push_back(vocabulary_->words().encode(t.tokens));
    return metrics::id_entropy_bits(ids);
  }

  void record(json& data_section) const override {
    data_section["min_count"] = min_count_;
    data_section["pair_layout"] = data::pair_layout_name(layout_);
    data_section["vocabulary"] = joined_tokens(vocabulary_->words());
  }

 private:
  static size_t index(Text8Split split) { return static_cast<size_t>(split); }
  // The split's pairs; throws naming the file and the books when it has none.
  const SplitPairs& split_of(Text8Split split) const {
    const SplitPairs& s = splits_[index(split)];
    if (s.sources.empty()) {
      const data::BookSplit books;
      std::string names;
      for (const std::string& b : split == Text8Split::Valid ? books.valid : books.test) names += (names.empty() ? "" : ", ") + b;
      data::file_error(source_, std::string("no pair in the ") + data::split_name(split) + " split" +
                                    (split == Text8Split::Train ? " (every book but the held-out ones)" : " (books " + names + ")"));
    }
    return s;
  }

  // The first side of the chosen pairs longer than rows allow: refused, saying how many pairs fit before it
  // and what model.seq_len the whole split needs.
  void refuse_long(Text8Split split, const std::vector<data::TokenizedText>& sources, const std::vector<data::TokenizedText>& targets,
                   const data::PairRowOptions& rows) const {
    for (size_t i = 0; i < sources.size(); ++i) {
      const data::TokenizedText* side = sources[i].tokens.size() > static_cast<size_t>(rows.max_side_tokens()) ? &sources[i]
                                        : targets[i].tokens.size() > static_cast<size_t>(rows.max_side_tokens()) ? &targets[i]
                                                                                                                  : nullptr;
      if (!side) continue;
      size_t longest = 0;
      const SplitPairs& all = splits_[index(split)];
      for (size_t k = 0; k < all.sources.size(); ++k) longest = std::max({longest, all.sources[k].tokens.size(), all.targets[k].tokens.size()});
      throw std::runtime_error(side->where + ": " + std::to_string(side->tokens.size()) + " tokens, longer than the maximum of " +
                               std::to_string(rows.max_side_tokens()) + " a side (" + rows.describe() +
                               "); a pair is never cut. The first " + std::to_string(i) + " pairs of the " + data::split_name(split) +
                               " split fit; all of them need rows of " +
                               std::to_string(rows.length_for(static_cast<int64_t>(longest))) + " (model.seq_len)");
    }
  }

  std::string source_;
  int64_t min_count_;
  data::PairLayout layout_;
  std::array<SplitPairs, 3> splits_;  // train, valid, test (Text8Split order)
  std::shared_ptr<const WordVocabulary> vocabulary_;
};

}  // namespace

std::shared_ptr<const TextCorpus> make_pair_corpus(const data::PairFile& file, int64_t min_count, data::PairLayout layout) {
  return std::make_shared<const PairCorpus>(file, min_count, layout);
}

data::PairLayout pair_layout_of(const json& config) {
  const json* data = config.contains("data") ? &config.at("data") : nullptr;
  if (!data || !data->contains("pair_layout")) return data::PairLayout::Packed;
  if (!data->at("pair_layout").is_string()) throw std::invalid_argument("data.pair_layout: expected \"packed\" or \"halves\"");
  return data::pair_layout_from_name(data->at("pair_layout").get<std::string>());
}

}  // namespace diffuse
