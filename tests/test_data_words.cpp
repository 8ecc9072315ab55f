// Words: the tokenizer on tricky lines, the vocabulary (min count, special ids, its file and its refusals,
// unknown tokens), padded sequences (long ones dropped and counted, or refused with their line and length),
// the verse and pair readers' refusals, the book split, and text8 through the same interface.
#include <doctest/doctest.h>

#include <algorithm>

#include "data/verses.hpp"
#include "data/bible_books.hpp"
#include "data/words.hpp"
#include "data_testing.hpp"

using namespace diffuse;
using namespace diffuse::data;
using namespace diffuse::testing;

namespace {
using Tokens = std::vector<std::string>;
}  // namespace

TEST_CASE("tokenizer: lower case; words and punctuation apart; apostrophes, hyphens, digits, curly quotes") {
  CHECK(tokenize_words("In the beginning, God created the heavens.") == Tokens{"in", "the", "beginning", ",", "god", "created", "the", "heavens", "."});
  // WEB's curly quotes and apostrophes: the apostrophe inside a word stays (as '), quotes become ASCII.
  CHECK(tokenize_words("God said, “Let there be light,” and God’s Spirit") ==
        Tokens{"god", "said", ",", "\"", "let", "there", "be", "light", ",", "\"", "and", "god's", "spirit"});
  CHECK(tokenize_words("‘Isn’t it?’ the brothers’ sheep") == Tokens{"'", "isn't", "it", "?", "'", "the", "brothers", "'", "sheep"});
  CHECK(tokenize_words("don't 'tis") == Tokens{"don't", "'", "tis"});
  // Hyphens inside words stay; dashes and free hyphens are tokens.
  CHECK(tokenize_words("twenty-nine eight-stringed lyre—and - then -x") ==
        Tokens{"twenty-nine", "eight-stringed", "lyre", "—", "and", "-", "then", "-", "x"});
  // Digits are word characters; ':' and ',' split them.
  CHECK(tokenize_words("John 3:16, 1,000 1st") == Tokens{"john", "3", ":", "16", ",", "1", ",", "000", "1st"});
  // Spanish: accented capitals lower-cased, ¡ ¿ are tokens, « » are quotes.
  CHECK(tokenize_words("¡OH Jehová! ¿ÉL? «Ñandú»") == Tokens{"¡", "oh", "jehová", "!", "¿", "él", "?", "\"", "ñandú", "\""});
  CHECK(tokenize_words("ŁÓDŹ Ÿ") == Tokens{"łódź", "ÿ"});
  // Other punctuation one character a token; white space of every kind separates.
  CHECK(tokenize_words("wait...\tno;(yes)\u00a0[x]\u2003end…") ==
        Tokens{"wait", ".", ".", ".", "no", ";", "(", "yes", ")", "[", "x", "]", "end", "…"});
  CHECK(tokenize_words("").empty());
  CHECK(tokenize_words(" \t ").empty());
  // Joining with spaces and tokenizing again gives the same tokens.
  const Tokens t = tokenize_words("He said, “Don’t—ever—go!” (twenty-two) 3:16");
  std::string joined;
  for (const auto& s : t) joined += s + " ";
  CHECK(tokenize_words(joined) == t);
  CHECK_THROWS_WITH_AS(tokenize_words("ab\xc3"), contains("invalid UTF-8 at byte offset 2"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(tokenize_words("a\xff"), contains("byte offset 1"), std::invalid_argument);
  CHECK_THROWS_AS(tokenize_words("\xc0\xaf"), std::invalid_argument);  // overlong '/'
}

TEST_CASE("vocabulary: special ids, min count, order, encode with unknowns, decode") {
  CHECK(kPadId == 0);
  CHECK(kUnkId == 1);
  CHECK(kBosId == 2);
  CHECK(kEosId == 3);
  TokenCounts counts;
  counts.add({"the", "cat", "the", "dog", "a"});
  counts.add({"the", "dog", "a", "zebra"});
  CHECK(counts.total() == 9);
  CHECK(counts.count("the") == 3);
  const Vocabulary v = Vocabulary::build(counts, 2);
  // the (3), then a and dog (2 each) in byte order; cat and zebra (1) below k = 2.
  CHECK(v.tokens() == Tokens{"<pad>", "<unk>", "<bos>", "<eos>", "the", "a", "dog"});
  CHECK(v.size() == 7);
  CHECK(Vocabulary::build(counts, 1).size() == 9);
  CHECK(Vocabulary::build(counts, 4).size() == kNumSpecialTokens);
  CHECK_THROWS_AS(Vocabulary::build(counts, 0), std::invalid_argument);
  int64_t unknown = 0;
  CHECK(v.encode({"the", "cat", "dog", "zebra"}, &unknown) == std::vector<int32_t>{4, kUnkId, 6, kUnkId});
  CHECK(unknown == 2);
  CHECK(v.decode(std::vector<int32_t>{kBosId, 4, 5, kEosId, kPadId, kPadId}) == "the a");
  CHECK(v.decode(std::vector<int32_t>{kBosId, 4, kUnkId, kEosId, kPadId}, true) == "<bos> the <unk> <eos>");
  CHECK_THROWS_WITH_AS(v.decode(std::vector<int32_t>{7}), contains("id 7 is outside 0..6"), std::out_of_range);
  TokenCounts special;
  special.add({"<unk>", "<unk>"});
  CHECK_THROWS_WITH_AS(Vocabulary::build(special, 1), contains("special token <unk>"), std::invalid_argument);
}

TEST_CASE("vocabulary file: round trip; refusals name the file and line") {
  TempDir dir("words");
  const std::string p = dir.file("vocab.txt");
  TokenCounts counts;
  counts.add(tokenize_words("“Jehová” is here, and God’s word is here; é"));
  const Vocabulary v = Vocabulary::build(counts, 1);
  save_vocabulary(v, p);
  CHECK(load_vocabulary(p) == v);
  CHECK(load_vocabulary(p).id("god's") == v.id("god's"));
  const std::vector<uint8_t> bytes = read_bytes(p);
  // Count 2 first (", here, is in byte order), then the words seen once.
  CHECK(std::string(bytes.begin(), bytes.begin() + 36) == "<pad>\n<unk>\n<bos>\n<eos>\n\"\nhere\nis\n,\n");

  write_text(p, "");
  CHECK_THROWS_WITH_AS(load_vocabulary(p), contains(p + ": empty"), std::runtime_error);
  write_text(p, "<pad>\n<bos>\n<unk>\n<eos>\nthe\n");
  CHECK_THROWS_WITH_AS(load_vocabulary(p), contains(p + ": line 2: '<bos>' where the special token <unk> belongs"), std::runtime_error);
  write_text(p, "<pad>\n<unk>\n");
  CHECK_THROWS_WITH_AS(load_vocabulary(p), contains("only 2 lines"), std::runtime_error);
  write_text(p, "<pad>\n<unk>\n<bos>\n<eos>\nthe\ncat\nthe\n");
  CHECK_THROWS_WITH_AS(load_vocabulary(p), contains(p + ": line 7: the token 'the' again (first on line 5)"), std::runtime_error);
  write_text(p, "<pad>\n<unk>\n<bos>\n<eos>\nthe\n\ncat\n");
  CHECK_THROWS_WITH_AS(load_vocabulary(p), contains("line 6: an empty token"), std::runtime_error);
  write_text(p, "<pad>\n<unk>\n<bos>\n<eos>\nthe cat\n");
  CHECK_THROWS_WITH_AS(load_vocabulary(p), contains("line 5: the token 'the cat' holds white space"), std::runtime_error);
  write_text(p, "<pad>\n<unk>\n<bos>\n<eos>\n<eos>\n");
  CHECK_THROWS_WITH_AS(load_vocabulary(p), contains("line 5: the special token <eos> again"), std::runtime_error);
  write_text(p, "<pad>\r\n<unk>\n<bos>\n<eos>\n");
  CHECK_THROWS_WITH_AS(load_vocabulary(p), contains("line 1: ends in a carriage return"), std::runtime_error);
  write_text(p, "<pad>\n<unk>\n<bos>\n<eos>\nok\nb\xe9t\n");
  CHECK_THROWS_WITH_AS(load_vocabulary(p), contains("line 6: invalid UTF-8"), std::runtime_error);
  // Only the special tokens, no final newline: a valid (if useless) vocabulary.
  write_text(p, "<pad>\n<unk>\n<bos>\n<eos>");
  CHECK(load_vocabulary(p).size() == 4);
  CHECK_THROWS_WITH_AS(load_vocabulary(dir.file("missing.txt")), contains("does not exist"), std::runtime_error);
}

TEST_CASE("sequences: <bos> text <eos> <pad>...; long ones dropped and counted in training, refused in evaluation") {
  TokenCounts counts;
  counts.add({"a", "b", "c"});
  const Vocabulary v = Vocabulary::build(counts, 1);  // a=4, b=5, c=6
  const std::vector<TokenizedText> texts = {
      {"f:1", {"a", "b"}}, {"f:2", {"a", "b", "c", "a", "b"}}, {"f:3", {"c", "x", "a", "b"}}, {"f:4", {"a", "b", "c", "a", "b", "c"}}};
  SequenceOptions opt;
  opt.length = 6;  // 4 tokens of text
  const EncodedSequences e = encode_sequences(texts, v, opt, LongSequences::DropAndCount);
  CHECK(e.too_long == 2);
  CHECK(e.longest == 6);
  CHECK(e.items == std::vector<int64_t>{0, 2});
  CHECK(e.tokens == 6);
  CHECK(e.unknown == 1);
  CHECK(e.sequences.ids.shape() == Shape{2, 6});
  CHECK(e.sequences.ids.dtype() == DType::I32);
  CHECK(e.sequences.ids.to_vector() == std::vector<double>{2, 4, 5, 3, 0, 0, 2, 6, 1, 4, 5, 3});
  CHECK(e.sequences.lengths == std::vector<int64_t>{4, 6});
  CHECK(e.sequences.pad_id == kPadId);
  CHECK(e.sequences.vocab_size == 7);
  CHECK(e.summary() == "2 sequences of 6; 2 longer than the maximum dropped (longest 6 tokens); 1 of 6 tokens unknown (16.67%)");
  CHECK(v.decode(e.sequences.ids) == "a b c <unk> a b");
  CHECK_THROWS_WITH_AS(encode_sequences(texts, v, opt, LongSequences::Refuse),
                       contains("f:2: 5 tokens, longer than the maximum of 4 (sequences of 6 with their markers); it is not cut"), std::runtime_error);
  // Without markers the whole row is text.
  SequenceOptions bare;
  bare.length = 4;
  bare.bos = bare.eos = false;
  CHECK(encode_sequences({texts[0]}, v, bare, LongSequences::Refuse).sequences.ids.to_vector() == std::vector<double>{4, 5, 0, 0});
  CHECK_THROWS_WITH_AS(encode_sequences({texts[3]}, v, opt, LongSequences::DropAndCount), contains("no sequence of 1 fits"), std::runtime_error);
  opt.length = 2;
  CHECK_THROWS_AS(encode_sequences(texts, v, opt, LongSequences::DropAndCount), std::invalid_argument);
}

TEST_CASE("text8 characters through the same interface") {
  const TokenSequences s = text8_sequences("abc abc ab", 4);
  CHECK(s.ids.shape() == Shape{2, 4});
  CHECK(s.vocab_size == kText8VocabWithMask);
  CHECK(s.pad_id == -1);
  CHECK(s.lengths == std::vector<int64_t>{4, 4});
  CHECK(decode_text8(s.ids) == "abc abc ");
}

TEST_CASE("verse files: references with spaces in the book; refusals name the file and line") {
  TempDir dir("verses");
  const std::string p = dir.file("web.tsv");
  write_text(p, "Genesis 1:1\tIn the beginning, God created.\nSong of Solomon 2:10\tMy beloved spoke.\nI Samuel 3:4\tYahweh called Samuel.");
  const VerseFile f = load_verses(p);
  REQUIRE(f.verses.size() == 3);
  CHECK(f.verses[1].book == "Song of Solomon");
  CHECK(f.verses[1].chapter == 2);
  CHECK(f.verses[1].verse == 10);
  CHECK(f.verses[1].line == 2);
  CHECK(f.verses[2].reference() == "I Samuel 3:4");
  CHECK(f.verses[2].text == "Yahweh called Samuel.");

  const auto refused = [&](const std::string& text, const std::string& message) {
    write_text(p, text);
    CHECK_THROWS_WITH_AS(load_verses(p), contains(p + ": " + message), std::runtime_error);
  };
  refused("", "empty");
  refused("Genesis 1:1\tok\nGenesis 1:2 no tab here\n", "line 2: no tab after the reference");
  refused("Genesis 1:1\tok\n\nGenesis 1:3\tok\n", "line 2: an empty line");
  refused("Genesis 1:1\tok\nGenesis 1\tno verse\n", "line 2: 'Genesis 1' is not a reference 'Book C:V'");
  refused("Genesis 1:x\tbad\n", "line 1: 'Genesis 1:x' is not a reference");
  refused("Genesis 0:1\tbad\n", "line 1: 'Genesis 0:1' is not a reference");
  refused("1:1\tno book\n", "line 1: '1:1' is not a reference");
  refused("Genesis 1:1\t \n", "line 1: no text after the reference");
  refused("Genesis 1:1\ta\tb\n", "line 1: 2 tabs");
  refused("Genesis 1:1\tok\r\n", "line 1: a carriage return");
  refused("Genesis 1:1\tok\nExodus 1:1\tok\nGenesis 1:1\tagain\n", "line 3: the reference 'Genesis 1:1' again (first on line 1)");
  refused("Genesis 1:1\tok\nGenesis 1:2\tb\xc3\x28\n", "line 2: invalid UTF-8 at byte offset");
  CHECK_THROWS_WITH_AS(load_verses(dir.file("none.tsv")), contains("does not exist"), std::runtime_error);
}

TEST_CASE("pair files: three columns with references, or two without; refusals with the line number") {
  TempDir dir("pairs");
  const std::string p = dir.file("kjv_web.tsv");
  write_text(p, "Genesis 1:1\tIn the beginning God created the heaven.\tIn the beginning, God created the heavens.\n"
                "John 1:1\tIn the beginning was the Word\tIn the beginning was the Word\n");
  PairFile f = load_pairs(p);
  CHECK(f.has_references);
  REQUIRE(f.pairs.size() == 2);
  CHECK(f.pairs[1].book == "John");
  CHECK(f.pairs[0].target == "In the beginning, God created the heavens.");
  write_text(p, "the cat\tel gato\nthe dog\tel perro\n");
  f = load_pairs(p);
  CHECK_FALSE(f.has_references);
  CHECK(f.pairs[1].source == "the dog");
  CHECK(f.pairs[1].line == 2);
  CHECK_THROWS_WITH_AS(select_split(f, Text8Split::Train), contains("cannot be split by book"), std::runtime_error);

  const auto refused = [&](const std::string& text, const std::string& message) {
    write_text(p, text);
    CHECK_THROWS_WITH_AS(load_pairs(p), contains(p + ": " + message), std::runtime_error);
  };
  refused("", "empty");
  refused("just one column\n", "line 1: 1 tab-separated column; a pair line is");
  refused("a\tb\tc\td\n", "line 1: 4 tab-separated columns");
  refused("a\tb\nc\td\ne\n", "line 3: 1 tab-separated column where line 1 has 2");
  refused("Genesis 1:1\ta\tb\nthe cat\tel gato\n", "line 2: 2 tab-separated columns where line 1 has 3");
  refused("a\t\n", "line 1: the target is empty");
  refused(" \tb\n", "line 1: the source is empty");
  refused("Gen\ta\tb\n", "line 1: 'Gen' is not a reference");
  refused("Genesis 1:1\ta\tb\nGenesis 1:1\tc\td\n", "line 2: the reference 'Genesis 1:1' again (first on line 1)");

  // An unknown token on either side maps to <unk> and is counted.
  write_text(p, "Genesis 1:1\tthe cat sat\tthe zebra sat\n");
  f = load_pairs(p);
  const std::vector<TokenizedText> src = tokenize_pairs(f.pairs, PairSide::Source, p);
  const std::vector<TokenizedText> tgt = tokenize_pairs(f.pairs, PairSide::Target, p);
  CHECK(tgt[0].where == p + ":1 (Genesis 1:1), target");
  TokenCounts counts = count_tokens(src);
  const Vocabulary v = Vocabulary::build(counts, 1);
  const EncodedSequences e = encode_sequences(tgt, v, SequenceOptions{}, LongSequences::Refuse);
  CHECK(e.unknown == 1);
  CHECK(v.decode(e.sequences.ids) == "the <unk> sat");
  // A source longer than the maximum: refused with its line and length.
  SequenceOptions opt;
  opt.length = 4;
  CHECK_THROWS_WITH_AS(encode_sequences(src, v, opt, LongSequences::Refuse), contains(p + ":1 (Genesis 1:1), source: 3 tokens, longer than the maximum of 2"),
                       std::runtime_error);
}

TEST_CASE("book split: whole books held out; no verse of a test book in training") {
  CHECK(BookSplit{}.of("Genesis") == Text8Split::Train);
  CHECK(BookSplit{}.of("John") == Text8Split::Test);
  CHECK(BookSplit{}.of("I John") == Text8Split::Train);
  CHECK(BookSplit{}.of("Joshua") == Text8Split::Valid);
  for (const std::string& b : kTestBooks) CHECK(std::find(kValidBooks.begin(), kValidBooks.end(), b) == kValidBooks.end());

  std::string text;
  const std::vector<std::string> books = {"Genesis", "Joshua", "Judges", "Proverbs", "Ecclesiastes", "Matthew", "John", "I John", "Philippians", "James", "Tobit"};
  for (const std::string& b : books)
    for (int c = 1; c <= 3; ++c) text += b + " " + std::to_string(c) + ":1\t" + b + " says something.\n";
  const VerseFile f = parse_verses(text, "mem.tsv");
  const std::vector<Verse> train = select_split(f, Text8Split::Train), valid = select_split(f, Text8Split::Valid), test = select_split(f, Text8Split::Test);
  CHECK(train.size() + valid.size() + test.size() == f.verses.size());
  CHECK(test.size() == 4 * 3);
  CHECK(valid.size() == 3 * 3);
  for (const Verse& v : train) {
    CHECK(std::find(kTestBooks.begin(), kTestBooks.end(), v.book) == kTestBooks.end());
    CHECK(std::find(kValidBooks.begin(), kValidBooks.end(), v.book) == kValidBooks.end());
  }
  for (const Verse& v : test) CHECK(std::find(kTestBooks.begin(), kTestBooks.end(), v.book) != kTestBooks.end());
  // The vocabulary of the training split never sees a word only the test books hold.
  const VerseFile g = parse_verses("Genesis 1:1\tlight\nJohn 1:1\tword\n", "mem2.tsv");
  const Vocabulary v = Vocabulary::build(count_tokens(tokenize_verses(select_split(g, Text8Split::Train), g.path)), 1);
  CHECK(v.contains("light"));
  CHECK_FALSE(v.contains("word"));
  CHECK_THROWS_WITH_AS(select_split(g, Text8Split::Valid), contains("mem2.tsv: no verse in the valid split (books Joshua, Ecclesiastes, Galatians, James)"),
                       std::runtime_error);
  BookSplit custom;
  custom.valid = {"Genesis"};
  CHECK(select_split(g, Text8Split::Valid, custom).size() == 1);
  const std::vector<TokenizedText> t = tokenize_verses(select_split(g, Text8Split::Test), g.path);
  CHECK(t[0].where == "mem2.tsv:2 (John 1:1)");
  CHECK(t[0].tokens == Tokens{"word"});
}

TEST_CASE("the Bibles' books: 80 names, 27 of the New Testament, every group held; an unknown book is refused") {
  using namespace diffuse::data;
  CHECK(bible_books().size() == 80);
  int new_testament = 0;
  std::vector<int> per_group(kBookGroupNames.size(), 0);
  for (const BookFacts& b : bible_books()) {
    new_testament += b.testament == Testament::New;
    ++per_group[static_cast<size_t>(b.group)];
  }
  CHECK(new_testament == 27);
  CHECK(per_group == std::vector<int>{5, 21, 9, 20, 4, 21});
  CHECK(book_facts("Acts").group == BookGroup::History);
  CHECK(book_facts("Revelation of John").group == BookGroup::Prophets);
  CHECK(book_facts("Sirach").testament == Testament::Old);
  CHECK_THROWS_WITH_AS(book_facts("Hezekiah"), doctest::Contains("\"Hezekiah\""), std::invalid_argument);
}
