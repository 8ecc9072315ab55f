// The sample statistics of metrics/text_metrics.hpp against values worked out by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "metrics/text_metrics.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::metrics;

TEST_CASE("unigram entropy: 1 bit for two equally frequent characters, log2 k for k, 0 for one") {
  CHECK(unigram_entropy_bits({"abab", "ba"}) == doctest::Approx(1.0));
  CHECK(unigram_entropy_bits({"abcd"}) == doctest::Approx(2.0));
  CHECK(unigram_entropy_bits({"aaaa", "aa"}) == doctest::Approx(0.0));
  // p = (1/2, 1/4, 1/4): 1.5 bits
  CHECK(unigram_entropy_bits({"aabc"}) == doctest::Approx(1.5));
}

TEST_CASE("distinct-n counts distinct word n-grams over all n-grams of all samples") {
  // words: the cat the cat | the dog  -> unigrams 6, distinct 3; bigrams 4 (the cat, cat the, the cat, the dog), distinct 3
  const std::vector<double> d = distinct_n({"the cat  the cat", " the dog"}, 3);
  CHECK(d[0] == doctest::Approx(3.0 / 6));
  CHECK(d[1] == doctest::Approx(3.0 / 4));
  CHECK(d[2] == doctest::Approx(2.0 / 2));  // (the cat the), (cat the cat)
  CHECK(distinct_n({"a"}, 2)[1] == 0.0);      // no bigram at all
  CHECK_THROWS_AS(distinct_n({"a"}, 0), std::invalid_argument);
}

TEST_CASE("generative perplexity is 27 under a uniform teacher, and long samples are scored in windows") {
  int64_t calls = 0, widest = 0;
  const SequenceScorer uniform = [&](const Tensor& ids) {
    ++calls;
    widest = std::max(widest, ids.size(1));
    return Tensor::full({ids.size(0)}, static_cast<double>(ids.size(1)) * std::log(27.0), DType::F64);
  };
  std::vector<Tensor> samples;
  for (int64_t n : {10, 10, 25}) samples.push_back(Tensor::zeros({n}, DType::I32));
  const GenerativePerplexity g = generative_perplexity(samples, uniform, 8, 4);
  CHECK(g.perplexity() == doctest::Approx(27.0));
  CHECK(g.bits_per_token() == doctest::Approx(std::log2(27.0)));
  CHECK(g.tokens == 45);
  CHECK(g.windows == 2 * 2 + 4);  // 10 = 8 + 2, 25 = 8 + 8 + 8 + 1
  CHECK(widest == 8);
  // A teacher sure of every token gives perplexity 1.
  const GenerativePerplexity sure = generative_perplexity(samples, [](const Tensor& ids) { return Tensor::zeros({ids.size(0)}, DType::F64); }, 8, 4);
  CHECK(sure.perplexity() == doctest::Approx(1.0));
}
