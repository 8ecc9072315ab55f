#include "apps/text_corpus.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "apps/pair_corpus.hpp"
#include "apps/word_vocabulary.hpp"
#include "data/file_io.hpp"
#include "data/verses.hpp"
#include "data/words.hpp"
#include "metrics/text_metrics.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;
using data::Text8Split;
using data::with_commas;

// ---- characters ------------------------------------------------------------------------------------

class CharacterVocabulary : public TextVocabulary {
 public:
  std::string dataset() const override { return "text8"; }
  int64_t size() const override { return data::kText8Vocab; }
  std::string unit() const override { return "char"; }
  std::string units() const override { return "characters"; }
  std::string mask_shown() const override { return {'\'', data::kText8MaskChar, '\''}; }
  std::string decode(const Tensor& row) const override { return data::decode_text8(row); }
  std::vector<int32_t> row_start() const override { return {}; }
  std::vector<int32_t> row_end() const override { return {}; }

  Tensor parse_template(const std::string& text, int64_t length) const override {
    if (static_cast<int64_t>(text.size()) > length)
      throw std::invalid_argument("--template: " + std::to_string(text.size()) + " characters, but the model writes " +
                                  std::to_string(length));
    std::vector<int32_t> ids(static_cast<size_t>(length), -1);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == data::kText8MaskChar) continue;
      const int32_t id = data::text8_id(text[i]);
      if (id < 0)
        throw std::invalid_argument("--template: the character '" + std::string(1, text[i]) + "' at offset " + std::to_string(i) +
                                    " is not in the alphabet (a-z, space; '_' marks a position to generate)");
      ids[i] = id;
    }
    return Tensor::from_vector(ids, {length});
  }

  std::vector<int32_t> encode_line(const std::string& line, const TextLocation& at) const override {
    std::vector<int32_t> ids(line.size());
    for (size_t i = 0; i < line.size(); ++i) {
      ids[i] = data::text8_id(line[i]);
      if (ids[i] >= 0) continue;
      const unsigned char c = static_cast<unsigned char>(line[i]);
      char shown[32];
      std::snprintf(shown, sizeof shown, c >= 32 && c < 127 ? "'%c'" : "byte 0x%02x", c);
      throw std::invalid_argument(at.file + ": " + shown + " at offset " + std::to_string(at.offset + static_cast<int64_t>(i)) +
                                  (at.line > 0 ? " (line " + std::to_string(at.line) + ", column " + std::to_string(i + 1) + ")" : "") +
                                  " is outside the alphabet (a-z and space)");
    }
    return ids;
  }

  double unigram_entropy_bits(const std::vector<std::string>& lines) const override {
    return metrics::unigram_entropy_bits(std::vector<std::string_view>(lines.begin(), lines.end()));
  }

  std::string identity() const override {
    std::string chars;
    for (int32_t id = 0; id < data::kText8Vocab; ++id) chars += data::text8_char(id);
    return "characters '" + chars + "'";
  }
  void write_run_files(const fs::path&) const override {}
  void require_same(const TextVocabulary& other, const std::string& this_name, const std::string& other_name) const override {
    if (other.identity() != identity())
      throw std::invalid_argument(this_name + " is the " + identity() + ", " + other_name + " is " + other.identity());
  }
};

class WindowRows : public TextRowSampler {
 public:
  WindowRows(std::shared_ptr<const data::Text8Corpus> text, int64_t length, uint64_t seed)
      : text_(text), windows_(std::move(text), Text8Split::Train, length, seed) {}
  TextRows next(int64_t batch) override { return {windows_.next(batch), Tensor()}; }
  std::string state() const override { return json(windows_.state().to_strings()).dump(); }
  void restore(const std::string& state) override {
    windows_.restore(data::Text8SamplerState::from_strings(json::parse(state)));
  }
  std::string summary() const override {
    return std::to_string(text_->ranges.train.size()) + " training characters of " + text_->source;
  }

 private:
  std::shared_ptr<const data::Text8Corpus> text_;
  data::Text8WindowSampler windows_;
};

class CharacterCorpus : public TextCorpus {
 public:
  explicit CharacterCorpus(std::shared_ptr<const data::Text8Corpus> text) : text_(std::move(text)) {}
  std::shared_ptr<const TextVocabulary> vocabulary() const override { return character_vocabulary(); }
  const std::string& source() const override { return text_->source; }
  std::string item_noun() const override { return "chunks"; }
  std::unique_ptr<TextRowSampler> training_rows(int64_t length, uint64_t seed) const override {
    return std::make_unique<WindowRows>(text_, length, seed);
  }
  int64_t available_items(Text8Split split, int64_t length) const override {
    return data::text8_num_chunks(static_cast<int64_t>(text_->split(split).size()), length);
  }
  TextItems items(Text8Split split, int64_t count, int64_t length, data::LongSequences) const override {
    TextItems r;
    r.rows = data::text8_chunks(text_->split(split), length, count > 0 ? count : -1);
    r.noun = item_noun();
    r.units.assign(static_cast<size_t>(r.count()), length);
    return r;
  }
  double unigram_entropy_bits(Text8Split split) const override { return metrics::unigram_entropy_bits({text_->split(split)}); }
  void record(json&) const override {}

 private:
  std::shared_ptr<const data::Text8Corpus> text_;
};

// ---- verses of words ----------------------------------------------------------------------------------

class VerseRows : public TextRowSampler {
 public:
  VerseRows(std::shared_ptr<const data::TokenSequences> rows, uint64_t seed, std::string summary)
      : rows_(std::move(rows), seed), summary_(std::move(summary)) {}
  TextRows next(int64_t batch) override { return {rows_.next(batch), Tensor()}; }
  std::string state() const override { return json(rows_.state().to_strings()).dump(); }
  void restore(const std::string& state) override { rows_.restore(data::SequenceSamplerState::from_strings(json::parse(state))); }
  std::string summary() const override { return summary_; }

 private:
  data::SequenceSampler rows_;
  std::string summary_;
};

class VerseCorpus : public TextCorpus {
 public:
  VerseCorpus(const data::VerseFile& file, int64_t min_count) : source_(file.path), min_count_(min_count) {
    std::array<std::vector<data::Verse>, 3> verses;
    const data::BookSplit books;
    for (const data::Verse& v : file.verses) verses[index(books.of(v.book))].push_back(v);
    for (size_t s = 0; s < 3; ++s) {
      splits_[s] = data::tokenize_verses(verses[s], file.path);
      for (const data::Verse& v : verses[s]) {
        books_[s].push_back(v.book);
        names_[s].push_back(v.reference());
      }
    }
    vocabulary_ = std::make_shared<const WordVocabulary>(
        data::Vocabulary::build(data::count_tokens(verses_of(Text8Split::Train)), min_count), "verses", std::nullopt);
  }

  std::shared_ptr<const TextVocabulary> vocabulary() const override { return vocabulary_; }
  const std::string& source() const override { return source_; }
  std::string item_noun() const override { return "verses"; }

  std::unique_ptr<TextRowSampler> training_rows(int64_t length, uint64_t seed) const override {
    data::EncodedSequences encoded = data::encode_sequences(verses_of(Text8Split::Train), vocabulary_->words(),
                                                            {.length = length}, data::LongSequences::DropAndCount);
    const std::string summary = "the training books of " + source_ + ": " + encoded.summary() + "; a vocabulary of " +
                                with_commas(vocabulary_->size()) + " tokens (data.min_count " + std::to_string(min_count_) + ")";
    return std::make_unique<VerseRows>(std::make_shared<const data::TokenSequences>(std::move(encoded.sequences)), seed, summary);
  }

  int64_t available_items(Text8Split split, int64_t) const override {
    return static_cast<int64_t>(splits_[index(split)].size());
  }

  TextItems items(Text8Split split, int64_t count, int64_t length, data::LongSequences long_rows) const override {
    const std::vector<data::TokenizedText>& all = verses_of(split);
    const int64_t n = count > 0 ? std::min(count, static_cast<int64_t>(all.size())) : static_cast<int64_t>(all.size());
    const std::vector<data::TokenizedText> chosen(all.begin(), all.begin() + n);
    const data::SequenceOptions rows{.length = length};
    for (size_t i = 0; i < chosen.size(); ++i) {
      const int64_t tokens = static_cast<int64_t>(chosen[i].tokens.size());
      if (tokens <= rows.max_tokens() || long_rows == data::LongSequences::DropAndCount) continue;
      size_t longest = 0;
      for (const data::TokenizedText& t : all) longest = std::max(longest, t.tokens.size());
      throw std::runtime_error(chosen[i].where + ": " + std::to_string(tokens) + " tokens, longer than the maximum of " +
                               std::to_string(rows.max_tokens()) + " (rows of " + std::to_string(length) +
                               " with <bos> and <eos>); a verse is never cut. The first " + std::to_string(i) + " verses of the " +
                               data::split_name(split) + " split fit; all of them need rows of " + std::to_string(longest + 2) +
                               " (model.seq_len)");
    }
    const data::EncodedSequences encoded = data::encode_sequences(chosen, vocabulary_->words(), rows, long_rows);
    TextItems r;
    r.rows = encoded.sequences.ids;
    r.noun = item_noun();
    r.dropped = encoded.too_long;
    r.tokens = encoded.tokens;
    r.unknown = encoded.unknown;
    for (const int64_t positions : encoded.sequences.lengths) r.units.push_back(positions - 1);  // <bos> not counted
    for (const int64_t i : encoded.items) {
      r.books.push_back(books_[index(split)][static_cast<size_t>(i)]);
      r.names.push_back(names_[index(split)][static_cast<size_t>(i)]);
    }
    return r;
  }

  double unigram_entropy_bits(Text8Split split) const override {
    std::vector<std::vector<int32_t>> ids;
    for (const data::TokenizedText& t : verses_of(split)) ids.push_back(vocabulary_->words().encode(t.tokens));
    return metrics::id_entropy_bits(ids);
  }

  void record(json& data_section) const override {
    data_section["min_count"] = min_count_;
    data_section["vocabulary"] = joined_tokens(vocabulary_->words());
  }

 private:
  static size_t index(Text8Split split) { return static_cast<size_t>(split); }
  // The split's tokenized verses; throws naming the file and the books when it has none.
  const std::vector<data::TokenizedText>& verses_of(Text8Split split) const {
    const std::vector<data::TokenizedText>& v = splits_[index(split)];
    if (v.empty()) {
      const data::BookSplit books;
      std::string names;
      for (const std::string& b : split == Text8Split::Valid ? books.valid : books.test) names += (names.empty() ? "" : ", ") + b;
      data::file_error(source_, std::string("no verse in the ") + data::split_name(split) + " split" +
                                    (split == Text8Split::Train ? " (every book but the held-out ones)" : " (books " + names + ")"));
    }
    return v;
  }

  std::string source_;
  int64_t min_count_;
  std::array<std::vector<data::TokenizedText>, 3> splits_;  // train, valid, test (Text8Split order)
  std::array<std::vector<std::string>, 3> books_;            // the book of each of splits_' verses
  std::array<std::vector<std::string>, 3> names_;            // and its reference
  std::shared_ptr<const WordVocabulary> vocabulary_;
};

// ---- --data: the kinds of corpus, one table --------------------------------------------------------

// What --data holds: its text, read once, and the file it came from.
struct DataFile {
  std::string path;
  std::string text;
  std::string first_line() const { return text.substr(0, text.find('\n')); }
};

DataFile read_data_file(const std::string& path) {
  if (path.empty())
    throw std::invalid_argument("--data: a text8-format file, a directory holding `text8`, a verse file or a pair file is required");
  DataFile f;
  f.path = path;
  if (fs::is_directory(path)) {
    f.path = (fs::path(path) / "text8").string();
    if (!fs::exists(f.path)) throw std::invalid_argument("--data: " + path + " is a directory without a file named text8");
  } else if (!fs::exists(path)) {
    throw std::invalid_argument("--data: " + path + " does not exist");
  }
  const std::vector<uint8_t> bytes = data::read_file_bytes(f.path, "text file");
  f.text.assign(bytes.begin(), bytes.end());
  return f;
}

std::shared_ptr<const data::Text8Corpus> text8_of(DataFile f) {
  try {
    return std::make_shared<const data::Text8Corpus>(data::make_text8_corpus(std::move(f.text), f.path));
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument("--data: " + f.path + " is neither a verse file (its first line is not 'Book C:V<TAB>text'), a pair "
                                "file ('Book C:V<TAB>source<TAB>target') nor a text8-format file: " + e.what());
  }
}

std::shared_ptr<const TextVocabulary> word_vocabulary_of(const json& config, const std::string& where, const std::string& dataset,
                                                         std::optional<data::PairLayout> pair_layout) {
  if (!config.at("data").contains("vocabulary")) return nullptr;
  return std::make_shared<const WordVocabulary>(vocabulary_from_config(config.at("data"), where), dataset, pair_layout);
}

// One kind of corpus: its data.dataset, how a file of it is recognised and named, what a message suggests
// instead, its vocabulary as a configuration records it (null before the run records one), and its corpus.
struct CorpusKind {
  const char* dataset;
  const char* file_kind;  // "a verse file (words)"
  const char* give;       // what to give when a configuration names this kind and --data is another
  const char* train;      // what to train when --data is this kind and the configuration names another
  bool words;             // a word vocabulary, built from the training books at data.min_count
  bool (*recognises)(std::string_view first_line);
  std::shared_ptr<const TextVocabulary> (*recorded_vocabulary)(const json& config, const std::string& where);
  std::shared_ptr<const TextCorpus> (*load)(DataFile file, const json& config);  // what it needs of the configuration's data
};

int64_t min_count_of(const json& config);

// The table: the first kind whose `recognises` accepts a file's first line is its kind (text8 takes the rest).
const CorpusKind kCorpusKinds[] = {
    {"pairs", "a pair file (aligned source and target)",
     "give a pair file (scripts/export_bible.sh pairs KJV WEB kjv_web.tsv)",
     "train a preset for pairs (diffuseq-kjv-web-demo, mdlm-kjv-web-demo, ar-kjv-web-demo)", true, data::is_pair_line,
     [](const json& config, const std::string& where) { return word_vocabulary_of(config, where, "pairs", pair_layout_of(config)); },
     [](DataFile f, const json& config) {
       return make_pair_corpus(data::parse_pairs(f.text, f.path), min_count_of(config), pair_layout_of(config));
     }},
    {"verses", "a verse file (words)", "give a verse file (scripts/export_bible.sh verses WEB web.tsv)",
     "train a preset for verses (mdlm-bible-demo, ar-bible-demo)", true, data::is_verse_line,
     [](const json& config, const std::string& where) { return word_vocabulary_of(config, where, "verses", std::nullopt); },
     [](DataFile f, const json& config) -> std::shared_ptr<const TextCorpus> {
       return std::make_shared<const VerseCorpus>(data::parse_verses(f.text, f.path), min_count_of(config));
     }},
    {"text8", "a text8-format file (characters)", "give a text8-format file", "train a text8 preset", false,
     [](std::string_view) { return true; },
     [](const json&, const std::string&) { return character_vocabulary(); },
     [](DataFile f, const json&) { return character_corpus(text8_of(std::move(f))); }},
};

const CorpusKind& kind_of_file(const DataFile& f) {
  for (const CorpusKind& kind : kCorpusKinds)
    if (kind.recognises(f.first_line())) return kind;
  return kCorpusKinds[std::size(kCorpusKinds) - 1];
}

const CorpusKind& kind_of_config(const json& config) {
  const std::string dataset = config.contains("data") ? config.at("data").value("dataset", "text8") : "text8";
  std::string known;
  for (const CorpusKind& kind : kCorpusKinds) {
    if (dataset == kind.dataset) return kind;
    known += (known.empty() ? "'" : ", '") + std::string(kind.dataset) + "': " + kind.file_kind;
  }
  throw std::invalid_argument("data.dataset: '" + dataset + "' is not a text dataset (" + known + ")");
}

int64_t min_count_of(const json& config) {
  const int64_t k = config.contains("data") ? config.at("data").value("min_count", data::kDefaultMinCount) : data::kDefaultMinCount;
  if (k < 1) throw std::invalid_argument("data.min_count: " + std::to_string(k) + "; a word must be seen at least once (>= 1)");
  return k;
}

// Throws unless model.in_states (and model.out_states), when set, are what `states` says of V.
void check_states(const json& config, const TextVocabulary& v, const std::string& where, const std::string& vocabulary_name,
                  const TextStates& states) {
  if (!text_states_known(config, states)) return;
  const json& model = config.at("model");
  const int64_t in = model.at("in_states").get<int64_t>();
  const int64_t out = states.outputs_are_ids ? model.at("out_states").get<int64_t>() : v.size();
  if (in == v.size() + states.extra_input_ids && out == v.size()) return;
  throw std::invalid_argument("model.in_states" + std::string(states.outputs_are_ids ? " / model.out_states: " + std::to_string(in) + " / " + std::to_string(out)
                                                                                     : ": " + std::to_string(in)) +
                              " in " + where + ", but " + vocabulary_name + " has " + with_commas(v.size()) + " " + v.units() + ": " +
                              states.what);
}

// The vocabulary a configuration records: the characters, a word configuration's data.vocabulary, or null
// for a word configuration whose run has not started.
std::shared_ptr<const TextVocabulary> recorded_vocabulary(const json& config, const std::string& where) {
  return kind_of_config(config).recorded_vocabulary(config, where);
}

}  // namespace

std::vector<std::string> TextVocabulary::decode_rows(const Tensor& ids) const {
  std::vector<std::string> out;
  for (int64_t i = 0; i < ids.size(0); ++i) out.push_back(decode(ids.narrow(0, i, 1)));
  return out;
}

double TextItems::mean_to_bits() const {
  if (std::all_of(units.begin(), units.end(), [&](int64_t u) { return u == units.front(); })) return to_bits(0);
  double sum = 0;
  for (int64_t i = 0; i < count(); ++i) sum += to_bits(i);
  return sum / static_cast<double>(count());
}

TextItems TextItems::first(int64_t n) const {
  n = std::min(n, count());  // a held-out set may hold fewer: its long verses were left out
  TextItems r;
  r.rows = rows.slice(0, 0, n);
  r.given = given.defined() ? given.slice(0, 0, n) : Tensor();
  r.units.assign(units.begin(), units.begin() + n);
  r.noun = noun;
  const auto head = [n](const std::vector<std::string>& v) {
    return v.empty() ? v : std::vector<std::string>(v.begin(), v.begin() + n);
  };
  r.books = head(books);
  r.names = head(names);
  r.sources = head(sources);
  r.references = head(references);
  return r;
}

bool text_states_known(const json& config, const TextStates& states) {
  const json& model = config.at("model");
  return model.contains("in_states") && (!states.outputs_are_ids || model.contains("out_states"));
}

json with_placeholder_states(json config, const TextStates& states) {
  config.at("model")["in_states"] = data::kNumSpecialTokens + states.extra_input_ids;
  if (states.outputs_are_ids) config.at("model")["out_states"] = data::kNumSpecialTokens;
  return config;
}

std::shared_ptr<const TextVocabulary> character_vocabulary() {
  static const auto characters = std::make_shared<const CharacterVocabulary>();
  return characters;
}

std::shared_ptr<const TextCorpus> character_corpus(std::shared_ptr<const data::Text8Corpus> text) {
  return std::make_shared<const CharacterCorpus>(std::move(text));
}

std::shared_ptr<const data::Text8Corpus> load_text8_data(const std::string& path, const std::string& words_refused) {
  DataFile f = read_data_file(path);
  const CorpusKind& kind = kind_of_file(f);
  if (kind.words) throw std::invalid_argument("--data: " + f.path + " is " + kind.file_kind + "; " + words_refused);
  return text8_of(std::move(f));
}

std::shared_ptr<const TextCorpus> load_text_corpus(const std::string& path, const json& config, const std::string& recorded_by,
                                                   const TextStates& states) {
  const CorpusKind& wanted = kind_of_config(config);
  DataFile f = read_data_file(path);
  const std::string file = f.path;
  const CorpusKind& found = kind_of_file(f);
  // Loaded before the kinds are compared, so that a file of no kind at all is named as such.
  const std::shared_ptr<const TextCorpus> corpus = found.load(std::move(f), config);
  if (&found != &wanted)
    throw std::invalid_argument("--data: " + file + " is " + found.file_kind + ", but " + recorded_by + " has data.dataset '" +
                                wanted.dataset + "': " + wanted.give + ", or " + found.train);
  // A network whose halves share positions (model.half_positions) reads the rows of a pair file in halves.
  if (config.contains("model") && config.at("model").value("half_positions", false) &&
      (std::string(found.dataset) != "pairs" || pair_layout_of(config) != data::PairLayout::Halves))
    throw std::invalid_argument("model.half_positions: the network's two halves share their positions, for pair rows in "
                                "data.pair_layout halves; " + recorded_by + " has data.dataset '" + wanted.dataset + "'" +
                                (std::string(found.dataset) == "pairs" ? " in the packed layout" : ""));
  const std::string built = "the vocabulary of " + corpus->source() +
                            (found.words ? " (its training books at data.min_count " + std::to_string(min_count_of(config)) + ")" : "");
  if (const auto recorded = recorded_vocabulary(config, recorded_by))
    corpus->vocabulary()->require_same(*recorded, built, "the one " + recorded_by + " records (data.vocabulary)");
  check_states(config, *corpus->vocabulary(), recorded_by, built, states);
  return corpus;
}

void record_text_corpus(json& config, const TextCorpus& corpus, const TextStates& states) {
  corpus.record(config["data"]);
  json& model = config.at("model");
  if (!text_states_known(config, states)) {
    model["in_states"] = corpus.vocabulary()->size() + states.extra_input_ids;
    if (states.outputs_are_ids) model["out_states"] = corpus.vocabulary()->size();
  }
}

std::shared_ptr<const TextVocabulary> text_vocabulary(const json& config, const std::string& where, const TextStates& states) {
  const std::shared_ptr<const TextVocabulary> v = recorded_vocabulary(config, where);
  if (!v)
    throw std::invalid_argument(where + ": data.vocabulary is missing: a word configuration records its vocabulary when its "
                                "run starts");
  check_states(config, *v, where, "its vocabulary", states);
  return v;
}

}  // namespace diffuse
