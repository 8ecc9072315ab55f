#include "data/words.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "data/file_io.hpp"
#include "data/philox_draws.hpp"
#include "data/state_strings.hpp"
#include "data/text8.hpp"
#include "tensor/random.hpp"

namespace diffuse::data {

namespace {

// Decodes the code point at text[i] and advances i; throws on invalid UTF-8 (a bad lead or continuation
// byte, a truncated sequence, an overlong form, a surrogate, a value above U+10FFFF).
char32_t next_code_point(std::string_view text, size_t& i) {
  const size_t start = i;
  const auto bad = [&]() -> std::invalid_argument {
    return std::invalid_argument("invalid UTF-8 at byte offset " + std::to_string(start));
  };
  const unsigned char b0 = static_cast<unsigned char>(text[i++]);
  if (b0 < 0x80) return b0;
  int extra = 0;
  char32_t cp = 0, min = 0;
  if ((b0 & 0xe0) == 0xc0) extra = 1, cp = b0 & 0x1f, min = 0x80;
  else if ((b0 & 0xf0) == 0xe0) extra = 2, cp = b0 & 0x0f, min = 0x800;
  else if ((b0 & 0xf8) == 0xf0) extra = 3, cp = b0 & 0x07, min = 0x10000;
  else throw bad();
  for (int k = 0; k < extra; ++k) {
    if (i >= text.size()) throw bad();
    const unsigned char b = static_cast<unsigned char>(text[i++]);
    if ((b & 0xc0) != 0x80) throw bad();
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw bad();
  return cp;
}

void append_utf8(std::string& s, char32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xc0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xe0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    s += static_cast<char>(0xf0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

bool is_space(char32_t c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0 || (c >= 0x2000 && c <= 0x200b) || c == 0x2028 || c == 0x2029 ||
         c == 0x202f || c == 0x3000;
}

// Non-ASCII punctuation: each is a token of its own.
bool is_unicode_punctuation(char32_t c) {
  switch (c) {
    case 0xa1: case 0xab: case 0xb7: case 0xbb: case 0xbf: case 0xd7: case 0xf7:  // ¡ « · » ¿ × ÷
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015:  // hyphens and dashes
    case 0x2018: case 0x2019: case 0x201a: case 0x201b: case 0x201c: case 0x201d: case 0x201e: case 0x201f:  // quotes
    case 0x2020: case 0x2021: case 0x2022: case 0x2026: case 0x2039: case 0x203a:  // † ‡ • … ‹ ›
      return true;
    default:
      return false;
  }
}

bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return !is_space(c) && !is_unicode_punctuation(c);
}

bool is_apostrophe(char32_t c) { return c == '\'' || c == 0x2019; }

char32_t to_lower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 32;  // Latin-1: À..Þ -> à..þ
  // Latin Extended-A: upper case at the even code points of U+0100..U+0137 and U+014A..U+0177, at the
  // odd ones of U+0139..U+0148 and U+0179..U+017E; U+0130 (İ) and U+0178 (Ÿ) have their own lower case.
  if (c == 0x178) return 0xff;
  if (c == 0x130) return 'i';
  if (((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) && c % 2 == 0) return c + 1;
  if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) && c % 2 == 1) return c + 1;
  return c;
}

// How a punctuation code point is spelled as a token.
std::string punctuation_token(char32_t c) {
  if (c == 0x2018 || c == 0x2019 || c == 0x201a || c == 0x201b) return "'";
  if (c == 0x201c || c == 0x201d || c == 0x201e || c == 0x201f || c == 0xab || c == 0xbb) return "\"";
  std::string s;
  append_utf8(s, c);
  return s;
}

bool is_special(const std::string& token) {
  return std::find(std::begin(kSpecialTokens), std::end(kSpecialTokens), token) != std::end(kSpecialTokens);
}

bool has_space(const std::string& token) {
  for (unsigned char c : token)
    if (c == ' ' || (c >= '\t' && c <= '\r')) return true;
  return false;
}

}  // namespace

std::vector<std::string> tokenize_words(std::string_view text) {
  // Decode once, so that the apostrophe and hyphen rules can look at the next code point.
  std::vector<char32_t> cps;
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) cps.push_back(next_code_point(text, i));

  std::vector<std::string> tokens;
  std::string word;
  const auto end_word = [&] {
    if (!word.empty()) tokens.push_back(std::move(word));
    word.clear();
  };
  for (size_t i = 0; i < cps.size(); ++i) {
    const char32_t c = cps[i];
    if (is_word_char(c)) {
      append_utf8(word, to_lower(c));
    } else if (!word.empty() && (is_apostrophe(c) || c == '-') && i + 1 < cps.size() && is_word_char(cps[i + 1])) {
      word += is_apostrophe(c) ? '\'' : '-';  // inside a word: "god's", "twenty-nine"
    } else {
      end_word();
      if (!is_space(c)) tokens.push_back(c < 0x80 ? std::string(1, static_cast<char>(c)) : punctuation_token(c));
    }
  }
  end_word();
  return tokens;
}

// ---- counts and vocabulary -----------------------------------------------------------------------

void TokenCounts::add(const std::vector<std::string>& tokens) {
  for (const std::string& t : tokens) ++counts_[t];
  total_ += static_cast<int64_t>(tokens.size());
}

int64_t TokenCounts::count(const std::string& token) const {
  const auto it = counts_.find(token);
  return it == counts_.end() ? 0 : it->second;
}

Vocabulary::Vocabulary() {
  for (int32_t k = 0; k < kNumSpecialTokens; ++k) {
    tokens_.emplace_back(kSpecialTokens[k]);
    index_.emplace(tokens_.back(), k);
  }
}

Vocabulary Vocabulary::from_words(const std::vector<std::string>& words) {
  Vocabulary v;
  for (const std::string& w : words) {
    if (w.empty()) throw std::invalid_argument("vocabulary: an empty token");
    if (has_space(w)) throw std::invalid_argument("vocabulary: the token '" + w + "' holds white space");
    if (is_special(w)) throw std::invalid_argument("vocabulary: the special token " + w + " among the words");
    const auto [it, fresh] = v.index_.emplace(w, static_cast<int32_t>(v.tokens_.size()));
    if (!fresh) throw std::invalid_argument("vocabulary: the token '" + w + "' twice, at ids " + std::to_string(it->second) + " and " +
                                            std::to_string(v.tokens_.size()));
    v.tokens_.push_back(w);
  }
  return v;
}

Vocabulary Vocabulary::build(const TokenCounts& counts, int64_t min_count) {
  if (min_count < 1) throw std::invalid_argument("Vocabulary::build: min_count " + std::to_string(min_count) + " < 1");
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [token, n] : counts.counts())
    if (n >= min_count) kept.emplace_back(token, n);
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  std::vector<std::string> words;
  words.reserve(kept.size());
  for (auto& [token, n] : kept) words.push_back(std::move(token));
  return from_words(words);
}

int32_t Vocabulary::id(const std::string& token) const {
  const auto it = index_.find(token);
  return it == index_.end() ? kUnkId : it->second;
}

const std::string& Vocabulary::token(int32_t id) const {
  if (id < 0 || id >= size())
    throw std::out_of_range("vocabulary: id " + std::to_string(id) + " is outside 0.." + std::to_string(size() - 1));
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int32_t> Vocabulary::encode(const std::vector<std::string>& tokens, int64_t* unknown) const {
  std::vector<int32_t> ids(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    ids[i] = id(tokens[i]);
    if (ids[i] == kUnkId && unknown && tokens[i] != kSpecialTokens[kUnkId]) ++*unknown;
  }
  return ids;
}

std::string Vocabulary::decode(const std::vector<int32_t>& ids, bool keep_markers) const {
  std::string s;
  for (const int32_t i : ids) {
    const std::string& t = token(i);
    if (i == kPadId || (!keep_markers && (i == kBosId || i == kEosId))) continue;
    if (!s.empty()) s += ' ';
    s += t;
  }
  return s;
}

std::string Vocabulary::decode(const Tensor& ids, bool keep_markers) const {
  if (ids.dtype() != DType::I32) throw std::invalid_argument("Vocabulary::decode: expected int32 ids, got " + describe(ids));
  const Tensor c = ids.contiguous();
  const int32_t* p = c.data<int32_t>();
  return decode(std::vector<int32_t>(p, p + c.numel()), keep_markers);
}

void save_vocabulary(const Vocabulary& vocab, const std::string& path) {
  std::string text;
  for (const std::string& t : vocab.tokens()) text += t + "\n";
  write_file_atomic(path, std::vector<uint8_t>(text.begin(), text.end()));
}

Vocabulary load_vocabulary(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, "vocabulary file");
  const std::string text(bytes.begin(), bytes.end());
  if (text.empty()) file_error(path, "empty; a vocabulary file lists one token per line, starting <pad> <unk> <bos> <eos>");
  std::vector<std::string> words;
  std::unordered_map<std::string, int64_t> line_of;
  int64_t line = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string token = text.substr(pos, end - pos);
    pos = end + 1;
    ++line;
    const std::string at = "line " + std::to_string(line) + ": ";
    if (!token.empty() && token.back() == '\r') file_error(path, at + "ends in a carriage return (CRLF line ends); the file uses \\n");
    if (line <= kNumSpecialTokens) {
      if (token != kSpecialTokens[line - 1])
        file_error(path, at + "'" + token + "' where the special token " + kSpecialTokens[line - 1] +
                             " belongs; a vocabulary file starts <pad> <unk> <bos> <eos>, one a line");
      continue;
    }
    if (token.empty()) file_error(path, at + "an empty token");
    if (has_space(token)) file_error(path, at + "the token '" + token + "' holds white space");
    if (is_special(token)) file_error(path, at + "the special token " + token + " again");
    try {
      for (size_t i = 0; i < token.size();) next_code_point(token, i);
    } catch (const std::invalid_argument& e) {
      file_error(path, at + e.what());
    }
    const auto [it, fresh] = line_of.emplace(token, line);
    if (!fresh) file_error(path, at + "the token '" + token + "' again (first on line " + std::to_string(it->second) + ")");
    words.push_back(std::move(token));
  }
  if (line < kNumSpecialTokens)
    file_error(path, "only " + std::to_string(line) + " lines; a vocabulary file starts <pad> <unk> <bos> <eos>, one a line");
  return Vocabulary::from_words(words);
}

// ---- sequences ----------------------------------------------------------------------------------

std::string EncodedSequences::summary() const {
  std::string s = with_commas(sequences.rows()) + " sequences of " + std::to_string(sequences.length());
  if (too_long > 0) s += "; " + with_commas(too_long) + " longer than the maximum dropped (longest " + std::to_string(longest) + " tokens)";
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.2f%%", tokens > 0 ? 100.0 * static_cast<double>(unknown) / static_cast<double>(tokens) : 0.0);
  return s + "; " + with_commas(unknown) + " of " + with_commas(tokens) + " tokens unknown (" + pct + ")";
}

EncodedSequences encode_sequences(const std::vector<TokenizedText>& texts, const Vocabulary& vocab, const SequenceOptions& options,
                                  LongSequences policy) {
  const int64_t L = options.length, max_tokens = options.max_tokens();
  if (max_tokens < 1)
    throw std::invalid_argument("encode_sequences: sequences of " + std::to_string(L) + " leave no room for text after the markers");
  EncodedSequences out;
  std::vector<int32_t> grid;
  for (size_t k = 0; k < texts.size(); ++k) {
    const int64_t n = static_cast<int64_t>(texts[k].tokens.size());
    out.longest = std::max(out.longest, n);
    if (n > max_tokens) {
      if (policy == LongSequences::Refuse)
        throw std::runtime_error(texts[k].where + ": " + std::to_string(n) + " tokens, longer than the maximum of " + std::to_string(max_tokens) +
                                 " (sequences of " + std::to_string(L) + (options.bos || options.eos ? " with their markers" : "") +
                                 "); it is not cut");
      ++out.too_long;
      continue;
    }
    const std::vector<int32_t> ids = vocab.encode(texts[k].tokens, &out.unknown);
    out.tokens += n;
    const size_t row = grid.size();
    grid.resize(row + static_cast<size_t>(L), kPadId);
    size_t j = row;
    if (options.bos) grid[j++] = kBosId;
    for (const int32_t id : ids) grid[j++] = id;
    if (options.eos) grid[j++] = kEosId;
    out.sequences.lengths.push_back(static_cast<int64_t>(j - row));
    out.items.push_back(static_cast<int64_t>(k));
  }
  const int64_t rows = static_cast<int64_t>(out.items.size());
  if (rows == 0)
    throw std::runtime_error("encode_sequences: no sequence of " + std::to_string(texts.size()) + " fits in " + std::to_string(L) +
                             " positions (longest " + std::to_string(out.longest) + " tokens)");
  out.sequences.ids = Tensor::from_vector(grid, {rows, L});
  out.sequences.vocab_size = vocab.size();
  out.sequences.pad_id = kPadId;
  return out;
}

TokenSequences text8_sequences(std::string_view text, int64_t length, int64_t max_rows) {
  TokenSequences s;
  s.ids = text8_chunks(text, length, max_rows);
  s.vocab_size = kText8VocabWithMask;
  s.pad_id = -1;
  s.lengths.assign(static_cast<size_t>(s.ids.size(0)), length);
  return s;
}

// ---- the sequence sampler -------------------------------------------------------------------------

std::map<std::string, std::string> SequenceSamplerState::to_strings() const {
  return {{"sampler", "token-rows/1"},
          {"seed", std::to_string(seed)},
          {"rows_drawn", std::to_string(rows_drawn)},
          {"rows", std::to_string(rows)},
          {"length", std::to_string(length)}};
}

SequenceSamplerState SequenceSamplerState::from_strings(const std::map<std::string, std::string>& m) {
  const std::string who = "sequence sampler";
  check_state_kind(m, "token-rows/1", who);
  SequenceSamplerState s;
  s.seed = state_uint(m, "seed", who);
  s.rows_drawn = state_int(m, "rows_drawn", who);
  s.rows = state_int(m, "rows", who);
  s.length = state_int(m, "length", who);
  return s;
}

SequenceSampler::SequenceSampler(std::shared_ptr<const TokenSequences> sequences, uint64_t seed)
    : sequences_(std::move(sequences)), seed_(seed) {
  if (!sequences_ || sequences_->rows() == 0) throw std::invalid_argument("SequenceSampler: no rows to draw from");
}

std::vector<int64_t> SequenceSampler::peek_rows(int64_t count) const {
  const Philox rng(seed_, kRowStream);
  const uint64_t rows = static_cast<uint64_t>(sequences_->rows());
  std::vector<int64_t> out(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k)
    out[static_cast<size_t>(k)] = static_cast<int64_t>(uniform_below(rng.block(static_cast<uint64_t>(drawn_ + k)), rows));
  return out;
}

Tensor SequenceSampler::next(int64_t batch_size) {
  if (batch_size <= 0) throw std::invalid_argument("SequenceSampler::next: batch size " + std::to_string(batch_size));
  const std::vector<int64_t> rows = peek_rows(batch_size);
  const int64_t L = sequences_->length();
  const int32_t* src = sequences_->ids.data<int32_t>();
  Tensor out = Tensor::empty({batch_size, L}, DType::I32);
  int32_t* p = out.data<int32_t>();
  for (int64_t b = 0; b < batch_size; ++b) {
    const int64_t row = rows[static_cast<size_t>(b)];
    std::copy(src + row * L, src + (row + 1) * L, p + b * L);
  }
  drawn_ += batch_size;
  return out;
}

SequenceSamplerState SequenceSampler::state() const { return {seed_, drawn_, sequences_->rows(), sequences_->length()}; }

void SequenceSampler::restore(const SequenceSamplerState& s) {
  if (s.rows != sequences_->rows() || s.length != sequences_->length())
    throw std::runtime_error("sequence sampler state was saved for " + with_commas(s.rows) + " rows of " + std::to_string(s.length) +
                             ", but this sampler has " + with_commas(sequences_->rows()) + " rows of " +
                             std::to_string(sequences_->length()));
  if (s.rows_drawn < 0) throw std::runtime_error("sequence sampler state: rows_drawn " + std::to_string(s.rows_drawn) + " < 0");
  seed_ = s.seed;
  drawn_ = s.rows_drawn;
}

}  // namespace diffuse::data
