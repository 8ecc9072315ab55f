// BLEU-4, ROUGE-L and self-BLEU (metrics/bleu.hpp) against values worked out by hand, and the 13a
// tokenisation against sacreBLEU's rules.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include "metrics/bleu.hpp"

using namespace diffuse::metrics;

TEST_CASE("13a tokenisation: punctuation split off, periods and commas kept inside numbers, apostrophes and hyphens kept") {
  const std::vector<std::string> t = tokenize_13a("Hello, World. It's 3.5 dollars-ish; ok? 1,000 and 1990-2000 (yes)");
  const std::vector<std::string> expected = {"hello", ",", "world", ".", "it's", "3.5", "dollars-ish", ";", "ok", "?",
                                             "1,000", "and", "1990", "-", "2000", "(", "yes", ")"};
  CHECK(t == expected);
  CHECK(tokenize_13a("Mixed Case", false) == std::vector<std::string>{"Mixed", "Case"});
  CHECK(tokenize_13a("a &amp; b") == std::vector<std::string>{"a", "&", "b"});
}

TEST_CASE("BLEU-4 by hand: a partial match with no 4-gram (exp smoothing), a perfect match, no match at all") {
  // 1-grams 5/6, 2-grams 3/5, 3-grams 1/4, 4-grams 0/3 -> 100 / (2 * 3) with the exp smoothing; BP = 1.
  const BleuScore s = corpus_bleu({"the cat sat on the mat"}, std::vector<std::string>{"The cat is on the mat"});
  CHECK(s.matches == std::array<int64_t, 4>{5, 3, 1, 0});
  CHECK(s.totals == std::array<int64_t, 4>{6, 5, 4, 3});
  const double expected = std::exp((std::log(500.0 / 6) + std::log(60.0) + std::log(25.0) + std::log(100.0 / 6)) / 4);
  CHECK(s.score == doctest::Approx(expected).epsilon(1e-12));
  CHECK(s.score == doctest::Approx(37.99).epsilon(1e-3));
  CHECK(corpus_bleu({"the cat sat on the mat"}, std::vector<std::string>{"the cat sat on the mat"}).score == doctest::Approx(100.0));
  const BleuScore none = corpus_bleu({"a b c d"}, std::vector<std::string>{"e f g h"});
  CHECK(none.score == 0.0);
  CHECK(none.matches == std::array<int64_t, 4>{0, 0, 0, 0});
}

TEST_CASE("BLEU's brevity penalty: a hypothesis shorter than its reference") {
  // Every n-gram matches, c = 4 < r = 6: BP = exp(1 - 6/4).
  const BleuScore s = corpus_bleu({"the cat sat on"}, std::vector<std::string>{"the cat sat on the mat"});
  CHECK(s.brevity_penalty == doctest::Approx(std::exp(-0.5)));
  CHECK(s.score == doctest::Approx(100 * std::exp(-0.5)));
  CHECK(s.hypothesis_length == 4);
  CHECK(s.reference_length == 6);
  // A hypothesis too short to have a 3-gram scores 0, as sacreBLEU.
  CHECK(corpus_bleu({"the cat"}, std::vector<std::string>{"the cat sat on the mat"}).score == doctest::Approx(0.0).epsilon(1e-12));
  // Counts are summed over the corpus before the precisions are taken.
  const BleuScore two = corpus_bleu({"the cat sat on the mat", "a b c d"},
                                    std::vector<std::string>{"the cat is on the mat", "a b c d"});
  CHECK(two.matches == std::array<int64_t, 4>{9, 6, 3, 1});
  CHECK(two.totals == std::array<int64_t, 4>{10, 8, 6, 4});
}

TEST_CASE("ROUGE-L F1 by hand, and self-BLEU of identical and disjoint samples") {
  // LCS("the cat sat on the mat", "the cat is on the mat") = 5 of 6 and 6 tokens: F1 = 5/6.
  CHECK(rouge_l({"the cat sat on the mat"}, {"The cat is on the mat."}) == doctest::Approx(500.0 / 6));
  CHECK(rouge_l({"a b", "x"}, {"a b", "y"}) == doctest::Approx(50.0));
  CHECK(self_bleu({{"the same words here", "the same words here", "the same words here"}}) == doctest::Approx(100.0));
  CHECK(self_bleu({{"a b c d", "e f g h"}}) == 0.0);
  CHECK_THROWS_AS(self_bleu({{"alone"}}), std::invalid_argument);
}

TEST_CASE("MBR by BLEU picks the candidate closest to the others; the first on ties; one candidate is itself") {
  // "the cat sat on the mat" has BLEU 100 against its twin and 37.99 against the variant: the largest sum.
  // The variant scores 37.99 twice (BLEU is symmetric here: equal lengths), the twins 137.99 each: the first
  // twin wins.
  CHECK(mbr_select({"the cat is on the mat", "the cat sat on the mat", "the cat sat on the mat"}) == 1);
  CHECK(mbr_select({"a b c d", "e f g h"}) == 0);  // every sum 0: the first
  CHECK(mbr_select({"only one"}) == 0);
  CHECK_THROWS_AS(mbr_select({}), std::invalid_argument);
}
