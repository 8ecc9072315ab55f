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

data::Text8Split parse_text_split(const std::string& name) {
  if (name == "train") return data::Text8Split::Train;
  if (name == "valid") return data::Text8Split::Valid;
  if (name == "test") return data::Text8Split::Test;
  throw std::invalid_argument("--split: 'train', 'valid' or 'test', got '" + name + "'");
}

TextItems evaluation_items(const TextCorpus& corpus, const std::string& split_name, int64_t count, int64_t length,
                           bool skip_long) {
  if (count < 0) throw std::invalid_argument("--chunks: must be at least 1");
  const int64_t available = corpus.available_items(parse_text_split(split_name), length);
  if (count > available)
    throw std::invalid_argument("--chunks: " + std::to_string(count) + " requested but the " + split_name + " split of " +
                                corpus.source() + " has " + std::to_string(available) + " " + corpus.item_noun() + " for rows of " +
                                std::to_string(length));
  TextItems items = corpus.items(parse_text_split(split_name), count, length,
                                 skip_long ? data::LongSequences::DropAndCount : data::LongSequences::Refuse);
  if (items.dropped > 0)
    std::fprintf(stderr, "evaluate: %lld %s of the %s split longer than rows of %lld left out (--skip-long); %lld evaluated\n",
                 static_cast<long long>(items.dropped), items.noun.c_str(), split_name.c_str(), static_cast<long long>(length),
                 static_cast<long long>(items.count()));
  return items;
}

TextItems held_out_items(const TextCorpus& corpus, const nlohmann::json& config, int64_t length) {
  const EvaluationSchedule schedule = evaluation_schedule(config.at("train"));
  if (!schedule.enabled()) return {};
  const int64_t available = corpus.available_items(data::Text8Split::Valid, length);
  if (schedule.items > available)
    throw std::invalid_argument("train.eval_items: " + std::to_string(schedule.items) + " held-out " + corpus.item_noun() +
                                " requested but the valid split of " + corpus.source() + " has " + std::to_string(available) +
                                " " + corpus.item_noun() + " for rows of " + std::to_string(length) +
                                " (lower it, or set train.eval_every=0)");
  return corpus.items(data::Text8Split::Valid, schedule.items, length, data::LongSequences::DropAndCount);
}

EvaluationRecord held_out_record(const TextVocabulary& vocabulary, const std::string& noun, int64_t items, double bits_per_unit,
                                 double standard_error, const std::string& method) {
  return {.split = "valid", .items = items, .item_noun = noun, .figure = vocabulary.figure(), .value = bits_per_unit,
          .standard_error = standard_error, .method = method};
}

TextTrainingTask::TextTrainingTask(const nlohmann::json& config, std::shared_ptr<const TextCorpus> corpus)
    : seed_(config.at("seed").get<uint64_t>()),
      sample_count_(config.at("train").at("sample_count").get<int64_t>()),
      length_(config.at("model").at("seq_len").get<int64_t>()),
      corpus_(std::move(corpus)),
      vocabulary_(corpus_->vocabulary()),
      rows_(corpus_->training_rows(length_, seed_)),
      streams_(seed_),
      held_out_(held_out_items(*corpus_, config, length_)) {
  if (vocabulary_->conditional()) {
    const TextItems conditions = corpus_->items(data::Text8Split::Valid, sample_count_, length_, data::LongSequences::DropAndCount);
    sample_given_ = given_ids(conditions.rows, conditions.given);
  }
}

Tensor given_ids(const Tensor& rows, const Tensor& given) {
  if (!given.defined()) return Tensor();
  if (rows.dtype() != DType::I32 || given.dtype() != DType::I32 || rows.shape() != given.shape())
    throw std::invalid_argument("given_ids: expected int32 rows and mask of one shape, got " + describe(rows) + " and " + describe(given));
  const Tensor r = rows.contiguous(), g = given.contiguous();
  Tensor out = Tensor::empty(r.shape(), DType::I32);
  for (int64_t i = 0; i < r.numel(); ++i) out.data<int32_t>()[i] = g.data<int32_t>()[i] != 0 ? r.data<int32_t>()[i] : -1;
  return out;
}

void require_source_template(const TextVocabulary& vocabulary, const std::string& template_text) {
  if (vocabulary.conditional() && template_text.empty())
    throw std::invalid_argument("--template: this model writes a target given its source (data.dataset '" + vocabulary.dataset() +
                                "'): give the source as --template \"SOURCE <eos>\", or score a split with evaluate --task pairs");
}

std::map<std::string, std::string> TextTrainingTask::state() const {
  std::map<std::string, std::string> s = streams_.state();
  s["data.position"] = rows_->state();
  return s;
}

void TextTrainingTask::restore(const std::map<std::string, std::string>& metadata, const std::string& path) {
  rows_->restore(metadata.at("data.position"));
  streams_.restore(metadata, path);
}

SamplesFile write_training_text_samples(const fs::path& dir, int64_t step, const Tensor& ids, const TextVocabulary& vocabulary) {
  fs::create_directories(dir);
  const fs::path path = dir / ("step-" + std::to_string(step) + ".txt");
  std::string text;
  for (const std::string& s : vocabulary.decode_rows(ids)) text += s + "\n";
  write_text_atomically(path, text);
  return {path, text.substr(0, text.find('\n'))};
}

double masked_share(const Tensor& x, int64_t b, int32_t mask_id) {
  const int64_t L = x.size(1);
  int64_t masked = 0;
  for (int64_t i = 0; i < L; ++i) masked += x.data<int32_t>()[b * L + i] == mask_id;
  return static_cast<double>(masked) / static_cast<double>(L);
}

int run_maskgit_sample(const SampleOptions& options, const diffusion::MaskedTokenModel& model, const TextVocabulary& vocabulary,
                       int64_t n, int64_t length, const std::string& family) {
  if (options.progressive || !options.grid.empty() || options.recompute)
    throw std::invalid_argument("--decoder maskgit: --progressive, --grid and --recompute belong to the ancestral sampler");
  diffusion::MaskGitOptions decoding;
  decoding.steps = options.steps > 0 ? options.steps : 16;
  decoding.choice_temperature = options.choice_temperature;
  decoding.argmax_tokens = options.argmax;
  if (!options.template_text.empty()) decoding.given = vocabulary.parse_template(options.template_text, length);
  const auto progress = evaluation_progress("sample", decoding.steps, options.quiet);
  decoding.on_step = [&progress] { progress->advance(); };
  Philox rng(options.seed, kSamples);
  const auto start = std::chrono::steady_clock::now();
  const diffusion::MaskGitResult r = diffusion::maskgit_decode(model, n, length, vocabulary.size(), rng, decoding);
  const double seconds = seconds_since(start);
  progress->finish();
  const std::vector<std::string> texts = vocabulary.decode_rows(r.x0);
  for (size_t i = 0; i < texts.size(); ++i) std::printf("[%zu] %s\n", i, texts[i].c_str());
  std::printf("%lld samples of %lld %s, MaskGIT decoding in %lld steps (choice temperature %g, %s tokens): %lld "
              "network evaluations, %.2f s (%.3f s per sample, batch %lld)\n",
              static_cast<long long>(n), static_cast<long long>(length), vocabulary.units().c_str(), static_cast<long long>(decoding.steps),
              decoding.choice_temperature, decoding.argmax_tokens ? "argmax" : "drawn",
              static_cast<long long>(r.network_evaluations), seconds, seconds / static_cast<double>(n), static_cast<long long>(n));
  if (!options.out.empty()) {
    write_text_samples(options.out, texts, vocabulary, options.checkpoint, family, seconds / static_cast<double>(n), decoding.steps);
    std::printf("wrote %s\n", options.out.c_str());
  }
  return 0;
}

void write_text_samples(const fs::path& path, const std::vector<std::string>& texts, const TextVocabulary& vocabulary,
                        const std::string& checkpoint, const std::string& family, double seconds_per_sample, int64_t steps) {
  std::string text;
  for (const std::string& s : texts) text += s + "\n";
  write_text_atomically(path, text);
  const nlohmann::json about = {{"vocabulary", vocabulary.identity()}, {"checkpoint", checkpoint}, {"family", family},
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

ChunkBits evaluate_chunk_bits(const TextItems& items, int64_t batch, const EvaluateOptions& options, int64_t evaluations_per_batch,
                              const std::function<std::vector<double>(const Tensor& x, const Tensor& given, Philox& rng)>& nats_of) {
  const int64_t n = items.count();
  std::unique_ptr<Progress> progress;
  return evaluate_sharded<ChunkBits>(
      n, batch, options.seed,
      [&](int64_t begin, int64_t end, Philox& rng) {
        ChunkBits r;
        const std::vector<double> nats =
            nats_of(items.rows.slice(0, begin, end), items.given.defined() ? items.given.slice(0, begin, end) : Tensor(), rng);
        for (int64_t i = begin; i < end; ++i) r.add(nats[static_cast<size_t>(i - begin)] * items.to_bits(i));
        r.network_evaluations = evaluations_per_batch;
        if (progress) progress->advance(evaluations_per_batch);
        return r;
      },
      ChunkBits::merge, options.journal, evaluation_settings(options, n, batch),
      [&](int64_t mine) { progress = evaluation_progress("evaluate", mine * evaluations_per_batch, options.quiet); },
      evaluation_group(options));
}

}  // namespace diffuse
