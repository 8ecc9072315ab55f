// The autoregressive text verbs of build/diffuse: the baseline the diffusion families are measured against
// (MD4 and MDLM report one beside their bounds). A causal transformer trained by next-character
// cross-entropy on random windows; ancestral sampling with a temperature and an optional prefix; the exact
// bits/char on the canonical chunks of a split. Its checkpoints are also the teacher of generative
// perplexity (`evaluate --samples FILE --teacher CKPT`, text_sample_scores.cpp).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numbers>

#include "apps/ar_text_model.hpp"
#include "apps/model_family.hpp"
#include "apps/network_metadata.hpp"
#include "apps/progress.hpp"
#include "apps/run_support.hpp"
#include "apps/text_support.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

// --template for a model that reads left to right: the given characters must form a prefix.
Tensor template_prefix(const std::string& text, int64_t length) {
  const Tensor given = parse_text_template(text, length);
  std::vector<int32_t> prefix;
  bool open = false;
  for (int64_t i = 0; i < length; ++i) {
    const int32_t v = given.data<int32_t>()[i];
    if (v < 0) {
      open = true;
    } else if (open) {
      throw std::invalid_argument("--template: the autoregressive model continues a prefix; the given character at offset " +
                                  std::to_string(i) + " follows a '_' (infilling needs a masked-diffusion model)");
    } else {
      prefix.push_back(v);
    }
  }
  return Tensor::from_vector(prefix, {static_cast<int64_t>(prefix.size())});
}

// Each chunk's exact bits/char: what `diffuse evaluate` and a training run's periodic evaluation compute. A
// stop signal ends it before the next network evaluation (StopRequested), as stoppable does.
ChunkBits ar_chunk_bits(const ArTextModel& m, const Tensor& chunks, int64_t batch, const EvaluateOptions& options) {
  const double to_bits = 1.0 / (static_cast<double>(chunks.size(1)) * std::numbers::ln2);
  return evaluate_chunk_bits(chunks, batch, options, 1, [&](const Tensor& x, Philox&) {
    if (stop_requested()) throw StopRequested();
    const Tensor nll = m.nll(x).to(DType::F64).contiguous();
    std::vector<double> bits;
    for (int64_t i = 0; i < nll.numel(); ++i) bits.push_back(nll.data<double>()[i] * to_bits);
    return bits;
  });
}

class ArTextTraining : public TextTrainingTask {
 public:
  ArTextTraining(const json& config, std::shared_ptr<const data::Text8Corpus> corpus)
      : TextTrainingTask(config, std::move(corpus)),
        setup_(config, seed_),
        model_(setup_.next_token_model(streams_.dropout)) {
    setup_.net.train();
  }

  nn::ParameterArena& arena() override { return setup_.arena; }
  void draw_batch(int64_t b) override { x_ = windows_.next(b); }
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const Tensor loss = diffusion::next_token_loss(model_, x_.slice(0, begin, end), ArTextModel::kBos).loss;
    (loss * weight).backward();
    return {loss.item(), {loss.item()}};
  }
  // The loss is the exact negative log-likelihood in bits/char.
  std::vector<std::string> loss_part_names() const override { return {"NLL"}; }
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    setup_.net.eval();
    Philox rng(seed_, kSamples);
    const Tensor x = setup_.sample(sample_count_, rng, {});
    setup_.net.train();
    return write_training_text_samples(dir, step, x);
  }
  // The exact bits/char of the first valid chunks, as `diffuse evaluate`.
  EvaluationRecord evaluate(int64_t items) override {
    setup_.net.eval();
    const ChunkBits r = ar_chunk_bits(setup_, held_out_.slice(0, 0, items), setup_.config.at("train").at("batch").get<int64_t>(),
                                      periodic_evaluation_options(setup_.config, "valid", /*estimate=*/false));
    setup_.net.train();
    return valid_chunks_record(r.chunks, r.mean(), r.standard_error(), "exact");
  }

 private:
  ArTextModel setup_;
  diffusion::NextTokenModel model_;
  Tensor x_;  // the drawn batch
};

}  // namespace

static int64_t ar_text_parameter_count(const json& config) {
  Philox rng(0);
  return nn::Transformer(ar_network_config(config), rng).parameter_count();
}

static std::unique_ptr<TrainingTask> make_ar_text_training(json& config, const std::string& data_path) {
  return std::make_unique<ArTextTraining>(config, load_text_corpus(data_path));
}

static int run_ar_text_sample(const SampleOptions& options) {
  const int64_t n = options.n == 0 ? 4 : options.n;
  auto m = load_model_for_inference<ArTextModel>(options.checkpoint, options.ema);
  diffusion::AutoregressiveSampleOptions sampling;
  sampling.temperature = options.temperature;
  if (!options.template_text.empty()) sampling.prefix = template_prefix(options.template_text, m->seq_len());
  Philox rng(options.seed, kSamples);
  const auto start = std::chrono::steady_clock::now();
  int64_t evaluations = 0;
  const int64_t prefix = sampling.prefix.defined() ? sampling.prefix.numel() : 0;
  const auto progress = evaluation_progress("sample", m->seq_len() - prefix, options.quiet);
  const Tensor x = m->sample(n, rng, sampling, &evaluations, progress.get());
  const double seconds = seconds_since(start);
  progress->finish();
  const std::vector<std::string> texts = decode_rows(x);
  for (size_t i = 0; i < texts.size(); ++i) std::printf("[%zu] %s\n", i, texts[i].c_str());
  std::printf("%lld samples of %lld characters, temperature %g, %lld network evaluations, %.2f s (%.3f s per sample, batch %lld)\n",
              static_cast<long long>(n), static_cast<long long>(m->seq_len()), sampling.temperature,
              static_cast<long long>(evaluations), seconds, seconds / static_cast<double>(n), static_cast<long long>(n));
  if (!options.out.empty()) {
    write_text_samples(options.out, texts, options.checkpoint, "ar-text", seconds / static_cast<double>(n), evaluations);
    std::printf("wrote %s\n", options.out.c_str());
  }
  return 0;
}

static int run_ar_text_evaluate(const EvaluateOptions& options) {
  if (!options.rate_distortion.empty()) throw std::invalid_argument("--rate-distortion: only for DDPM checkpoints");
  auto m = load_model_for_inference<ArTextModel>(options.checkpoint, options.ema);
  if (options.steps != 0 || options.estimate)
    throw std::invalid_argument(std::string(options.estimate ? "--estimate" : "--steps") +
                                ": the autoregressive likelihood is exact (no steps, no estimate)");
  const auto corpus = load_text_corpus(options.data_dir);
  const int64_t L = m->seq_len();
  const Tensor chunks = evaluation_chunks(*corpus, parse_text_split(options.split), options.split, options.items, L);
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  const auto start = std::chrono::steady_clock::now();
  const ChunkBits r = ar_chunk_bits(*m, chunks, batch, options);
  if (!ProcessGroup::world().is_root()) return 0;
  const double seconds = seconds_since(start);
  if (options.json) {
    std::cout << json{{"bits_per_char", r.mean()}, {"stderr", r.standard_error()}, {"chunks", r.chunks}, {"method", "exact"},
                      {"network_evaluations", r.network_evaluations}, {"seconds", seconds}, {"checkpoint", options.checkpoint},
                      {"split", options.split}, {"chunk_length", L}}
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("bits/char %.4f (exact; +- %.4f standard error over chunks) on %lld %s chunks of %lld characters, %.0f s\n", r.mean(),
              r.standard_error(), static_cast<long long>(r.chunks), options.split.c_str(), static_cast<long long>(L), seconds);
  return 0;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kArTextFamily = {
    .kind = "ar-text",
    .description = "an autoregressive character model on text8-format text: a causal transformer (the baseline)",
    .read_config = ar_text_parameter_count,
    .make_training = make_ar_text_training,
    .network_metadata = ar_text_network_metadata,
    .sample = run_ar_text_sample,
    .sample_flags = {"--template", "--temperature"},
    .evaluate = run_ar_text_evaluate,
};

}  // namespace diffuse
