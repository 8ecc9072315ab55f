#include "apps/word_vocabulary.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "data/file_io.hpp"
#include "metrics/text_metrics.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
using data::with_commas;

constexpr const char* kMaskShown = "[MASK]";  // how a word row shows the mask

// FNV-1a, 64 bits, as 16 hex digits: the fingerprint of a vocabulary file in a samples file's .json.
std::string fnv1a_64(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

// The pieces of `text` between spaces (no empty ones).
std::vector<std::string> space_separated(const std::string& text) {
  std::vector<std::string> pieces;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) pieces.push_back(text.substr(start, i - start));
  }
  return pieces;
}

bool is_special_token(const std::string& piece) {
  for (const char* special : data::kSpecialTokens)
    if (piece == special) return true;
  return false;
}

}  // namespace

WordVocabulary::WordVocabulary(data::Vocabulary words, std::string dataset, std::optional<data::PairLayout> pair_layout)
    : words_(std::move(words)), dataset_(std::move(dataset)), pair_layout_(pair_layout) {}

std::string WordVocabulary::mask_shown() const { return kMaskShown; }

// The row's frame is left out: a <bos> at its start, and at its end the <pad>s with the <eos> before them.
// Whatever a sampler wrote elsewhere is shown, special tokens as spelled ("<pad>"), the mask as [MASK]. (A
// pair row shows "source <eos> target"; in the halves layout, without the pads that fill the source's half.)
std::string WordVocabulary::decode(const Tensor& row) const {
  if (row.dtype() != DType::I32) throw std::invalid_argument("decode: expected int32 ids, got " + describe(row));
  const Tensor c = row.contiguous();
  const int32_t* ids = c.data<int32_t>();
  int64_t begin = 0, end = c.numel();
  if (end > 0 && ids[0] == data::kBosId) begin = 1;
  while (end > begin && ids[end - 1] == data::kPadId) --end;
  if (end > begin && ids[end - 1] == data::kEosId) --end;
  // Halves: the source's <eos> and the pads after it up to the target's half.
  int64_t fill_begin = end, fill_end = end;
  if (pair_layout_ == data::PairLayout::Halves) {
    fill_begin = std::find(ids + begin, ids + end, data::kEosId) - ids + 1;
    fill_end = std::max(fill_begin, std::min(end, c.numel() / 2));
  }
  std::string text;
  for (int64_t i = begin; i < end; ++i) {
    if (i >= fill_begin && i < fill_end && ids[i] == data::kPadId) continue;
    if (!text.empty()) text += ' ';
    text += ids[i] == mask_id() ? std::string(kMaskShown) : words_.token(ids[i]);  // token() refuses ids outside 0..V-1
  }
  return text;
}

Tensor WordVocabulary::parse_template(const std::string& text, int64_t length) const {
  std::vector<int32_t> given = row_start();
  for (const std::string& piece : space_separated(text)) {
    if (piece == "_") {
      given.push_back(-1);
      continue;
    }
    for (const int32_t id : encode_piece(piece, "--template: ", "; '_' marks a position to generate")) given.push_back(id);
  }
  if (static_cast<int64_t>(given.size()) > length)
    throw std::invalid_argument("--template: " + std::to_string(given.size() - row_start().size()) +
                                " tokens, but the model writes " + std::to_string(length - 1) + " after <bos>");
  if (pair_layout_ == data::PairLayout::Halves) {
    // The source's row half: [<bos> SOURCE <eos> <pad>...] given, the target's half free.
    const data::PairRowOptions rows{.length = length, .layout = *pair_layout_};
    if (given.back() != data::kEosId || std::find(given.begin(), given.end(), -1) != given.end())
      throw std::invalid_argument("--template: a pair model's template is its source, \"SOURCE <eos>\", without '_'");
    if (static_cast<int64_t>(given.size()) - 2 > rows.max_side_tokens())
      throw std::invalid_argument("--template: a source of " + std::to_string(given.size() - 2) + " tokens, longer than the maximum of " +
                                  std::to_string(rows.max_side_tokens()) + " (" + rows.describe() + ")");
    given.resize(static_cast<size_t>(length / 2), data::kPadId);
  }
  given.resize(static_cast<size_t>(length), -1);
  return Tensor::from_vector(given, {length});
}

std::vector<int32_t> WordVocabulary::encode_line(const std::string& line, const TextLocation& at) const {
  std::vector<int32_t> ids;
  for (const std::string& piece : space_separated(line))
    for (const int32_t id : encode_piece(piece, at.file + (at.line > 0 ? ": line " + std::to_string(at.line) : "") + ": ", ""))
      ids.push_back(id);
  return ids;
}

double WordVocabulary::unigram_entropy_bits(const std::vector<std::string>& lines) const {
  std::vector<std::vector<int32_t>> ids;
  for (const std::string& line : lines) ids.push_back(encode_line(line, {.file = "a sample line"}));
  return metrics::id_entropy_bits(ids);
}

std::string WordVocabulary::identity() const {
  return "words: " + std::to_string(size()) + " tokens, FNV-1a 64 " + fnv1a_64(file_text());
}

void WordVocabulary::write_run_files(const std::filesystem::path& dir) const {
  data::save_vocabulary(words_, (dir / "vocabulary.txt").string());
}

void WordVocabulary::require_same(const TextVocabulary& other, const std::string& this_name, const std::string& other_name) const {
  const auto* theirs = dynamic_cast<const WordVocabulary*>(&other);
  if (!theirs) throw std::invalid_argument(this_name + " is " + identity() + ", " + other_name + " is the " + other.identity());
  const std::vector<std::string>& a = words_.tokens();
  const std::vector<std::string>& b = theirs->words_.tokens();
  if (a == b) return;
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const auto at = [](const std::vector<std::string>& t, size_t k) { return k < t.size() ? "'" + t[k] + "'" : std::string("nothing"); };
  throw std::invalid_argument(this_name + " has " + with_commas(size()) + " tokens, " + other_name + " " + with_commas(other.size()) +
                              "; they first differ at id " + std::to_string(i) + ": " + at(a, i) + " and " + at(b, i));
}

std::string WordVocabulary::file_text() const {
  std::string text;
  for (const std::string& t : words_.tokens()) text += t + "\n";
  return text;
}

std::vector<int32_t> WordVocabulary::encode_piece(const std::string& piece, const std::string& where, const std::string& hint) const {
  if (is_special_token(piece)) return {words_.id(piece)};
  std::vector<std::string> tokens;
  try {
    tokens = data::tokenize_words(piece);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + "'" + piece + "': " + e.what());
  }
  std::vector<int32_t> ids;
  for (const std::string& t : tokens) {
    if (!words_.contains(t))
      throw std::invalid_argument(where + "the word '" + t + "' is not in the vocabulary (" + with_commas(size()) +
                                  " tokens of the training books)" + hint);
    ids.push_back(words_.id(t));
  }
  return ids;
}

// data.vocabulary: the tokens in id order separated by single spaces.
std::string joined_tokens(const data::Vocabulary& v) {
  std::string s;
  for (const std::string& t : v.tokens()) s += (s.empty() ? "" : " ") + t;
  return s;
}

data::Vocabulary vocabulary_from_config(const json& data_section, const std::string& where) {
  if (!data_section.at("vocabulary").is_string())
    throw std::invalid_argument(where + ": data.vocabulary must be a string: the tokens in id order, separated by spaces");
  const std::vector<std::string> tokens = space_separated(data_section.at("vocabulary").get<std::string>());
  for (int32_t k = 0; k < data::kNumSpecialTokens; ++k)
    if (static_cast<int32_t>(tokens.size()) <= k || tokens[static_cast<size_t>(k)] != data::kSpecialTokens[k])
      throw std::invalid_argument(where + ": data.vocabulary must start with <pad> <unk> <bos> <eos>");
  try {
    return data::Vocabulary::from_words(std::vector<std::string>(tokens.begin() + data::kNumSpecialTokens, tokens.end()));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + ": data.vocabulary: " + e.what());
  }
}

}  // namespace diffuse
