// text8: the alphabet and ids, validation with offsets, split arithmetic, evaluation chunks, the window
// sampler's reproducibility and resume, unigram statistics.
#include <doctest/doctest.h>

#include <numeric>

#include "data/text8.hpp"
#include "data_testing.hpp"

using namespace diffuse;
using namespace diffuse::data;
using namespace diffuse::testing;

namespace {
// n characters of text8-clean pseudo-text.
std::string make_text(int64_t n, uint32_t seed = 1) {
  std::string s(static_cast<size_t>(n), ' ');
  uint32_t x = seed;
  for (int64_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    const uint32_t r = (x >> 24) % 32;
    s[i] = r < 26 ? static_cast<char>('a' + r) : ' ';
  }
  return s;
}
std::shared_ptr<const Text8Corpus> make_corpus(int64_t n) { return std::make_shared<Text8Corpus>(make_text8_corpus(make_text(n), "mem")); }
}  // namespace

TEST_CASE("ids: 'a'..'z' -> 0..25, ' ' -> 26, mask 27 shown as '_'") {
  CHECK(text8_id('a') == 0);
  CHECK(text8_id('z') == 25);
  CHECK(text8_id(' ') == kText8Space);
  CHECK(text8_id('A') == -1);
  CHECK(text8_id('\n') == -1);
  CHECK(kText8Mask == 27);
  CHECK(kText8VocabWithMask == 28);
  const Tensor ids = encode_text8("the cat");
  CHECK(ids.dtype() == DType::I32);
  CHECK(ids.to_vector() == std::vector<double>{19, 7, 4, 26, 2, 0, 19});
  CHECK(decode_text8(ids) == "the cat");
  CHECK(decode_text8(Tensor::from_vector(std::vector<int32_t>{0, 27, 1, 26}, {2, 2})) == "a_b ");
  CHECK_THROWS_WITH_AS(decode_text8(Tensor::from_vector(std::vector<int32_t>{28}, {1})), contains("id 28"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(encode_text8("ab1"), contains("byte 0x31 ('1') at offset 2"), std::invalid_argument);
}

TEST_CASE("files: a bad byte is refused with its offset and the file; an empty file is refused") {
  TempDir dir("text8");
  const std::string p = dir.file("corpus.txt");
  write_text(p, " anarchism originated aS a term");
  CHECK_THROWS_WITH_AS(load_text8(p), contains(p + ": byte 0x53 ('S') at byte offset 23 is not text8"), std::runtime_error);
  write_text(p, " anarchism\n");
  CHECK_THROWS_WITH_AS(load_text8(p), contains("at byte offset 10 is not text8"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_text8(p), contains("trailing newline"), std::runtime_error);
  write_bytes(p, {'a', 0xc3, 0xa9});
  CHECK_THROWS_WITH_AS(load_text8(p), contains("byte 0xc3 at byte offset 1"), std::runtime_error);
  write_text(p, "");
  CHECK_THROWS_WITH_AS(load_text8(p), contains(p + ": empty"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_text8(dir.file("missing.txt")), contains("does not exist"), std::runtime_error);
  write_text(p, make_text(1000));
  const Text8Corpus c = load_text8(p);
  CHECK(c.text.size() == 1000);
  CHECK(c.source == p);
}

TEST_CASE("splits by position: 90% / 5% / 5%, exactly 90M / 5M / 5M for text8") {
  const Text8SplitRanges t8 = text8_split_ranges(kText8Bytes);
  CHECK(t8.train == TextRange{0, 90'000'000});
  CHECK(t8.valid == TextRange{90'000'000, 95'000'000});
  CHECK(t8.test == TextRange{95'000'000, 100'000'000});
  const Text8SplitRanges k = text8_split_ranges(1000);
  CHECK(k.train == TextRange{0, 900});
  CHECK(k.valid == TextRange{900, 950});
  CHECK(k.test == TextRange{950, 1000});
  // floor(0.9 n) and floor(0.95 n) for a size that does not divide evenly (the sotu-moby corpus).
  const Text8SplitRanges s = text8_split_ranges(11'997'261);
  CHECK(s.train.end == 10'797'534);
  CHECK(s.valid.end == 11'397'397);
  CHECK(s.test.end == 11'997'261);
  const Text8SplitRanges tiny = text8_split_ranges(19);
  CHECK(tiny.train.end == 17);  // floor(17.1)
  CHECK(tiny.valid.end == 18);  // floor(18.05)
  CHECK_THROWS_AS(text8_split_ranges(0), std::invalid_argument);

  const auto corpus = make_corpus(1000);
  CHECK(corpus->split(Text8Split::Valid) == std::string_view(corpus->text).substr(900, 50));
  CHECK(corpus->split(Text8Split::Test).size() == 50);
}

TEST_CASE("evaluation chunks: [i*L, (i+1)*L), tail dropped, first N") {
  const std::string text = make_text(1000);
  const Tensor all = text8_chunks(text, 256);
  REQUIRE(all.shape() == Shape{3, 256});  // 1000 = 3*256 + 232: the tail is dropped
  for (int64_t i = 0; i < 3; ++i) CHECK(decode_text8(all.narrow(0, i, 1)) == text.substr(i * 256, 256));
  const Tensor two = text8_chunks(text, 256, 2);
  CHECK(two.shape() == Shape{2, 256});
  CHECK(text8_chunks(text, 256, 10).shape() == Shape{3, 256});
  CHECK(text8_num_chunks(5'000'000, 256) == 19531);
  CHECK_THROWS_WITH_AS(text8_chunks("abc", 256), contains("fewer than one chunk"), std::invalid_argument);
}

TEST_CASE("window sampler: random windows of the split, reproducible, resumable") {
  const auto corpus = make_corpus(2000);
  const std::string_view train = corpus->split(Text8Split::Train);  // 1800 characters
  Text8WindowSampler s(corpus, Text8Split::Train, 64, 9);
  const std::vector<int64_t> starts = s.peek_starts(4);
  const Tensor batch = s.next(4);
  REQUIRE(batch.shape() == Shape{4, 64});
  CHECK(batch.dtype() == DType::I32);
  for (int64_t b = 0; b < 4; ++b) CHECK(decode_text8(batch.narrow(0, b, 1)) == train.substr(starts[b], 64));

  // Starts cover [0, n - L] and nothing beyond.
  Text8WindowSampler wide(corpus, Text8Split::Valid, 95, 1);  // valid has 100 characters: starts 0..5
  std::vector<int> hits(6, 0);
  for (int64_t st : wide.peek_starts(600)) {
    REQUIRE((st >= 0 && st <= 5));
    ++hits[st];
  }
  for (int h : hits) CHECK(h > 50);

  Text8WindowSampler a(corpus, Text8Split::Train, 64, 3), b(corpus, Text8Split::Train, 64, 3), c(corpus, Text8Split::Train, 64, 4);
  CHECK(a.next(5).to_vector() == b.next(5).to_vector());
  CHECK(a.next(5).to_vector() != c.next(5).to_vector());

  Text8WindowSampler run(corpus, Text8Split::Train, 64, 77);
  for (int k = 0; k < 5; ++k) run.next(k + 1);
  const auto saved = run.state().to_strings();
  CHECK(saved.at("windows_drawn") == "15");
  std::vector<std::vector<double>> expected;
  for (int k = 0; k < 3; ++k) expected.push_back(run.next(8).to_vector());
  Text8WindowSampler resumed(corpus, Text8Split::Train, 64, 0);
  resumed.restore(Text8SamplerState::from_strings(saved));
  for (int k = 0; k < 3; ++k) CHECK(resumed.next(8).to_vector() == expected[k]);

  Text8WindowSampler other(corpus, Text8Split::Train, 128, 77);
  CHECK_THROWS_WITH_AS(other.restore(Text8SamplerState::from_strings(saved)), contains("saved for windows of 64"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(Text8WindowSampler(corpus, Text8Split::Test, 256), contains("test split has 100 characters"),
                       std::runtime_error);
}

TEST_CASE("unigram counts and frequencies") {
  const std::vector<int64_t> counts = unigram_counts("abba  z");
  REQUIRE(counts.size() == 27);
  CHECK(counts[0] == 2);
  CHECK(counts[1] == 2);
  CHECK(counts[25] == 1);
  CHECK(counts[26] == 2);
  CHECK(std::accumulate(counts.begin(), counts.end(), int64_t{0}) == 7);
  const auto corpus = make_corpus(1000);
  const std::vector<double> f = unigram_frequencies(corpus->split(Text8Split::Train));
  CHECK(std::accumulate(f.begin(), f.end(), 0.0) == doctest::Approx(1.0));
  CHECK(f[26] == doctest::Approx(6.0 / 32).epsilon(0.3));  // make_text: ' ' has 6 of 32 slots
  CHECK_THROWS_AS(unigram_counts("a-b"), std::invalid_argument);
}

TEST_CASE("bigram context embeddings: next- and previous-character distributions per character") {
  // "ab ab": a->b twice; b->' ' once; ' '->a once. Previous: b<-a twice, ' '<-b once, a<-' ' once.
  const std::vector<double> e = data::bigram_context_embeddings("ab ab");
  const int64_t V = data::kText8Vocab, D = data::kBigramEmbeddingDim, a = 0, b = 1, sp = data::kText8Space;
  REQUIRE(e.size() == static_cast<size_t>(V * D));
  CHECK(e[a * D + b] == 1.0);       // P(next = b | a)
  CHECK(e[b * D + sp] == 1.0);      // P(next = ' ' | b)
  CHECK(e[sp * D + a] == 1.0);      // P(next = a | ' ')
  CHECK(e[b * D + V + a] == 1.0);   // P(previous = a | b)
  CHECK(e[a * D + V + sp] == 1.0);  // P(previous = ' ' | a): the first 'a' has no previous character
  CHECK(e[sp * D + V + b] == 1.0);
  double sum = 0;
  for (double v : e) sum += v;
  CHECK(sum == 6.0);  // three characters with both halves normalised; every other row is zero
  CHECK_THROWS_AS(data::bigram_context_embeddings("aB"), std::invalid_argument);
}
