#include "apps/text_support.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "apps/progress.hpp"
#include "apps/run_support.hpp"
#include "apps/sharded_evaluation.hpp"

namespace diffuse {

namespace fs = std::filesystem;

std::shared_ptr<const data::Text8Corpus> load_text_corpus(const std::string& path) {
  if (path.empty()) throw std::invalid_argument("--data: a text8-format file (or a directory holding `text8`) is required");
  std::string file = path;
  if (fs::is_directory(path)) {
    file = (fs::path(path) / "text8").string();
    if (!fs::exists(file)) throw std::invalid_argument("--data: " + path + " is a directory without a file named text8");
  } else if (!fs::exists(path)) {
    throw std::invalid_argument("--data: " + path + " does not exist");
  }
  return std::make_shared<const data::Text8Corpus>(data::load_text8(file));
}

data::Text8Split parse_text_split(const std::string& name) {
  if (name == "train") return data::Text8Split::Train;
  if (name == "valid") return data::Text8Split::Valid;
  if (name == "test") return data::Text8Split::Test;
  throw std::invalid_argument("--split: 'train', 'valid' or 'test', got '" + name + "'");
}

Tensor evaluation_chunks(const data::Text8Corpus& corpus, data::Text8Split split, const std::string& split_name, int64_t count,
                         int64_t length) {
  if (count < 0) throw std::invalid_argument("--chunks: must be at least 1");
  const std::string_view text = corpus.split(split);
  const int64_t available = data::text8_num_chunks(static_cast<int64_t>(text.size()), length);
  if (count > available)
    throw std::invalid_argument("--chunks: " + std::to_string(count) + " requested but the " + split_name + " split of " +
                                corpus.source + " has " + std::to_string(available) + " chunks of " + std::to_string(length));
  return data::text8_chunks(text, length, count > 0 ? count : -1);
}

Tensor held_out_chunks(const data::Text8Corpus& corpus, const nlohmann::json& config, int64_t length) {
  const EvaluationSchedule schedule = evaluation_schedule(config.at("train"));
  if (!schedule.enabled()) return {};
  const std::string_view text = corpus.split(data::Text8Split::Valid);
  const int64_t available = data::text8_num_chunks(static_cast<int64_t>(text.size()), length);
  if (schedule.items > available)
    throw std::invalid_argument("train.eval_items: " + std::to_string(schedule.items) + " held-out chunks requested but the valid "
                                "split of " + corpus.source + " has " + std::to_string(available) + " chunks of " +
                                std::to_string(length) + " (lower it, or set train.eval_every=0)");
  return data::text8_chunks(text, length, schedule.items);
}

EvaluationRecord valid_chunks_record(int64_t chunks, double bits_per_char, double standard_error, const std::string& method) {
  return {.split = "valid", .items = chunks, .item_noun = "chunks", .figure = "bits_per_char", .value = bits_per_char,
          .standard_error = standard_error, .method = method};
}

std::vector<std::string> decode_rows(const Tensor& ids) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < ids.size(0); ++i) out.push_back(data::decode_text8(ids.narrow(0, i, 1)));
  return out;
}

Tensor parse_text_template(const std::string& text, int64_t length) {
  if (static_cast<int64_t>(text.size()) > length)
    throw std::invalid_argument("--template: " + std::to_string(text.size()) + " characters, but the model writes " +
                                std::to_string(length));
  std::vector<int32_t> ids(static_cast<size_t>(length), -1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == data::kText8MaskChar) continue;
    const int32_t id = data::text8_id(text[i]);
    if (id < 0)
      throw std::invalid_argument("--template: the character '" + std::string(1, text[i]) + "' at offset " + std::to_string(i) +
                                  " is not in the alphabet (a-z, space; '_' marks a position to generate)");
    ids[i] = id;
  }
  return Tensor::from_vector(ids, {length});
}

TextTrainingTask::TextTrainingTask(const nlohmann::json& config, std::shared_ptr<const data::Text8Corpus> corpus)
    : seed_(config.at("seed").get<uint64_t>()),
      sample_count_(config.at("train").at("sample_count").get<int64_t>()),
      corpus_(std::move(corpus)),
      windows_(corpus_, data::Text8Split::Train, config.at("model").at("seq_len").get<int64_t>(), seed_),
      streams_(seed_),
      held_out_(held_out_chunks(*corpus_, config, windows_.length())) {}

std::map<std::string, std::string> TextTrainingTask::state() const {
  std::map<std::string, std::string> s = streams_.state();
  s["data.position"] = nlohmann::json(windows_.state().to_strings()).dump();
  return s;
}

void TextTrainingTask::restore(const std::map<std::string, std::string>& metadata, const std::string& path) {
  windows_.restore(data::Text8SamplerState::from_strings(nlohmann::json::parse(metadata.at("data.position"))));
  streams_.restore(metadata, path);
}

std::string TextTrainingTask::data_summary() const {
  return std::to_string(corpus_->ranges.train.size()) + " training characters of " + corpus_->source;
}

SamplesFile write_training_text_samples(const fs::path& dir, int64_t step, const Tensor& ids) {
  fs::create_directories(dir);
  const fs::path path = dir / ("step-" + std::to_string(step) + ".txt");
  std::string text;
  for (const std::string& s : decode_rows(ids)) text += s + "\n";
  write_text_atomically(path, text);
  return {path, text.substr(0, text.find('\n'))};
}

double masked_share(const Tensor& x, int64_t b, int32_t mask_id) {
  const int64_t L = x.size(1);
  int64_t masked = 0;
  for (int64_t i = 0; i < L; ++i) masked += x.data<int32_t>()[b * L + i] == mask_id;
  return static_cast<double>(masked) / static_cast<double>(L);
}

int run_maskgit_sample(const SampleOptions& options, const diffusion::MaskedTokenModel& model, int64_t n, int64_t length,
                       const std::string& family) {
  if (options.progressive || !options.grid.empty() || options.recompute)
    throw std::invalid_argument("--decoder maskgit: --progressive, --grid and --recompute belong to the ancestral sampler");
  diffusion::MaskGitOptions decoding;
  decoding.steps = options.steps > 0 ? options.steps : 16;
  decoding.choice_temperature = options.choice_temperature;
  decoding.argmax_tokens = options.argmax;
  if (!options.template_text.empty()) decoding.given = parse_text_template(options.template_text, length);
  const auto progress = evaluation_progress("sample", decoding.steps, options.quiet);
  decoding.on_step = [&progress] { progress->advance(); };
  Philox rng(options.seed, kSamples);
  const auto start = std::chrono::steady_clock::now();
  const diffusion::MaskGitResult r = diffusion::maskgit_decode(model, n, length, data::kText8Vocab, rng, decoding);
  const double seconds = seconds_since(start);
  progress->finish();
  const std::vector<std::string> texts = decode_rows(r.x0);
  for (size_t i = 0; i < texts.size(); ++i) std::printf("[%zu] %s\n", i, texts[i].c_str());
  std::printf("%lld samples of %lld characters, MaskGIT decoding in %lld steps (choice temperature %g, %s tokens): %lld "
              "network evaluations, %.2f s (%.3f s per sample, batch %lld)\n",
              static_cast<long long>(n), static_cast<long long>(length), static_cast<long long>(decoding.steps),
              decoding.choice_temperature, decoding.argmax_tokens ? "argmax" : "drawn",
              static_cast<long long>(r.network_evaluations), seconds, seconds / static_cast<double>(n), static_cast<long long>(n));
  if (!options.out.empty()) {
    write_text_samples(options.out, texts, options.checkpoint, family, seconds / static_cast<double>(n), decoding.steps);
    std::printf("wrote %s\n", options.out.c_str());
  }
  return 0;
}

std::string text8_vocabulary() {
  std::string chars;
  for (int32_t id = 0; id < data::kText8Vocab; ++id) chars += data::text8_char(id);
  return "characters '" + chars + "'";
}

void write_text_samples(const fs::path& path, const std::vector<std::string>& texts, const std::string& checkpoint,
                        const std::string& family, double seconds_per_sample, int64_t steps) {
  std::string text;
  for (const std::string& s : texts) text += s + "\n";
  write_text_atomically(path, text);
  const nlohmann::json about = {{"vocabulary", text8_vocabulary()}, {"checkpoint", checkpoint}, {"family", family},
                                {"samples", texts.size()}, {"seconds_per_sample", seconds_per_sample}, {"steps", steps}};
  write_text_atomically(fs::path(path.string() + ".json"), about.dump(2) + "\n");
}

double ChunkBits::standard_error() const {
  if (chunks < 2) return 0;
  const double n = static_cast<double>(chunks), m = mean();
  return std::sqrt(std::max(0.0, (sum_squares - n * m * m) / (n - 1)) / n);
}

nlohmann::json ChunkBits::to_json() const {
  return {{"chunks", chunks}, {"sum", sum}, {"sum_squares", sum_squares}, {"network_evaluations", network_evaluations}};
}

ChunkBits ChunkBits::from_json(const nlohmann::json& j) {
  ChunkBits r;
  r.chunks = j.at("chunks").get<int64_t>();
  r.sum = j.at("sum").get<double>();
  r.sum_squares = j.at("sum_squares").get<double>();
  r.network_evaluations = j.at("network_evaluations").get<int64_t>();
  return r;
}

ChunkBits ChunkBits::merge(const ChunkBits& a, const ChunkBits& b) {
  return {a.chunks + b.chunks, a.sum + b.sum, a.sum_squares + b.sum_squares, a.network_evaluations + b.network_evaluations};
}

ChunkBits evaluate_chunk_bits(const Tensor& chunks, int64_t batch, const EvaluateOptions& options, int64_t evaluations_per_batch,
                              const std::function<std::vector<double>(const Tensor& x, Philox& rng)>& bits_of) {
  const int64_t n = chunks.size(0);
  std::unique_ptr<Progress> progress;
  return evaluate_sharded<ChunkBits>(
      n, batch, options.seed,
      [&](int64_t begin, int64_t end, Philox& rng) {
        ChunkBits r;
        for (double b : bits_of(chunks.slice(0, begin, end), rng)) r.add(b);
        r.network_evaluations = evaluations_per_batch;
        if (progress) progress->advance(evaluations_per_batch);
        return r;
      },
      ChunkBits::merge, options.journal, evaluation_settings(options, n, batch),
      [&](int64_t mine) { progress = evaluation_progress("evaluate", mine * evaluations_per_batch, options.quiet); },
      evaluation_group(options));
}

}  // namespace diffuse
