#include "apps/text_sample_scores.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "apps/ar_text_model.hpp"
#include "apps/run_support.hpp"
#include "apps/text_control.hpp"
#include "apps/text_support.hpp"
#include "metrics/text_metrics.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kDistinctMaxN = 4;

struct SampleLines {
  std::vector<std::string> lines;
  std::vector<std::vector<int32_t>> ids;  // each line's text ids in the vocabulary
};

// One sample per non-empty line, each encoded in `vocabulary` (TextVocabulary::encode_line). Throws naming
// the file, the line and what is outside the vocabulary.
SampleLines read_samples(const std::string& path, const TextVocabulary& vocabulary) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("--samples: cannot open " + path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SampleLines samples;
  int64_t line = 1;
  for (size_t start = 0; start < text.size(); ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      samples.lines.push_back(text.substr(start, end - start));
      try {
        samples.ids.push_back(vocabulary.encode_line(samples.lines.back(), {path, line, static_cast<int64_t>(start)}));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("--samples: ") + e.what());
      }
    }
    start = end + 1;
  }
  if (samples.lines.empty()) throw std::invalid_argument("--samples: " + path + " holds no samples");
  return samples;
}

// [start ids, x]: int32 [B, S + W] from x int32 [B, W].
Tensor with_row_start(const Tensor& x, const std::vector<int32_t>& start) {
  const int64_t B = x.size(0), W = x.size(1), S = static_cast<int64_t>(start.size());
  const Tensor xc = x.contiguous();
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(B * (S + W)));
  for (int64_t b = 0; b < B; ++b) {
    ids.insert(ids.end(), start.begin(), start.end());
    ids.insert(ids.end(), xc.data<int32_t>() + b * W, xc.data<int32_t>() + (b + 1) * W);
  }
  return Tensor::from_vector(ids, {B, S + W});
}

}  // namespace

int run_text_sample_scores(const EvaluateOptions& options) {
  if (options.teacher.empty()) throw std::invalid_argument("--teacher: --samples needs an autoregressive checkpoint to score them");
  const json teacher_config = checkpoint_config(options.teacher);
  const std::string teacher_kind = teacher_config.value("kind", "");
  if (teacher_kind != "ar-text")
    throw std::invalid_argument("--teacher: " + options.teacher + " is a '" + teacher_kind +
                                "' checkpoint; the teacher must be an autoregressive model (ar-text)");
  // The vocabulary the samples are in, as `sample --out` records it beside them, and the teacher's.
  const std::shared_ptr<const TextVocabulary> vocabulary = text_vocabulary(teacher_config, options.teacher);
  const std::string teacher_vocabulary = vocabulary->identity();
  const fs::path about = options.samples + ".json";
  std::string samples_vocabulary = character_vocabulary()->identity(),
              samples_about = "(no " + about.string() + ": taken as text8 characters)";
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
  const SampleLines samples = read_samples(options.samples, *vocabulary);

  ArTextModel teacher(teacher_config, 0);
  load_inference_weights(options.teacher, teacher.arena, options.ema);
  teacher.net.eval();
  // Each sample is scored as the teacher's rows hold text: its ids, then row_end (words: <eos>), after
  // row_start (words: <bos>), which is context and not scored.
  const std::vector<int32_t> start = vocabulary->row_start(), end = vocabulary->row_end();
  std::vector<Tensor> ids;
  std::vector<std::string_view> views;
  int64_t units = 0;
  for (size_t i = 0; i < samples.lines.size(); ++i) {
    std::vector<int32_t> scored = samples.ids[i];
    scored.insert(scored.end(), end.begin(), end.end());
    ids.push_back(Tensor::from_vector(scored, {static_cast<int64_t>(scored.size())}));
    views.push_back(samples.lines[i]);
    units += static_cast<int64_t>(samples.ids[i].size());
  }
  const int64_t batch = options.batch > 0 ? options.batch : teacher_config.at("train").at("batch").get<int64_t>();
  const int64_t context = static_cast<int64_t>(start.size()), window = teacher.seq_len() - context;
  const metrics::GenerativePerplexity gp = metrics::generative_perplexity(
      ids, [&](const Tensor& x) { return context == 0 ? teacher.nll(x) : teacher.nll(with_row_start(x, start), context); }, window,
      batch);
  const double entropy = vocabulary->unigram_entropy_bits(samples.lines);
  const std::vector<double> distinct = metrics::distinct_n(views, kDistinctMaxN);
  json reference = nullptr;
  if (!options.data_dir.empty()) {
    const auto corpus = load_text_corpus(options.data_dir, teacher_config, options.teacher);
    reference = corpus->unigram_entropy_bits(parse_text_split(options.split));
  }

  const std::string unit = vocabulary->unit(), units_name = vocabulary->units();
  json out = {{"samples", samples.lines.size()},
              {units_name, units},
              {"generative_perplexity", gp.perplexity()},
              {"teacher_" + vocabulary->figure(), gp.bits_per_token()},
              {"teacher", options.teacher},
              {"teacher_windows", gp.windows},
              {"unigram_entropy_bits", entropy},
              {"reference_unigram_entropy_bits", reference},
              {"reference_split", reference.is_null() ? json(nullptr) : json(options.split)},
              {"samples_file", options.samples}};
  for (int64_t n = 1; n <= kDistinctMaxN; ++n) out["distinct_" + std::to_string(n)] = distinct[static_cast<size_t>(n - 1)];
  const TextControlRequest control = parse_control_flag(options.control);
  if (!control.empty()) {
    out["control"] = control.text();
    out["control_success_rate"] = control_success_rate(control, samples.lines, *vocabulary, options.judge);
    out["judge"] = options.judge.empty() ? json(nullptr) : json(options.judge);
  }
  if (options.json) {
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::printf("%zu samples, %lld %s (%s)\n", samples.lines.size(), static_cast<long long>(units), units_name.c_str(),
              samples_about.c_str());
  const std::string per = unit == "char" ? "character" : unit;
  std::printf("generative perplexity %.3f per %s (%.4f bits/%s) under the teacher %s (an ar-text model, windows of %lld)\n",
              gp.perplexity(), per.c_str(), gp.bits_per_token(), unit.c_str(), options.teacher.c_str(),
              static_cast<long long>(window));
  if (reference.is_null())
    std::printf("unigram entropy %.4f bits (give --data for the %s split's)\n", entropy, options.split.c_str());
  else
    std::printf("unigram entropy %.4f bits; the %s split's %.4f bits\n", entropy, options.split.c_str(), reference.get<double>());
  std::printf("distinct-n of space-separated words: 1 %.4f, 2 %.4f, 3 %.4f, 4 %.4f\n", distinct[0], distinct[1], distinct[2],
              distinct[3]);
  if (!control.empty())
    std::printf("control %s met by %.4f of the samples (%s)\n", control.text().c_str(), out["control_success_rate"].get<double>(),
                control.kind == "word" || control.kind == "length" ? "checked exactly" : ("judged by " + options.judge).c_str());
  return 0;
}

}  // namespace diffuse
