#include "apps/text_sample_scores.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "apps/ar_text_model.hpp"
#include "apps/run_support.hpp"
#include "apps/text_support.hpp"
#include "metrics/text_metrics.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kDistinctMaxN = 4;

// One sample per non-empty line; every byte must be a text8 character. Throws naming the file, the byte,
// its offset in the file and its line.
std::vector<std::string> read_samples(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("--samples: cannot open " + path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> samples;
  size_t line_start = 0;
  int64_t line = 1;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\n') {
      if (i > line_start) samples.push_back(text.substr(line_start, i - line_start));
      line_start = i + 1;
      ++line;
      continue;
    }
    if (data::text8_id(text[i]) < 0) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      char shown[32];
      std::snprintf(shown, sizeof shown, c >= 32 && c < 127 ? "'%c'" : "byte 0x%02x", c);
      throw std::invalid_argument("--samples: " + path + ": " + shown + " at offset " + std::to_string(i) + " (line " +
                                  std::to_string(line) + ", column " + std::to_string(i - line_start + 1) +
                                  ") is outside the alphabet (a-z and space)");
    }
  }
  if (samples.empty()) throw std::invalid_argument("--samples: " + path + " holds no samples");
  return samples;
}

}  // namespace

int run_text_sample_scores(const EvaluateOptions& options) {
  if (options.teacher.empty()) throw std::invalid_argument("--teacher: --samples needs an autoregressive checkpoint to score them");
  const json teacher_config = checkpoint_config(options.teacher);
  const std::string teacher_kind = teacher_config.value("kind", "");
  if (teacher_kind != "ar-text")
    throw std::invalid_argument("--teacher: " + options.teacher + " is a '" + teacher_kind +
                                "' checkpoint; the teacher must be an autoregressive model (ar-text)");
  // The vocabulary the samples are in, as `sample --out` records it beside them; the teacher's is fixed by
  // its family.
  const std::string teacher_vocabulary = text8_vocabulary();
  const fs::path about = options.samples + ".json";
  std::string samples_vocabulary = teacher_vocabulary, samples_about = "(no " + about.string() + ": taken as text8 characters)";
  if (fs::exists(about)) {
    std::ifstream in(about);
    json j;
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw std::invalid_argument("--samples: " + about.string() + " is not JSON: " + e.what());
    }
    samples_vocabulary = j.value("vocabulary", "");
    samples_about = j.dump();
  }
  if (samples_vocabulary != teacher_vocabulary)
    throw std::invalid_argument("--teacher: the samples in " + options.samples + " are in the vocabulary " + samples_vocabulary +
                                " (" + about.string() + "), the teacher " + options.teacher + " reads " + teacher_vocabulary);
  const std::vector<std::string> samples = read_samples(options.samples);

  ArTextModel teacher(teacher_config, 0);
  load_inference_weights(options.teacher, teacher.arena, options.ema);
  teacher.net.eval();
  std::vector<Tensor> ids;
  std::vector<std::string_view> views;
  int64_t characters = 0;
  for (const std::string& s : samples) {
    ids.push_back(data::encode_text8(s));
    views.push_back(s);
    characters += static_cast<int64_t>(s.size());
  }
  const int64_t batch = options.batch > 0 ? options.batch : teacher_config.at("train").at("batch").get<int64_t>();
  const metrics::GenerativePerplexity gp =
      metrics::generative_perplexity(ids, [&](const Tensor& x) { return teacher.nll(x); }, teacher.seq_len(), batch);
  const double entropy = metrics::unigram_entropy_bits(views);
  const std::vector<double> distinct = metrics::distinct_n(views, kDistinctMaxN);
  json reference = nullptr;
  if (!options.data_dir.empty()) {
    const auto corpus = load_text_corpus(options.data_dir);
    reference = metrics::unigram_entropy_bits({corpus->split(parse_text_split(options.split))});
  }

  json out = {{"samples", samples.size()},
              {"characters", characters},
              {"generative_perplexity", gp.perplexity()},
              {"teacher_bits_per_char", gp.bits_per_token()},
              {"teacher", options.teacher},
              {"teacher_windows", gp.windows},
              {"unigram_entropy_bits", entropy},
              {"reference_unigram_entropy_bits", reference},
              {"reference_split", reference.is_null() ? json(nullptr) : json(options.split)},
              {"samples_file", options.samples}};
  for (int64_t n = 1; n <= kDistinctMaxN; ++n) out["distinct_" + std::to_string(n)] = distinct[static_cast<size_t>(n - 1)];
  if (options.json) {
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::printf("%zu samples, %lld characters (%s)\n", samples.size(), static_cast<long long>(characters), samples_about.c_str());
  std::printf("generative perplexity %.3f per character (%.4f bits/char) under the teacher %s (an ar-text model, windows of %lld)\n",
              gp.perplexity(), gp.bits_per_token(), options.teacher.c_str(), static_cast<long long>(teacher.seq_len()));
  if (reference.is_null())
    std::printf("unigram entropy %.4f bits (give --data for the %s split's)\n", entropy, options.split.c_str());
  else
    std::printf("unigram entropy %.4f bits; the %s split's %.4f bits\n", entropy, options.split.c_str(), reference.get<double>());
  std::printf("distinct-n of words: 1 %.4f, 2 %.4f, 3 %.4f, 4 %.4f\n", distinct[0], distinct[1], distinct[2], distinct[3]);
  return 0;
}

}  // namespace diffuse
