// The text families' corpus (apps/text_corpus.hpp) on a made-up verse file: --data's kind, the word
// training rows (uniform over the rows, resumable), the evaluation rows (file order, a long verse refused
// with its reference), the units of bits per token, the vocabulary a run records and the refusal of
// another, templates and sample lines, and decoding; characters through the same interface. The pair kind
// (apps/pair_corpus.hpp) on a made-up pair file: one vocabulary of both sides, the rows and their given
// mask, long pairs dropped and counted in training and refused in evaluation, <unk> counted.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "apps/pair_corpus.hpp"
#include "apps/text_corpus.hpp"
#include "apps/word_vocabulary.hpp"
#include "data/verses.hpp"
#include "data/words.hpp"
#include "data_testing.hpp"
#include "metrics/text_metrics.hpp"

using namespace diffuse;
using namespace diffuse::testing;
using data::Text8Split;
using json = nlohmann::json;

namespace {

// Genesis and Exodus train; Joshua and James are valid; Judges and John are test (data/verses.hpp).
// Judges 2:1 has 13 tokens: too long for rows of 12 positions (10 tokens and the markers).
const char* kVerses =
    "Genesis 1:1\tIn the beginning God made the heaven.\n"
    "Genesis 1:2\tAnd the earth was good.\n"
    "Genesis 1:3\tAnd God said, let there be light.\n"
    "Exodus 1:1\tThe people went out of the land.\n"
    "Exodus 1:2\tAnd the Lord said unto Moses, go.\n"
    "Exodus 1:3\tThe land was good and the people were many.\n"
    "Joshua 1:1\tThe Lord said unto Joshua.\n"
    "James 1:1\tThe people were good.\n"
    "Judges 1:1\tAnd the people said unto the Lord.\n"
    "Judges 1:2\tThe land was good.\n"
    "Judges 2:1\tAnd the Lord said unto the people of the land, go.\n"
    "John 1:1\tIn the beginning was light.\n";

// A run's configuration for a word corpus before its run starts, as a word preset leaves it.
json verse_config(int64_t min_count = 1) {
  return {{"preset", "test"}, {"model", {{"seq_len", 12}}}, {"data", {{"dataset", "verses"}, {"min_count", min_count}}}};
}

json text8_config() {
  return {{"preset", "test"}, {"model", {{"in_states", 28}, {"out_states", 27}, {"seq_len", 8}}}, {"data", {{"dataset", "text8"}}}};
}

}  // namespace

TEST_CASE("sequence sampler: draws uniform over the rows, reproducible, resumable from its state") {
  const int64_t N = 7, L = 3;
  std::vector<int32_t> grid;
  for (int64_t r = 0; r < N; ++r)
    for (int64_t j = 0; j < L; ++j) grid.push_back(static_cast<int32_t>(10 * r + j));
  auto rows = std::make_shared<data::TokenSequences>();
  rows->ids = Tensor::from_vector(grid, {N, L});
  data::SequenceSampler sampler(rows, 11);
  const std::vector<int64_t> peeked = sampler.peek_rows(4);
  const Tensor batch = sampler.next(4);
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t j = 0; j < L; ++j) CHECK(batch.data<int32_t>()[b * L + j] == 10 * peeked[static_cast<size_t>(b)] + j);

  // 70,000 draws: each row's count within 4.5 standard deviations of 10,000 (binomial, p = 1/7), and a
  // chi-square of 6 degrees of freedom below its 0.999 quantile (22.46).
  std::vector<int64_t> hits(N, 0);
  int64_t outside = 0;
  for (const int64_t r : data::SequenceSampler(rows, 5).peek_rows(70000)) {
    if (r < 0 || r >= N) ++outside;
    else ++hits[static_cast<size_t>(r)];
  }
  CHECK(outside == 0);
  const double expected = 10000, sd = std::sqrt(70000.0 * (1.0 / 7) * (6.0 / 7));
  double chi2 = 0;
  for (const int64_t h : hits) {
    CHECK(std::abs(static_cast<double>(h) - expected) < 4.5 * sd);
    chi2 += (static_cast<double>(h) - expected) * (static_cast<double>(h) - expected) / expected;
  }
  CHECK(chi2 < 22.46);

  data::SequenceSampler run(rows, 77);
  for (int k = 1; k <= 4; ++k) run.next(k);
  const auto saved = run.state().to_strings();
  CHECK(saved.at("rows_drawn") == "10");
  std::vector<std::vector<double>> later;
  for (int k = 0; k < 3; ++k) later.push_back(run.next(5).to_vector());
  data::SequenceSampler resumed(rows, 0);
  resumed.restore(data::SequenceSamplerState::from_strings(saved));
  for (int k = 0; k < 3; ++k) CHECK(resumed.next(5).to_vector() == later[static_cast<size_t>(k)]);

  auto fewer = std::make_shared<data::TokenSequences>();
  fewer->ids = Tensor::from_vector(std::vector<int32_t>(6, 0), {2, L});
  data::SequenceSampler other(fewer, 77);
  CHECK_THROWS_WITH_AS(other.restore(data::SequenceSamplerState::from_strings(saved)), contains("saved for 7 rows of 3"),
                       std::runtime_error);
}

TEST_CASE("--data: a verse file is words, a text8 file or folder characters; anything else is refused naming the file") {
  TempDir dir("text_corpus");
  write_text(dir.file("verses.tsv"), kVerses);
  write_text(dir.file("text8"), "the quick brown fox jumps over the lazy dog and the quick brown cat");
  write_text(dir.file("table.tsv"), "name\tvalue\n");

  const auto words = load_text_corpus(dir.file("verses.tsv"), verse_config(), "the test");
  CHECK(words->vocabulary()->dataset() == "verses");
  CHECK(words->item_noun() == "verses");
  const auto chars = load_text_corpus(dir.path().string(), text8_config(), "the test");  // a folder holding `text8`
  CHECK(chars->vocabulary()->dataset() == "text8");
  CHECK(chars->vocabulary()->size() == 27);

  CHECK_THROWS_WITH_AS(load_text_corpus(dir.file("table.tsv"), verse_config(), "the test"),
                       contains("table.tsv is neither a verse file"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(load_text_corpus(dir.file("verses.tsv"), text8_config(), "the test"),
                       contains("verses.tsv is a verse file (words), but the test has data.dataset 'text8'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(load_text_corpus(dir.file("text8"), verse_config(), "the test"),
                       contains("is a text8-format file (characters), but the test has data.dataset 'verses'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(load_text8_data(dir.file("verses.tsv"), "characters only"), contains("verse file (words); characters only"),
                       std::invalid_argument);
}

TEST_CASE("word rows: training drops and counts long verses; draws resume from the checkpoint's string") {
  TempDir dir("text_corpus");
  write_text(dir.file("verses.tsv"), kVerses);
  const auto corpus = load_text_corpus(dir.file("verses.tsv"), verse_config(), "the test");
  // Rows of 10 positions hold 8 tokens: Genesis 1:3 (9 tokens), Exodus 1:2 (9) and 1:3 (10) are dropped.
  auto rows = corpus->training_rows(10, 3);
  CHECK(rows->summary().find("3 sequences of 10; 3 longer than the maximum dropped (longest 10 tokens)") != std::string::npos);
  rows->next(5);
  const std::string state = rows->state();
  const std::vector<double> next = rows->next(4).rows.to_vector();
  auto resumed = corpus->training_rows(10, 0);
  resumed->restore(state);
  CHECK(resumed->next(4).rows.to_vector() == next);
  CHECK(!resumed->next(1).given.defined());  // an unconditional corpus gives no mask
  CHECK_THROWS_WITH_AS(corpus->training_rows(12, 3)->restore(state), contains("saved for 3 rows of 10"), std::runtime_error);
}

TEST_CASE("evaluation rows: the split's verses in file order; a verse too long is refused with its reference") {
  TempDir dir("text_corpus");
  write_text(dir.file("verses.tsv"), kVerses);
  const auto corpus = load_text_corpus(dir.file("verses.tsv"), verse_config(), "the test");
  const TextVocabulary& v = *corpus->vocabulary();
  CHECK(corpus->available_items(Text8Split::Test, 12) == 4);
  const TextItems two = corpus->items(Text8Split::Test, 2, 12);
  REQUIRE(two.rows.shape() == Shape{2, 12});
  CHECK(v.decode(two.rows.narrow(0, 0, 1)) == "and the people said unto the lord .");
  CHECK(v.decode(two.rows.narrow(0, 1, 1)) == "the land was good .");
  CHECK_THROWS_WITH_AS(corpus->items(Text8Split::Test, 0, 12), contains("verses.tsv:11 (Judges 2:1): 13 tokens"), std::runtime_error);
  // Evaluation leaves the long verse out and counts it; the books stay with their rows, and first() of a set
  // shorter than asked gives what there is.
  const TextItems kept = corpus->items(Text8Split::Test, 0, 12, data::LongSequences::DropAndCount);
  CHECK(kept.count() == 3);
  CHECK(kept.dropped == 1);
  CHECK(kept.books.size() == 3);
  CHECK(kept.first(100).count() == 3);
  CHECK(kept.first(100).books == kept.books);
  CHECK_THROWS_WITH_AS(corpus->items(Text8Split::Test, 3, 12),
                       contains("longer than the maximum of 10 (rows of 12 with <bos> and <eos>); a verse is never cut. The first 2 "
                                "verses of the test split fit; all of them need rows of 15 (model.seq_len)"),
                       std::runtime_error);
  CHECK(corpus->items(Text8Split::Test, 0, 16).count() == 4);  // rows of 16 hold it
  CHECK(corpus->items(Text8Split::Valid, 0, 12).count() == 2);
}

TEST_CASE("bits per unit: a verse's text tokens plus <eos>; a chunk's L characters") {
  TempDir dir("text_corpus");
  write_text(dir.file("verses.tsv"), kVerses);
  write_text(dir.file("text8"), "the quick brown fox jumps over the lazy dog and the quick brown cat");
  const auto words = load_text_corpus(dir.file("verses.tsv"), verse_config(), "the test");
  const TextItems verses = words->items(Text8Split::Test, 2, 12);
  // "And the people said unto the Lord." is 8 tokens, "The land was good." 5: with <eos>, 9 and 6 (<bos> and
  // the pads are scored by the models but not counted).
  CHECK(verses.units == std::vector<int64_t>{9, 6});
  CHECK(verses.to_bits(0) == doctest::Approx(1.0 / (9 * std::numbers::ln2)));
  CHECK(verses.mean_to_bits() == doctest::Approx((1.0 / 9 + 1.0 / 6) / 2 / std::numbers::ln2));
  const TextItems first = verses.first(1);
  CHECK(first.count() == 1);
  CHECK(first.units == std::vector<int64_t>{9});

  const auto chars = load_text_corpus(dir.file("text8"), text8_config(), "the test");
  const TextItems chunks = chars->items(Text8Split::Train, 0, 8);
  CHECK(chunks.noun == "chunks");
  CHECK(chunks.units == std::vector<int64_t>(static_cast<size_t>(chunks.count()), 8));
  CHECK(chunks.mean_to_bits() == 1.0 / (8 * std::numbers::ln2));  // exactly what text8's evaluation always used
  CHECK(chars->vocabulary()->figure() == "bits_per_char");
  CHECK(words->vocabulary()->figure() == "bits_per_token");
}

TEST_CASE("the run's vocabulary: recorded in the configuration, read back, another one refused naming both") {
  TempDir dir("text_corpus");
  write_text(dir.file("verses.tsv"), kVerses);
  json config = verse_config(2);
  const auto corpus = load_text_corpus(dir.file("verses.tsv"), config, "the test");
  record_text_corpus(config, *corpus);
  const int64_t V = corpus->vocabulary()->size();
  // Seen at least twice in Genesis and Exodus, by descending count, then in byte order.
  CHECK(V == 4 + 10);
  CHECK(config["model"]["in_states"] == V + 1);
  CHECK(config["model"]["out_states"] == V);
  CHECK(config["data"]["vocabulary"] == "<pad> <unk> <bos> <eos> the . and , god good land people said was");
  const auto recorded = text_vocabulary(config, "ckpt.safetensors");
  CHECK(recorded->identity() == corpus->vocabulary()->identity());
  CHECK(recorded->identity().rfind("words: 14 tokens, FNV-1a 64 ", 0) == 0);
  // The same corpus loads against its own record; the vocabulary file is data/words.hpp's.
  load_text_corpus(dir.file("verses.tsv"), config, "ckpt.safetensors");
  recorded->write_run_files(dir.path());
  CHECK(data::load_vocabulary(dir.file("vocabulary.txt")).size() == V);

  // Another corpus: "Moses" now in Genesis too, so it enters the vocabulary at k = 2.
  std::string other = kVerses;
  other.replace(other.find("the heaven"), 3, "Moses");
  write_text(dir.file("other.tsv"), other);
  CHECK_THROWS_WITH_AS(load_text_corpus(dir.file("other.tsv"), config, "ckpt.safetensors"),
                       contains("the vocabulary of " + dir.file("other.tsv") + " (its training books at data.min_count 2) has 15 "
                                "tokens, the one ckpt.safetensors records (data.vocabulary) 14; they first differ at id"),
                       std::invalid_argument);
  // Another min count is another vocabulary.
  json k1 = config;
  k1["data"]["min_count"] = 1;
  CHECK_THROWS_WITH_AS(load_text_corpus(dir.file("verses.tsv"), k1, "ckpt.safetensors"), contains("they first differ"),
                       std::invalid_argument);
  // The model's sizes must be the vocabulary's.
  json wrong = config;
  wrong["model"]["out_states"] = 27;
  CHECK_THROWS_WITH_AS(text_vocabulary(wrong, "ckpt.safetensors"), contains("model.in_states / model.out_states: 15 / 27"),
                       std::invalid_argument);
  json missing = verse_config();
  CHECK_THROWS_WITH_AS(text_vocabulary(missing, "ckpt.safetensors"), contains("ckpt.safetensors: data.vocabulary is missing"),
                       std::invalid_argument);
  // A characters configuration records nothing and reads back the characters.
  json chars = text8_config();
  CHECK(text_vocabulary(chars, "x")->identity() == "characters 'abcdefghijklmnopqrstuvwxyz '");
}

TEST_CASE("words: decode shows the mask and leaves out the row's frame; templates and sample lines") {
  TempDir dir("text_corpus");
  write_text(dir.file("verses.tsv"), kVerses);
  const auto corpus = load_text_corpus(dir.file("verses.tsv"), verse_config(2), "the test");
  const TextVocabulary& v = *corpus->vocabulary();
  v.write_run_files(dir.path());
  const data::Vocabulary words = data::load_vocabulary(dir.file("vocabulary.txt"));
  const int32_t the = words.id("the"), god = words.id("god"), mask = v.mask_id();
  CHECK(mask == v.size());
  const Tensor row = Tensor::from_vector(std::vector<int32_t>{data::kBosId, the, mask, god, data::kUnkId, data::kEosId, data::kPadId},
                                         {1, 7});
  CHECK(v.decode(row) == "the [MASK] god <unk>");
  // Only the row's frame is left out: special tokens inside it are shown.
  const auto decoded = [&](std::vector<int32_t> ids) {
    const int64_t n = static_cast<int64_t>(ids.size());
    return v.decode(Tensor::from_vector(ids, {1, n}));
  };
  CHECK(decoded({data::kBosId, the, data::kPadId, god, data::kEosId, data::kPadId}) == "the <pad> god");
  CHECK(decoded({the, data::kEosId, god, data::kBosId}) == "the <eos> god <bos>");
  CHECK(decoded({data::kBosId, data::kEosId, data::kPadId}).empty());
  CHECK(v.mask_shown() == "[MASK]");

  // The template starts after <bos>; "God," is tokenized as the corpus is; '_' a position to generate.
  const Tensor given = v.parse_template("the _ God, <eos>", 8);
  CHECK(given.to_vector() == std::vector<double>{data::kBosId, static_cast<double>(the), -1, static_cast<double>(god),
                                                 static_cast<double>(words.id(",")), data::kEosId, -1, -1});
  CHECK_THROWS_WITH_AS(v.parse_template("the zebra _", 8), contains("--template: the word 'zebra' is not in the vocabulary"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(v.parse_template("the the the the the the the the", 8), contains("8 tokens, but the model writes 7 after <bos>"),
                       std::invalid_argument);

  // A samples file's line: the ids of its tokens (no markers); <unk> as decode writes it.
  CHECK(v.encode_line("the god <unk> .", {"s.txt", 3, 40}) ==
        std::vector<int32_t>{the, god, data::kUnkId, words.id(".")});
  CHECK_THROWS_WITH_AS(v.encode_line("the zebra", {"s.txt", 3, 40}), contains("s.txt: line 3: the word 'zebra' is not in the vocabulary"),
                       std::invalid_argument);
  CHECK(v.row_start() == std::vector<int32_t>{data::kBosId});
  CHECK(v.row_end() == std::vector<int32_t>{data::kEosId});
  // The unigram entropy of token ids: "the god the god" is two tokens equally often, 1 bit.
  CHECK(v.unigram_entropy_bits({"the god", "the god"}) == doctest::Approx(1.0));
  CHECK(metrics::id_entropy_bits({{1, 2, 3, 4}}) == doctest::Approx(2.0));
}

TEST_CASE("characters through the same interface: decode, templates, sample lines as before") {
  const auto v = character_vocabulary();
  CHECK(v->decode(Tensor::from_vector(std::vector<int32_t>{19, 7, 4, 26, 27}, {1, 5})) == "the _");
  CHECK(v->parse_template("a_c", 5).to_vector() == std::vector<double>{0, -1, 2, -1, -1});
  CHECK_THROWS_WITH_AS(v->parse_template("aBc", 5), contains("the character 'B' at offset 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(v->encode_line("the Quick", {"s.txt", 2, 10}), contains("s.txt: 'Q' at offset 14 (line 2, column 5)"),
                       std::invalid_argument);
  CHECK(v->row_start().empty());
  CHECK(v->units() == "characters");
}

namespace {

// Genesis and Exodus train; Joshua is valid; Judges and John are test. Judges 2:1's source has 7 tokens, too
// many for rows of 16 (at most (16 - 3) / 2 = 6 a side); Exodus 1:2's target has 7 (dropped in training).
const char* kPairs =
    "Genesis 1:1\tIn the beginning God created.\tIn the beginning God made.\n"
    "Genesis 1:2\tAnd God saw the light.\tGod saw the light.\n"
    "Exodus 1:1\tAnd the people went.\tThe people left.\n"
    "Exodus 1:2\tAnd Moses spake.\tMoses said to the people, go out.\n"
    "Joshua 1:1\tThe Lord spake unto Joshua.\tYahweh spoke to Joshua.\n"
    "Judges 1:1\tAnd the people saw.\tThe people saw Zion.\n"
    "Judges 2:1\tAnd the people saw the light of God.\tThe people saw.\n"
    "John 1:1\tIn the beginning.\tIn the beginning.\n";

json pair_config(int64_t min_count = 1) {
  return {{"preset", "test"}, {"model", {{"seq_len", 16}}}, {"data", {{"dataset", "pairs"}, {"min_count", min_count}}}};
}

}  // namespace

TEST_CASE("pairs: a pair file is its own kind; one vocabulary of both sides of the training books") {
  TempDir dir("text_corpus");
  write_text(dir.file("pairs.tsv"), kPairs);
  write_text(dir.file("verses.tsv"), kVerses);
  const auto corpus = load_text_corpus(dir.file("pairs.tsv"), pair_config(), "the test");
  const TextVocabulary& v = *corpus->vocabulary();
  CHECK(v.dataset() == "pairs");
  CHECK(v.conditional());
  CHECK(!load_text_corpus(dir.file("verses.tsv"), verse_config(), "the test")->vocabulary()->conditional());
  CHECK(corpus->item_noun() == "pairs");
  json config = pair_config(2);
  const auto k2 = load_text_corpus(dir.file("pairs.tsv"), config, "the test");
  record_text_corpus(config, *k2);
  // Seen at least twice over the four training pairs, both sides: "spake" only in the sources (once), "saw"
  // twice (a source and a target), "moses" twice (both sides of Exodus 1:2).
  const data::Vocabulary words = vocabulary_from_config(config["data"], "x");
  CHECK(words.contains("saw"));
  CHECK(words.contains("moses"));
  CHECK(!words.contains("spake"));
  CHECK(!words.contains("zion"));  // test books never count
  CHECK(text_vocabulary(config, "ckpt")->conditional());
  CHECK(text_vocabulary(config, "ckpt")->identity() == k2->vocabulary()->identity());

  CHECK_THROWS_WITH_AS(load_text_corpus(dir.file("pairs.tsv"), verse_config(), "the test"),
                       contains("pairs.tsv is a pair file (aligned source and target), but the test has data.dataset 'verses': give "
                                "a verse file"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(load_text_corpus(dir.file("verses.tsv"), pair_config(), "the test"),
                       contains("is a verse file (words), but the test has data.dataset 'pairs': give a pair file"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(load_text8_data(dir.file("pairs.tsv"), "characters only"),
                       contains("is a pair file (aligned source and target); characters only"), std::invalid_argument);
  // A pair file that is not three tab-separated columns throughout is refused with its line.
  write_text(dir.file("bad.tsv"), std::string(kPairs) + "John 1:2\tonly a source\n");
  CHECK_THROWS_WITH_AS(load_text_corpus(dir.file("bad.tsv"), pair_config(), "the test"),
                       contains("bad.tsv: line 9: 2 tab-separated columns where line 1 has 3"), std::runtime_error);
}

TEST_CASE("pair rows: [<bos> x <eos> y <eos> <pad>...] with the given mask; training drops long pairs and resumes") {
  TempDir dir("text_corpus");
  write_text(dir.file("pairs.tsv"), kPairs);
  const auto corpus = load_text_corpus(dir.file("pairs.tsv"), pair_config(), "the test");
  auto rows = corpus->training_rows(16, 3);
  CHECK(rows->summary().find("3 pairs of 16; 1 with a side longer than the maximum dropped (0 sources, 1 targets; longest 9 "
                             "tokens); 0 of 32 tokens unknown") != std::string::npos);
  const TextRows batch = rows->next(6);
  REQUIRE(batch.given.defined());
  REQUIRE(batch.given.shape() == Shape{6, 16});
  for (int64_t b = 0; b < 6; ++b) {
    const int32_t* x = batch.rows.data<int32_t>() + b * 16;
    const int32_t* g = batch.given.data<int32_t>() + b * 16;
    CHECK(x[0] == data::kBosId);
    const int64_t sep = std::find(x, x + 16, data::kEosId) - x;  // the source's <eos>
    for (int64_t n = 0; n < 16; ++n) CHECK(g[n] == (n <= sep ? 1 : 0));
    CHECK(std::find(x + sep + 1, x + 16, data::kEosId) != x + 16);  // the target's <eos>
  }
  const std::string state = rows->state();
  const std::vector<double> next = rows->next(4).rows.to_vector();
  auto resumed = corpus->training_rows(16, 0);
  resumed->restore(state);
  CHECK(resumed->next(4).rows.to_vector() == next);

  // Evaluation: the split in file order; units are the target's tokens and its <eos>; the source and the
  // reference as tokenized text, a word outside the vocabulary as written (and counted as <unk> in the rows).
  const TextItems one = corpus->items(Text8Split::Test, 1, 16);
  const TextVocabulary& v = *corpus->vocabulary();
  CHECK(v.decode(one.rows) == "and the people saw . <eos> the people saw <unk> .");
  CHECK(one.given.to_vector() == std::vector<double>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(one.units == std::vector<int64_t>{6});
  CHECK(one.sources == std::vector<std::string>{"and the people saw ."});
  CHECK(one.references == std::vector<std::string>{"the people saw zion ."});
  CHECK(one.names == std::vector<std::string>{"Judges 1:1"});
  CHECK(one.unknown == 1);
  CHECK(one.tokens == 10);
  CHECK(one.first(1).given.to_vector() == one.given.to_vector());
  CHECK(one.first(1).references == one.references);
  CHECK_THROWS_WITH_AS(corpus->items(Text8Split::Test, 0, 16),
                       contains("pairs.tsv:7 (Judges 2:1), source: 9 tokens, longer than the maximum of 6 a side (rows of 16: "
                                "<bos> source <eos> target <eos>); a pair is never cut. The first 1 pairs of the test split fit; "
                                "all of them need rows of 21 (model.seq_len)"),
                       std::runtime_error);
  CHECK(corpus->items(Text8Split::Test, 0, 21).count() == 3);
  CHECK(corpus->items(Text8Split::Test, 0, 16, data::LongSequences::DropAndCount).dropped == 1);
}

TEST_CASE("pair rows, data.pair_layout halves: the target from position L / 2, the first half given; packed when absent") {
  TempDir dir("text_corpus");
  write_text(dir.file("pairs.tsv"), kPairs);
  json config = pair_config();
  CHECK(pair_layout_of(config) == data::PairLayout::Packed);  // runs before the field read as they were written
  config["data"]["pair_layout"] = "halves";
  const auto corpus = load_text_corpus(dir.file("pairs.tsv"), config, "the test");
  const TextVocabulary& v = *corpus->vocabulary();
  // Judges 1:1: [<bos> and the people saw . <eos> <pad>] [the people saw <unk> . <eos> <pad> <pad>]
  const TextItems one = corpus->items(Text8Split::Test, 1, 16);
  const std::vector<double> ids = one.rows.to_vector();
  CHECK(ids[0] == data::kBosId);
  CHECK(ids[6] == data::kEosId);
  CHECK(ids[7] == data::kPadId);
  CHECK(v.decode(one.rows.slice(1, 8, 16)) == "the people saw <unk> .");
  CHECK(v.decode(one.rows) == "and the people saw . <eos> the people saw <unk> .");  // the source half's pads left out
  // A sample's template is the source half; the target's half is free.
  const std::vector<double> t = v.parse_template("and the people saw . <eos>", 16).to_vector();
  CHECK(std::vector<double>(t.begin(), t.begin() + 8) == std::vector<double>(ids.begin(), ids.begin() + 8));
  CHECK(std::vector<double>(t.begin() + 8, t.end()) == std::vector<double>(8, -1));
  CHECK_THROWS_WITH_AS(v.parse_template("and the people saw .", 16), contains("a pair model's template is its source, \"SOURCE <eos>\""),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(v.parse_template("and the people saw the people saw <eos>", 16),
                       contains("a source of 7 tokens, longer than the maximum of 6 (rows of 16: <bos> source <eos> in the first 8"),
                       std::invalid_argument);
  CHECK(ids[13] == data::kEosId);
  CHECK(one.given.to_vector() == std::vector<double>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(data::pair_given(one.rows, data::PairLayout::Halves).to_vector() == one.given.to_vector());
  CHECK(one.units == std::vector<int64_t>{6});
  // Training rows: the same layout and mask, for every row drawn.
  const TextRows batch = corpus->training_rows(16, 3)->next(6);
  for (int64_t b = 0; b < 6; ++b) {
    const int32_t* x = batch.rows.data<int32_t>() + b * 16;
    const int32_t* g = batch.given.data<int32_t>() + b * 16;
    CHECK(x[0] == data::kBosId);
    CHECK(std::find(x, x + 8, data::kEosId) != x + 8);       // the source's <eos> in the first half
    CHECK(x[8] != data::kPadId);                              // the target starts at L / 2
    CHECK(std::find(x + 8, x + 16, data::kEosId) != x + 16);  // and ends in the second
    for (int64_t n = 0; n < 16; ++n) CHECK(g[n] == (n < 8 ? 1 : 0));
  }
  // The same maximum a side as packed (L / 2 - 2 = 6 of 16), the layout in the refusal.
  CHECK_THROWS_WITH_AS(corpus->items(Text8Split::Test, 0, 16),
                       contains("source: 9 tokens, longer than the maximum of 6 a side (rows of 16: <bos> source <eos> in the first "
                                "8, target <eos> in the rest); a pair is never cut. The first 1 pairs of the test split fit; all of "
                                "them need rows of 22 (model.seq_len)"),
                       std::runtime_error);
  CHECK(corpus->items(Text8Split::Test, 0, 22).count() == 3);
  // A row whose source has no <eos> in its first half is not a halves row.
  CHECK_THROWS_WITH_AS(data::pair_given(Tensor::from_vector(std::vector<int32_t>{data::kBosId, 5, 6, 7, data::kEosId, 8}, {1, 6}),
                                        data::PairLayout::Halves),
                       contains("row 0 has no <eos> closing its source in its first half"), std::invalid_argument);
  config["data"]["pair_layout"] = "interleaved";
  CHECK_THROWS_WITH_AS(load_text_corpus(dir.file("pairs.tsv"), config, "the test"), contains("data.pair_layout: 'interleaved' is not a layout"),
                       std::invalid_argument);
}
