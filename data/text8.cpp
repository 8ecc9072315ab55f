#include "data/text8.hpp"

#include <algorithm>
#include <stdexcept>

#include "data/file_io.hpp"
#include "data/philox_draws.hpp"
#include "data/state_strings.hpp"
#include "tensor/random.hpp"

namespace diffuse::data {

int32_t text8_id(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c == ' ') return kText8Space;
  return -1;
}

char text8_char(int32_t id) {
  if (id >= 0 && id < kText8Letters) return static_cast<char>('a' + id);
  if (id == kText8Space) return ' ';
  if (id == kText8Mask) return kText8MaskChar;
  throw std::invalid_argument("text8: id " + std::to_string(id) + " is outside 0..27");
}

int64_t find_non_text8_byte(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i)
    if (text8_id(text[i]) < 0) return static_cast<int64_t>(i);
  return -1;
}

namespace {
// "byte 0x0a ('\n')" for messages.
std::string describe_byte(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  const char* digits = "0123456789abcdef";
  std::string s = std::string("byte 0x") + digits[u >> 4] + digits[u & 15];
  if (c == '\n') return s + " ('\\n')";
  if (c == '\r') return s + " ('\\r')";
  if (c == '\t') return s + " ('\\t')";
  if (u >= 0x20 && u < 0x7f) return s + " ('" + std::string(1, c) + "')";
  return s;
}
const char* kAlphabet = "text8 holds only 'a'..'z' and ' '";
}  // namespace

Tensor encode_text8(std::string_view text) {
  Tensor ids = Tensor::empty({static_cast<int64_t>(text.size())}, DType::I32);
  int32_t* out = ids.data<int32_t>();
  for (size_t i = 0; i < text.size(); ++i) {
    out[i] = text8_id(text[i]);
    if (out[i] < 0)
      throw std::invalid_argument("encode_text8: " + describe_byte(text[i]) + " at offset " + std::to_string(i) + "; " + kAlphabet);
  }
  return ids;
}

std::string decode_text8(const Tensor& ids) {
  if (ids.dtype() != DType::I32) throw std::invalid_argument("decode_text8: expected int32 ids, got " + describe(ids));
  const Tensor c = ids.contiguous();
  const int32_t* p = c.data<int32_t>();
  std::string s(static_cast<size_t>(c.numel()), ' ');
  for (int64_t i = 0; i < c.numel(); ++i) s[i] = text8_char(p[i]);
  return s;
}

const char* split_name(Text8Split split) {
  switch (split) {
    case Text8Split::Train: return "train";
    case Text8Split::Valid: return "valid";
    case Text8Split::Test: return "test";
  }
  return "?";
}

const TextRange& Text8SplitRanges::operator[](Text8Split s) const {
  switch (s) {
    case Text8Split::Train: return train;
    case Text8Split::Valid: return valid;
    case Text8Split::Test: return test;
  }
  throw std::invalid_argument("text8: unknown split");
}

Text8SplitRanges text8_split_ranges(int64_t n) {
  if (n <= 0) throw std::invalid_argument("text8_split_ranges: corpus size " + std::to_string(n));
  // floor(0.9 n) and floor(0.95 n) in exact integer arithmetic (no floating-point rounding at 10^8).
  const int64_t a = n / 10 * 9 + n % 10 * 9 / 10, b = n / 20 * 19 + n % 20 * 19 / 20;
  return {{0, a}, {a, b}, {b, n}};
}

std::string_view Text8Corpus::split(Text8Split s) const {
  const TextRange& r = ranges[s];
  return std::string_view(text).substr(static_cast<size_t>(r.begin), static_cast<size_t>(r.size()));
}

Text8Corpus make_text8_corpus(std::string text, std::string source) {
  if (text.empty()) file_error(source, "empty (0 bytes); a text8 corpus needs text");
  const int64_t bad = find_non_text8_byte(text);
  if (bad >= 0) {
    std::string hint;
    if (text[bad] == '\n' && bad + 1 == static_cast<int64_t>(text.size())) hint = " (a trailing newline: strip it)";
    else if (text[bad] >= 'A' && text[bad] <= 'Z') hint = " (upper case: the text8 cleaning lower-cases)";
    file_error(source, describe_byte(text[bad]) + " at byte offset " + with_commas(bad) + " is not text8: " + kAlphabet + hint);
  }
  Text8Corpus c;
  c.ranges = text8_split_ranges(static_cast<int64_t>(text.size()));
  c.text = std::move(text);
  c.source = std::move(source);
  return c;
}

Text8Corpus load_text8(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, "text8 file");
  return make_text8_corpus(std::string(bytes.begin(), bytes.end()), path);
}

int64_t text8_num_chunks(int64_t text_size, int64_t length) {
  if (length <= 0) throw std::invalid_argument("text8_num_chunks: chunk length " + std::to_string(length));
  return text_size / length;
}

Tensor text8_chunks(std::string_view text, int64_t length, int64_t max_chunks) {
  const int64_t available = text8_num_chunks(static_cast<int64_t>(text.size()), length);
  if (available == 0)
    throw std::invalid_argument("text8_chunks: the text has " + std::to_string(text.size()) + " characters, fewer than one chunk of " +
                                std::to_string(length));
  const int64_t n = max_chunks < 0 ? available : std::min(max_chunks, available);
  // Encoding only the bytes the chunks cover: chunk i, position j is text[i*L + j], so the row-major
  // [n, L] tensor is the first n*L ids.
  return encode_text8(text.substr(0, static_cast<size_t>(n * length))).view({n, length});
}

std::vector<int64_t> unigram_counts(std::string_view text) {
  std::vector<int64_t> counts(kText8Vocab, 0);
  for (size_t i = 0; i < text.size(); ++i) {
    const int32_t id = text8_id(text[i]);
    if (id < 0)
      throw std::invalid_argument("unigram_counts: " + describe_byte(text[i]) + " at offset " + std::to_string(i) + "; " + kAlphabet);
    ++counts[id];
  }
  return counts;
}

std::vector<double> unigram_frequencies(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("unigram_frequencies: empty text");
  const std::vector<int64_t> counts = unigram_counts(text);
  std::vector<double> f(counts.size());
  for (size_t k = 0; k < counts.size(); ++k) f[k] = static_cast<double>(counts[k]) / static_cast<double>(text.size());
  return f;
}

std::vector<double> bigram_context_embeddings(std::string_view text) {
  const int64_t V = kText8Vocab, D = kBigramEmbeddingDim;
  std::vector<double> e(static_cast<size_t>(V * D), 0.0);
  std::vector<double> next_total(static_cast<size_t>(V), 0.0), prev_total(static_cast<size_t>(V), 0.0);
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    const int32_t a = text8_id(text[i]), b = text8_id(text[i + 1]);
    if (a < 0 || b < 0)
      throw std::invalid_argument("bigram_context_embeddings: a byte outside the alphabet at offset " +
                                  std::to_string(a < 0 ? i : i + 1) + "; " + kAlphabet);
    e[static_cast<size_t>(a * D + b)] += 1;      // b follows a
    e[static_cast<size_t>(b * D + V + a)] += 1;  // a precedes b
    next_total[static_cast<size_t>(a)] += 1;
    prev_total[static_cast<size_t>(b)] += 1;
  }
  for (int64_t a = 0; a < V; ++a)
    for (int64_t b = 0; b < V; ++b) {
      if (next_total[static_cast<size_t>(a)] > 0) e[static_cast<size_t>(a * D + b)] /= next_total[static_cast<size_t>(a)];
      if (prev_total[static_cast<size_t>(a)] > 0) e[static_cast<size_t>(a * D + V + b)] /= prev_total[static_cast<size_t>(a)];
    }
  return e;
}

// ---- sampler state -----------------------------------------------------------------------------

std::map<std::string, std::string> Text8SamplerState::to_strings() const {
  return {{"sampler", "text8-windows/1"},
          {"seed", std::to_string(seed)},
          {"windows_drawn", std::to_string(windows_drawn)},
          {"length", std::to_string(length)},
          {"split_size", std::to_string(split_size)}};
}

Text8SamplerState Text8SamplerState::from_strings(const std::map<std::string, std::string>& m) {
  const std::string who = "text8 sampler";
  check_state_kind(m, "text8-windows/1", who);
  Text8SamplerState s;
  s.seed = state_uint(m, "seed", who);
  s.windows_drawn = state_int(m, "windows_drawn", who);
  s.length = state_int(m, "length", who);
  s.split_size = state_int(m, "split_size", who);
  return s;
}

// ---- Text8WindowSampler ------------------------------------------------------------------------

Text8WindowSampler::Text8WindowSampler(std::shared_ptr<const Text8Corpus> corpus, Text8Split split, int64_t length, uint64_t seed)
    : corpus_(std::move(corpus)), length_(length), seed_(seed) {
  if (!corpus_) throw std::invalid_argument("Text8WindowSampler: no corpus");
  if (length <= 0) throw std::invalid_argument("Text8WindowSampler: window length " + std::to_string(length));
  text_ = corpus_->split(split);
  if (static_cast<int64_t>(text_.size()) < length)
    throw std::runtime_error(corpus_->source + ": the " + split_name(split) + " split has " + std::to_string(text_.size()) +
                             " characters, fewer than one window of " + std::to_string(length));
}

std::vector<int64_t> Text8WindowSampler::peek_starts(int64_t count) const {
  const Philox rng(seed_, kWindowStream);
  const uint64_t positions = static_cast<uint64_t>(text_.size()) - static_cast<uint64_t>(length_) + 1;  // starts 0..n-L
  std::vector<int64_t> starts(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k)
    starts[k] = static_cast<int64_t>(uniform_below(rng.block(static_cast<uint64_t>(drawn_ + k)), positions));
  return starts;
}

Tensor Text8WindowSampler::next(int64_t batch_size) {
  if (batch_size <= 0) throw std::invalid_argument("Text8WindowSampler::next: batch size " + std::to_string(batch_size));
  const std::vector<int64_t> starts = peek_starts(batch_size);
  Tensor out = Tensor::empty({batch_size, length_}, DType::I32);
  int32_t* p = out.data<int32_t>();
  for (int64_t b = 0; b < batch_size; ++b)
    for (int64_t j = 0; j < length_; ++j) p[b * length_ + j] = text8_id(text_[starts[b] + j]);  // validated at load
  drawn_ += batch_size;
  return out;
}

Text8SamplerState Text8WindowSampler::state() const { return {seed_, drawn_, length_, static_cast<int64_t>(text_.size())}; }

void Text8WindowSampler::restore(const Text8SamplerState& s) {
  if (s.length != length_ || s.split_size != static_cast<int64_t>(text_.size()))
    throw std::runtime_error("text8 sampler state was saved for windows of " + std::to_string(s.length) + " in a split of " +
                             std::to_string(s.split_size) + " characters, but this sampler has windows of " + std::to_string(length_) +
                             " in " + std::to_string(text_.size()) + " characters of " + corpus_->source);
  if (s.windows_drawn < 0) throw std::runtime_error("text8 sampler state: windows_drawn " + std::to_string(s.windows_drawn) + " < 0");
  seed_ = s.seed;
  drawn_ = s.windows_drawn;
}

}  // namespace diffuse::data
