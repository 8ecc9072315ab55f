// The word vocabulary of the word-level text corpora (apps/text_corpus.hpp): verse files and pair files. One
// implementation of TextVocabulary over data::Vocabulary (<pad> 0, <unk> 1, <bos> 2, <eos> 3, then the words of
// the training books seen at least data.min_count times), named by the corpus's data.dataset ("verses",
// "pairs"). A pair vocabulary is conditional: its rows hold a given source before the target a model writes,
// in the layout of data.pair_layout (data/pair_rows.hpp), which its templates follow. How rows decode, how templates and sample lines encode, and what a run records:
// apps/text_corpus.hpp's header.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/text_corpus.hpp"
#include "data/pair_rows.hpp"
#include "data/words.hpp"

namespace diffuse {

class WordVocabulary : public TextVocabulary {
 public:
  // pair_layout: a pair vocabulary's rows; none for verses (not conditional).
  WordVocabulary(data::Vocabulary words, std::string dataset, std::optional<data::PairLayout> pair_layout);
  const data::Vocabulary& words() const { return words_; }

  std::string dataset() const override { return dataset_; }
  bool conditional() const override { return pair_layout_.has_value(); }
  int64_t size() const override { return words_.size(); }
  std::string unit() const override { return "token"; }
  std::string units() const override { return "tokens"; }
  std::string mask_shown() const override;
  std::string decode(const Tensor& row) const override;
  std::vector<int32_t> row_start() const override { return {data::kBosId}; }
  std::vector<int32_t> row_end() const override { return {data::kEosId}; }
  // Verses: <bos> then the template's tokens, '_' free. Pairs: "SOURCE <eos>", given through its <eos> (and,
  // in halves, the first half's pads), the rest free; a source that does not end with <eos> or does not fit in
  // the first half is refused.
  Tensor parse_template(const std::string& text, int64_t length) const override;
  std::vector<int32_t> encode_line(const std::string& line, const TextLocation& at) const override;
  double unigram_entropy_bits(const std::vector<std::string>& lines) const override;
  std::string identity() const override;
  void write_run_files(const std::filesystem::path& dir) const override;
  void require_same(const TextVocabulary& other, const std::string& this_name, const std::string& other_name) const override;

  // The tokens of the vocabulary file, one a line: what data.vocabulary records with spaces for newlines.
  std::string file_text() const;

 private:
  // A space-separated piece: a special token as spelled, or the corpus's tokens of it, each in the
  // vocabulary (else std::invalid_argument prefixed with `where`).
  std::vector<int32_t> encode_piece(const std::string& piece, const std::string& where, const std::string& hint) const;

  data::Vocabulary words_;
  std::string dataset_;
  std::optional<data::PairLayout> pair_layout_;
};

// data.vocabulary: the tokens in id order separated by single spaces.
std::string joined_tokens(const data::Vocabulary& v);
// The vocabulary a configuration's data section records (data.vocabulary); throws naming `where`.
data::Vocabulary vocabulary_from_config(const nlohmann::json& data_section, const std::string& where);

}  // namespace diffuse
