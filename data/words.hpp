// Words: the tokenizer, the vocabulary and its file, and token sequences padded into int32 [N, L] grids,
// for the word-level text families (Diffusion-LM, DiffuSeq). The corpora are in data/verses.hpp.
//
// Tokenizer (tokenize_words). The text is UTF-8; invalid UTF-8 is refused with its byte offset.
//   - Lower case: ASCII 'A'..'Z', Latin-1 'À'..'Þ' (not '×') and Latin Extended-A pairs ('Ā' -> 'ā', ...).
//     Other scripts are kept as they are (the three Bibles need no more).
//   - A word is a maximal run of word characters: ASCII letters and digits, and every code point from
//     U+0080 up that is neither white space nor in the punctuation list below (so 'é', 'ñ', Greek and
//     Hebrew letters are word characters). Digits belong to words: "1st" is one token, "3:16" is "3" ":" "16",
//     "1,000" is "1" "," "000".
//   - Inside a word, a hyphen or an apostrophe (' or ’) between two word characters stays in it: "twenty-nine",
//     "god's", "isn't". The curly apostrophe is written as ASCII ' in the token, so "God’s" and "God's" are
//     one token "god's".
//   - Every other character is a token of its own ("...": three "." tokens), with the quotes normalised:
//     ‘ ’ -> ', “ ” « » -> ". The rest of the punctuation list keeps its own spelling: — – … ¡ ¿ · and
//     the ASCII ones.
//   - White space separates tokens and is dropped: ASCII space, tab, CR, LF, VT, FF, U+00A0, U+2000..U+200B,
//     U+2028, U+2029, U+202F, U+3000.
//   So no token holds white space, and joining the tokens with single spaces and tokenizing again gives the
//   same tokens.
//
// Vocabulary. Four special tokens at fixed ids, then the words of the training split seen at least k times,
// by descending count (ties in byte order of the token):
//     0 <pad>   1 <unk>   2 <bos>   3 <eos>   4.. words
// File (save_vocabulary / load_vocabulary): UTF-8 text, one token per line, the id is the line number minus
// one; the first four lines must be the special tokens in that order. Refused, naming the file and line: an
// empty file, a missing or misplaced special token, an empty line, a token with white space, a duplicate
// (naming the earlier line), invalid UTF-8.
//
// Sequences (SequenceOptions, encode_sequences). A row is [<bos>] tokens [<eos>] then <pad> up to L = 64
// positions by default; <bos> and <eos> count towards L. A sequence that does not fit is never cut:
// training drops it and counts it (LongSequences::DropAndCount); evaluation refuses it, naming where it came
// from and its length (LongSequences::Refuse). A word outside the vocabulary becomes <unk>, counted.
//
// TokenSequences is what a sequence model reads whichever corpus it came from: words (encode_sequences) or
// text8 characters (text8_sequences, the canonical chunks of data/text8.hpp, never padded).
//
// Training (SequenceSampler): rows of a TokenSequences drawn uniformly with replacement, as the text8
// window sampler draws windows: draw k (counting from the sampler's start) is row
// uniform_below(block k of stream kRowStream, N) of Philox(seed). Its state is therefore (seed, rows drawn)
// plus N and L as consistency checks, savable as strings.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse::data {

constexpr int32_t kPadId = 0;
constexpr int32_t kUnkId = 1;
constexpr int32_t kBosId = 2;
constexpr int32_t kEosId = 3;
constexpr int32_t kNumSpecialTokens = 4;
constexpr const char* kSpecialTokens[kNumSpecialTokens] = {"<pad>", "<unk>", "<bos>", "<eos>"};
constexpr int64_t kDefaultSequenceLength = 64;
constexpr int64_t kDefaultMinCount = 5;  // the default k of the vocabulary
constexpr uint64_t kRowStream = 0xda7a0004;  // Philox stream of the sequence sampler

// The tokens of one line of text (see the header comment). Throws std::invalid_argument naming the byte
// offset of invalid UTF-8.
std::vector<std::string> tokenize_words(std::string_view text);

// How often each token occurs; add() is called once per sequence of the training split.
class TokenCounts {
 public:
  void add(const std::vector<std::string>& tokens);
  int64_t count(const std::string& token) const;
  int64_t total() const { return total_; }
  int64_t distinct() const { return static_cast<int64_t>(counts_.size()); }
  const std::unordered_map<std::string, int64_t>& counts() const { return counts_; }

 private:
  std::unordered_map<std::string, int64_t> counts_;
  int64_t total_ = 0;
};

class Vocabulary {
 public:
  // Only the four special tokens.
  Vocabulary();
  // The special tokens, then every token counted at least min_count times (min_count >= 1), by descending
  // count and then byte order. A token spelled like a special token is refused.
  static Vocabulary build(const TokenCounts& counts, int64_t min_count = kDefaultMinCount);
  // The special tokens at 0..3 followed by `words` in order (as a file lists them). Throws
  // std::invalid_argument on a duplicate, an empty word, white space or a special token among `words`.
  static Vocabulary from_words(const std::vector<std::string>& words);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  // The id of `token`, or kUnkId when it is not in the vocabulary.
  int32_t id(const std::string& token) const;
  bool contains(const std::string& token) const { return index_.count(token) > 0; }
  // Throws std::out_of_range for an id outside [0, size).
  const std::string& token(int32_t id) const;
  const std::vector<std::string>& tokens() const { return tokens_; }

  // Ids of `tokens`; each one outside the vocabulary becomes kUnkId and adds one to *unknown (when given).
  std::vector<int32_t> encode(const std::vector<std::string>& tokens, int64_t* unknown = nullptr) const;
  // The tokens of int32 ids (any shape, row-major) joined by single spaces; <pad> is left out, and so are
  // <bos> and <eos> unless keep_markers. Throws std::out_of_range naming an id outside the vocabulary.
  std::string decode(const Tensor& ids, bool keep_markers = false) const;
  std::string decode(const std::vector<int32_t>& ids, bool keep_markers = false) const;

  bool operator==(const Vocabulary& other) const { return tokens_ == other.tokens_; }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> index_;
};

// The vocabulary file (see the header comment). save_vocabulary writes atomically.
void save_vocabulary(const Vocabulary& vocab, const std::string& path);
Vocabulary load_vocabulary(const std::string& path);

// One sequence to encode, with where it came from for messages ("web.tsv:12 (Genesis 1:12)").
struct TokenizedText {
  std::string where;
  std::vector<std::string> tokens;
};

enum class LongSequences { DropAndCount, Refuse };

struct SequenceOptions {
  int64_t length = kDefaultSequenceLength;  // L, with <bos> and <eos>
  bool bos = true, eos = true;
  // The most tokens of text a row holds: L minus the markers.
  int64_t max_tokens() const { return length - (bos ? 1 : 0) - (eos ? 1 : 0); }
};

// Rows of token ids, padded, from words or from text8 characters.
struct TokenSequences {
  Tensor ids;                    // int32 [N, L]
  int64_t vocab_size = 0;        // ids lie in [0, vocab_size)
  int32_t pad_id = -1;           // the padding id; -1 where rows are never padded (text8 chunks)
  std::vector<int64_t> lengths;  // per row, the positions before padding (markers included)
  int64_t rows() const { return ids.defined() ? ids.size(0) : 0; }
  int64_t length() const { return ids.defined() ? ids.size(1) : 0; }
};

struct EncodedSequences {
  TokenSequences sequences;
  std::vector<int64_t> items;  // per row, the index of its TokenizedText
  int64_t too_long = 0;        // sequences dropped as longer than max_tokens (DropAndCount)
  int64_t longest = 0;         // the most tokens of any input sequence, dropped ones included
  int64_t tokens = 0;          // tokens of text encoded (markers and padding not counted)
  int64_t unknown = 0;         // of them, mapped to <unk>
  // "31,000 sequences of 64; 12 longer than 62 tokens dropped (longest 90); 1,234 of 800,000 tokens unknown (0.15%)"
  std::string summary() const;
};

// Encodes each text into a row. A text with more than options.max_tokens() tokens is dropped and counted
// (DropAndCount), or refused with std::runtime_error "<where>: 90 tokens, longer than the maximum of 62
// (sequences of 64 with <bos> and <eos>); it is not cut" (Refuse). Throws when no row remains or L < 1 +
// markers.
EncodedSequences encode_sequences(const std::vector<TokenizedText>& texts, const Vocabulary& vocab, const SequenceOptions& options,
                                  LongSequences policy);

// text8's canonical chunks [i*L, (i+1)*L) of `text` as TokenSequences (27 + 1 ids with D3PM's mask, no
// padding), so that a sequence family reads characters through the same interface.
TokenSequences text8_sequences(std::string_view text, int64_t length, int64_t max_rows = -1);

struct SequenceSamplerState {
  uint64_t seed = 0;
  int64_t rows_drawn = 0;  // the next draw uses Philox block rows_drawn
  int64_t rows = 0;        // N, checked on restore
  int64_t length = 0;      // L, checked on restore

  // {"sampler": "token-rows/1", "seed", "rows_drawn", "rows", "length"} as decimal strings.
  std::map<std::string, std::string> to_strings() const;
  static SequenceSamplerState from_strings(const std::map<std::string, std::string>& m);
  bool operator==(const SequenceSamplerState&) const = default;
};

class SequenceSampler {
 public:
  // Draws rows of *sequences. Throws std::invalid_argument when there is no row.
  SequenceSampler(std::shared_ptr<const TokenSequences> sequences, uint64_t seed = 0);

  // int32 [batch_size, L], one uniformly drawn row each.
  Tensor next(int64_t batch_size);
  // The rows the next `count` draws will take; does not advance.
  std::vector<int64_t> peek_rows(int64_t count) const;

  SequenceSamplerState state() const;
  // Throws std::runtime_error if the state was saved for another number of rows or row length.
  void restore(const SequenceSamplerState& state);

  const TokenSequences& sequences() const { return *sequences_; }

 private:
  std::shared_ptr<const TokenSequences> sequences_;
  uint64_t seed_;
  int64_t drawn_ = 0;
};

}  // namespace diffuse::data
