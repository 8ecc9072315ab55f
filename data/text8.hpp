// text8: the character-level language-modelling corpus of the D3PM text experiments.
//
// Format. text8 (Mahoney, http://mattmahoney.net/dc/text8.zip) is the first 10^8 bytes of an English
// Wikipedia dump cleaned to the 27 characters 'a'..'z' and ' ': one line, no newline, single spaces.
// Any other byte (an upper-case letter, a digit, a newline) means the file is not text8-clean, and the
// loader refuses it, naming the byte, its offset and the file.
//
// Vocabulary. 'a'..'z' -> 0..25, ' ' -> 26 (27 symbols), and one more id, 27, for the absorbing [MASK]
// state of D3PM's absorbing-state diffusion. decode shows the mask as '_'.
//
// Splits, by position (as the D3PM and earlier text8 papers do): for the real 100,000,000-byte file,
// [0, 90M) train, [90M, 95M) validation, [95M, 100M) test. Any other corpus is split in the same
// proportions: train [0, floor(0.9 n)), valid [floor(0.9 n), floor(0.95 n)), test [floor(0.95 n), n).
// (Computed in integers, n*9/10 and n*19/20, which gives exactly 90M / 95M for text8 too.)
//
// Training (Text8WindowSampler): random length-L windows (L = 256 by default) of a split, the start of
// each uniform over all L-windows that fit, drawn with Philox: window k (counting from the sampler's
// start) starts at uniform_below(block k of stream kWindowStream, n - L + 1). The sampler's state is
// therefore (seed, windows drawn) plus L and n as consistency checks, savable as strings.
//
// Evaluation (text8_chunks): the canonical non-overlapping chunks, chunk i = [i*L, (i+1)*L) of the split,
// the incomplete tail dropped; optionally only the first N of them.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse::data {

constexpr int32_t kText8Letters = 26;       // 'a'..'z' -> 0..25
constexpr int32_t kText8Space = 26;         // ' ' -> 26
constexpr int32_t kText8Vocab = 27;         // symbols that occur in the data
constexpr int32_t kText8Mask = 27;          // the absorbing [MASK] id of D3PM (never in the data)
constexpr int32_t kText8VocabWithMask = 28; // model output / embedding size with the mask
constexpr char kText8MaskChar = '_';        // how decode shows the mask
constexpr int64_t kText8Bytes = 100'000'000;  // the size of the real text8
constexpr uint64_t kWindowStream = 0xda7a0003;  // Philox stream of the window sampler

// One character <-> one id. text8_id returns -1 for a byte outside 'a'..'z', ' '; text8_char throws
// std::invalid_argument for an id outside 0..27.
int32_t text8_id(char c);
char text8_char(int32_t id);

// Text -> int32 Tensor [n] of ids. Throws std::invalid_argument naming the first bad byte and its offset.
Tensor encode_text8(std::string_view text);
// int32 ids (any shape, read row-major) -> text, the mask as '_'. Throws on an id outside 0..27.
std::string decode_text8(const Tensor& ids);

// The index of the first byte outside 'a'..'z', ' ', or -1 when the text is clean.
int64_t find_non_text8_byte(std::string_view text);

enum class Text8Split { Train, Valid, Test };
const char* split_name(Text8Split split);  // "train", "valid", "test"

// A half-open range [begin, end) of byte positions.
struct TextRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
  bool operator==(const TextRange&) const = default;
};

struct Text8SplitRanges {
  TextRange train, valid, test;
  const TextRange& operator[](Text8Split s) const;
};

// The split of an n-byte corpus (see the header comment). Throws std::invalid_argument for n <= 0.
Text8SplitRanges text8_split_ranges(int64_t n);

// A validated corpus in memory with its split.
struct Text8Corpus {
  std::string source;  // the file, for messages
  std::string text;
  Text8SplitRanges ranges;
  std::string_view split(Text8Split s) const;
};

// Validates `text` (not empty, only 'a'..'z' and ' '; std::runtime_error naming `source`, the bad byte
// and its offset) and splits it.
Text8Corpus make_text8_corpus(std::string text, std::string source);

// Reads and validates a text8-format file.
Text8Corpus load_text8(const std::string& path);

// Non-overlapping chunks [i*L, (i+1)*L) of `text`, the incomplete tail dropped: int32 [N, L], where N is
// min(max_chunks, floor(size / L)) (max_chunks < 0: all of them). Throws if not even one chunk fits.
int64_t text8_num_chunks(int64_t text_size, int64_t length);
Tensor text8_chunks(std::string_view text, int64_t length, int64_t max_chunks = -1);

// How often each of the 27 symbols occurs in `text` (counts), and counts / size (frequencies, summing to
// 1). The mutual-information and spindle noise schedules of D3PM use the frequencies of the training split.
std::vector<int64_t> unigram_counts(std::string_view text);
std::vector<double> unigram_frequencies(std::string_view text);

// Character embeddings from bigram statistics, for D3PM's nearest-neighbour transition matrix: row a
// (27 rows, 54 columns, row-major) is [P(next = b | a) for b in 0..26, P(previous = b | a) for b in 0..26]
// over `text`, so characters that occur in similar contexts lie close together. A character that never
// occurs gets a zero row.
std::vector<double> bigram_context_embeddings(std::string_view text);
constexpr int64_t kBigramEmbeddingDim = 2 * kText8Vocab;

struct Text8SamplerState {
  uint64_t seed = 0;
  int64_t windows_drawn = 0;  // the next window uses Philox block windows_drawn
  int64_t length = 0;         // L, checked on restore
  int64_t split_size = 0;     // n, checked on restore

  // {"sampler": "text8-windows/1", "seed", "windows_drawn", "length", "split_size"} as decimal strings.
  std::map<std::string, std::string> to_strings() const;
  static Text8SamplerState from_strings(const std::map<std::string, std::string>& m);
  bool operator==(const Text8SamplerState&) const = default;
};

class Text8WindowSampler {
 public:
  // Samples windows of corpus->split(split). Throws if the split is shorter than `length`.
  Text8WindowSampler(std::shared_ptr<const Text8Corpus> corpus, Text8Split split, int64_t length = 256, uint64_t seed = 0);

  // int32 [batch_size, L] of ids, one random window per row.
  Tensor next(int64_t batch_size);
  // The start positions (within the split) that the next `count` windows will have; does not advance.
  std::vector<int64_t> peek_starts(int64_t count) const;

  Text8SamplerState state() const;
  // Throws std::runtime_error if the state was saved for another window length or split size.
  void restore(const Text8SamplerState& state);

  int64_t length() const { return length_; }
  std::string_view text() const { return text_; }

 private:
  std::shared_ptr<const Text8Corpus> corpus_;
  std::string_view text_;
  int64_t length_;
  uint64_t seed_;
  int64_t drawn_ = 0;
};

}  // namespace diffuse::data
