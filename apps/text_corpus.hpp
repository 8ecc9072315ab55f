// The corpus of the text families (masked-text, ar-text, diffusion-lm, d3pm-text, text-classifier): one
// interface over three kinds of data, so that a family never asks which one it has. Each kind is one entry
// of the table kCorpusKinds in text_corpus.cpp (its data.dataset, how its files are recognised, its
// vocabulary, its corpus).
//
//   characters  a text8-format file (data/text8.hpp): 27 ids, 'a'..'z' -> 0..25, ' ' -> 26.
//               The configuration's data.dataset is "text8".
//   words       a verse file (data/verses.hpp: "Book C:V<TAB>text" lines): the ids of a word vocabulary
//               (data/words.hpp: <pad> 0, <unk> 1, <bos> 2, <eos> 3, then the words of the training books
//               seen at least data.min_count times, default 5; apps/word_vocabulary.hpp). data.dataset is
//               "verses".
//   pairs       a pair file ("Book C:V<TAB>source<TAB>target" lines, scripts/export_bible.sh pairs KJV WEB):
//               one word vocabulary built from both sides of the training books, and rows that give the
//               source and leave the target to the model (apps/pair_corpus.hpp, data/pair_rows.hpp).
//               data.dataset is "pairs".
//
// --data. A directory is read as the text8 file inside it (`text8`). A file whose first line is a pair line
// (a reference and two tab-separated texts) is a pair file; one whose first line is a verse line is a verse
// file; any other file must be text8-clean (only 'a'..'z' and ' '). Either kind must be the one the
// configuration's data.dataset names; anything else is refused, naming the file.
//
// Ids. V is the vocabulary's size (27, or the word vocabulary's). Id V lies outside the data: it is the
// absorbing mask of masked diffusion and the start id the autoregressive model reads before a row's first
// position. So a masked or autoregressive model reads V + 1 ids (model.in_states) and writes V logits
// (model.out_states). (D3PM gives its mask a logit too: 28 and 28, characters only.)
//
// Rows: int32 [N, L] with L = model.seq_len.
//   characters  training: random windows of L characters of the training split (data::Text8WindowSampler);
//               its state is the checkpoint's "data.position", the JSON of data::Text8SamplerState's strings.
//               evaluation: the canonical chunks [iL, (i+1)L) of a split.
//   words       one verse a row, [<bos>, its tokens, <eos>, <pad> ...] (data::encode_sequences).
//               training: the rows of the training books, drawn uniformly with replacement
//               (data::SequenceSampler); a verse of more than L - 2 tokens is dropped and counted (the
//               training summary says how many). Its state is "data.position", the JSON of
//               data::SequenceSamplerState's strings.
//               evaluation: the rows of a split's books in file order; a verse of more than L - 2 tokens is
//               refused with its file, line and reference, never cut and never skipped.
//   pairs       one pair a row, [<bos>, source, <eos>, target, <eos>, <pad> ...] or with the target from L / 2
//               (data.pair_layout; data::encode_pairs), each side at most 62 tokens of 128; drawn and evaluated as verses are (a longer side: dropped and
//               counted in training, refused in evaluation).
//
// The given mask. A conditional corpus (pairs) hands out, beside its rows, `given`: int32 [N, L], 1 at the
// positions a model is given (<bos>, the source and its <eos>) and 0 at those it writes. Unconditional
// corpora leave it undefined. A family that honours it never noises or masks the given positions, puts its
// loss and its bound on the others only, and keeps them fixed when it samples: each family does so
// without asking which corpus it has (docs/math.md §9).
//
// Bits per unit. The models score every position of a row that is not given, pads included. A row's bits are
// divided by its units: a chunk's L characters (bits/char), a verse's text tokens plus one for <eos>, or a
// pair's target tokens plus one for its <eos> (bits/token: <bos>, which opens every row, the given source and
// the pads after <eos> are not counted; a trained model predicts the pads at almost no cost). The reported
// figure is the mean over rows of each row's bits per unit, with its standard error. JSON and
// metrics.jsonl name it "bits_per_char" or "bits_per_token" (TextVocabulary::figure).
//
// A run's vocabulary. Words: built from the training books' token counts (both sides of pairs) with
// data.min_count, and recorded in the configuration as data.vocabulary, every token in id order separated by
// single spaces (the four special tokens first; no token holds white space). So every checkpoint holds it in
// its "config" metadata, and `sample` and `evaluate --samples` need no --data. The run folder also gets it as
// vocabulary.txt (data::save_vocabulary's format). A run resumed, or a checkpoint evaluated, on a corpus whose
// rebuilt vocabulary differs is refused, naming both sizes and the first token where they differ.
// Characters: the vocabulary is fixed and recorded nowhere (as before words existed).
//
// Text. decode: characters one byte an id, the mask as '_'; words the tokens joined by single spaces, the
// mask as "[MASK]", the row's frame left out (a <bos> at its start; at its end the <pad>s and the <eos>
// before them) and any other special token a sampler wrote shown as spelled ("<pad>"; a pair row reads
// "source <eos> target"). --template: characters as they are, '_' a position to
// generate; words separated by spaces, each piece tokenized as the corpus is (lower case, punctuation apart:
// "God," is "god" ","), a lone "_" a position to generate, a special token such as <eos> spelled as it is;
// the template starts after <bos>, and positions past its end are generated (a pair model's source is the
// template "SOURCE <eos>"). A word outside the vocabulary
// is refused, naming it. A samples file's .json records the vocabulary as "characters 'abc...z '" or as
// "words: V tokens, FNV-1a 64 <16 hex digits>" (the hash of vocabulary.txt's bytes).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>
#include <vector>

#include "data/text8.hpp"
#include "data/words.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {

// Where a line of a text file lies, for messages about it.
struct TextLocation {
  std::string file;
  int64_t line = 0;    // 1-based; 0: not a line of a file (a flag's value)
  int64_t offset = 0;  // the byte offset of the line's start in the file
};

// What a text model's ids mean: the characters, or a word vocabulary.
class TextVocabulary {
 public:
  virtual ~TextVocabulary() = default;
  virtual std::string dataset() const = 0;  // data.dataset: "text8", "verses", "pairs"
  // Whether a row holds a given source before the target a model writes (pairs): its models generate given a
  // source, and `sample` needs one (--template "SOURCE <eos>").
  virtual bool conditional() const { return false; }
  virtual int64_t size() const = 0;         // V
  int32_t mask_id() const { return static_cast<int32_t>(size()); }  // also the autoregressive start id
  virtual std::string unit() const = 0;   // "char", "token"
  virtual std::string units() const = 0;  // "characters", "tokens"
  std::string figure() const { return "bits_per_" + unit(); }
  virtual std::string mask_shown() const = 0;  // how decode shows the mask: "'_'", "[MASK]"

  // A row of int32 ids (any shape, read row-major) as text. Throws on an id outside 0..V.
  virtual std::string decode(const Tensor& row) const = 0;
  std::vector<std::string> decode_rows(const Tensor& ids) const;  // ids int32 [B, L]
  // The ids every row opens with and the ids that close a text ({} and {}, or {<bos>} and {<eos>}).
  virtual std::vector<int32_t> row_start() const = 0;
  virtual std::vector<int32_t> row_end() const = 0;
  // --template as int32 [length], -1 where the sampler generates; throws naming --template.
  virtual Tensor parse_template(const std::string& text, int64_t length) const = 0;
  // The ids of one line of a samples file (its text only: no row_start, no row_end). Throws naming `at`
  // and what is not in the vocabulary.
  virtual std::vector<int32_t> encode_line(const std::string& line, const TextLocation& at) const = 0;
  // The unigram entropy of sample lines (bytes of characters; token ids of words), bits.
  virtual double unigram_entropy_bits(const std::vector<std::string>& lines) const = 0;
  // What a samples file's .json records as its "vocabulary" (see the header comment).
  virtual std::string identity() const = 0;
  // The files a run folder keeps beside config.json (words: vocabulary.txt; characters: none).
  virtual void write_run_files(const std::filesystem::path& dir) const = 0;
  // Throws std::invalid_argument unless `other` is the same vocabulary: "<this_name> has 5,940 tokens,
  // <other_name> 5,019; they first differ at id I: 'a' and 'b'" (or which kinds they are).
  virtual void require_same(const TextVocabulary& other, const std::string& this_name, const std::string& other_name) const = 0;
};

// Rows of a corpus to score, and the units each row's bits are divided by.
struct TextItems {
  Tensor rows;                 // int32 [N, L]
  Tensor given;                // int32 [N, L]: 1 at the given positions (pairs); undefined for unconditional corpora
  std::vector<int64_t> units;  // per row: L (characters), its text tokens + 1 for <eos> (verses), its target's (pairs)
  std::string noun;            // "chunks", "verses", "pairs"
  std::vector<std::string> books;  // words: per row, the verse's book (the classifiers' labels); characters: empty
  std::vector<std::string> names;  // words: per row, the verse's reference "Book C:V"; characters: empty
  // pairs: per row, the source and the target as tokenized text (the tokens joined by single spaces, words
  // outside the vocabulary as written, not <unk>): what a hypothesis is scored against, and the copy-the-source
  // baseline. Empty for unconditional corpora.
  std::vector<std::string> sources, references;
  int64_t dropped = 0;             // verses or pairs longer than the rows, dropped (LongSequences::DropAndCount)
  int64_t tokens = 0, unknown = 0;  // words: the text tokens of the rows, and how many of them became <unk>
  int64_t count() const { return rows.defined() ? rows.size(0) : 0; }
  // 1 / (units ln 2): nats of row i -> bits per unit.
  double to_bits(int64_t i) const { return 1.0 / (static_cast<double>(units[static_cast<size_t>(i)]) * std::numbers::ln2); }
  // The mean of to_bits over the rows: exactly to_bits(0) when every row has the same units (chunks).
  double mean_to_bits() const;
  TextItems first(int64_t n) const;  // rows [0, min(n, count()))
};

// A batch of training rows.
struct TextRows {
  Tensor rows;   // int32 [B, L]
  Tensor given;  // int32 [B, L]: 1 at the given positions (pairs); undefined for unconditional corpora
};

// The training rows' draw, resumable.
class TextRowSampler {
 public:
  virtual ~TextRowSampler() = default;
  virtual TextRows next(int64_t batch) = 0;
  virtual std::string state() const = 0;   // the checkpoint's "data.position"
  virtual void restore(const std::string& state) = 0;
  virtual std::string summary() const = 0;  // the training log's description of the data
};

class TextCorpus {
 public:
  virtual ~TextCorpus() = default;
  virtual std::shared_ptr<const TextVocabulary> vocabulary() const = 0;
  virtual const std::string& source() const = 0;  // the file
  virtual std::string item_noun() const = 0;      // "chunks", "verses", "pairs"
  virtual std::unique_ptr<TextRowSampler> training_rows(int64_t length, uint64_t seed) const = 0;
  // How many evaluation items the split holds for rows of `length`, and the first `count` of them (0: all;
  // at most available_items).
  virtual int64_t available_items(data::Text8Split split, int64_t length) const = 0;
  // Words: a verse or pair longer than the rows is refused (naming it), or with DropAndCount left out and
  // counted.
  virtual TextItems items(data::Text8Split split, int64_t count, int64_t length,
                          data::LongSequences long_rows = data::LongSequences::Refuse) const = 0;
  // The unigram entropy of the split's text (bytes; or token ids, unknown words as <unk>), bits.
  virtual double unigram_entropy_bits(data::Text8Split split) const = 0;
  // What a run's configuration records about the corpus in its "data" section (words: data.min_count and
  // data.vocabulary; characters: nothing).
  virtual void record(nlohmann::json& data_section) const = 0;
};

// How a family's network is sized by its vocabulary of V ids: model.in_states = V + extra_input_ids, and
// model.out_states = V when outputs_are_ids (otherwise the family's own, such as Diffusion-LM's embedding
// dimension or a classifier's classes, and not checked here).
struct TextStates {
  int64_t extra_input_ids = 1;  // masked diffusion's mask, the autoregressive start id: id V
  bool outputs_are_ids = true;
  std::string what = "a masked or autoregressive text model reads V + 1 ids (the mask or start id is V) and writes V logits";
};
inline const TextStates kMaskOrStartStates{};
inline const TextStates kEmbeddingRowStates{0, false, "Diffusion-LM's embedding has one row per id (V rows)"};
inline const TextStates kClassifierStates{0, false, "a verse classifier reads the V ids"};

// The corpus at --data for a run or a checkpoint with configuration `config` (see the header comment). When
// the configuration already records its vocabulary (a resumed run, a checkpoint), the corpus's must be the
// same: refused otherwise, naming `recorded_by` (the checkpoint, or the run's configuration).
std::shared_ptr<const TextCorpus> load_text_corpus(const std::string& path, const nlohmann::json& config,
                                                   const std::string& recorded_by, const TextStates& states = kMaskOrStartStates);
// A new run's configuration completed from its corpus: data.min_count (words, when absent), data.vocabulary,
// and model.in_states (and model.out_states, when the outputs are ids) when the preset leaves them out;
// present ones must be those (checked by load_text_corpus).
void record_text_corpus(nlohmann::json& config, const TextCorpus& corpus, const TextStates& states = kMaskOrStartStates);

// A run's vocabulary from its configuration (data.dataset, data.vocabulary), checked against model.in_states
// and model.out_states. Throws naming `where` (the checkpoint) and the key.
std::shared_ptr<const TextVocabulary> text_vocabulary(const nlohmann::json& config, const std::string& where,
                                                      const TextStates& states = kMaskOrStartStates);
// Whether the configuration's model.in_states (and model.out_states) are set (a word preset leaves them to
// the corpus).
bool text_states_known(const nlohmann::json& config, const TextStates& states = kMaskOrStartStates);
// `config` with the states of a vocabulary of the four special tokens alone: for checking the rest of a word
// preset's network before its run knows the vocabulary.
nlohmann::json with_placeholder_states(nlohmann::json config, const TextStates& states = kMaskOrStartStates);

// The characters of a text8-format file at --data (or in a directory holding `text8`), for a family that
// reads characters only; a verse file is refused with `words_refused` (why, and what to use instead).
std::shared_ptr<const data::Text8Corpus> load_text8_data(const std::string& path, const std::string& words_refused);
std::shared_ptr<const TextCorpus> character_corpus(std::shared_ptr<const data::Text8Corpus> text);
std::shared_ptr<const TextVocabulary> character_vocabulary();

}  // namespace diffuse
