// The autoregressive text verbs of build/diffuse: the baseline the diffusion families are measured against
// (MD4 and MDLM report one beside their bounds). A causal transformer trained by next-token cross-entropy
// on the corpus's rows (random windows of text8 characters, or verses of words: apps/text_corpus.hpp);
// ancestral sampling with a temperature and an optional prefix; the exact bits per unit (bits/char,
// bits/token) on the evaluation items of a split. Its checkpoints are also the teacher of generative
// perplexity (`evaluate --samples FILE --teacher CKPT`, text_sample_scores.cpp).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

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

// --template for a model that reads left to right: the given characters or tokens must form a prefix.
Tensor template_prefix(const std::string& text, int64_t length, const TextVocabulary& vocabulary) {
  const Tensor given = vocabulary.parse_template(text, length);
  std::vector<int32_t> prefix;
  bool open = false;
  for (int64_t i = 0; i < length; ++i) {
    const int32_t v = given.data<int32_t>()[i];
    if (v < 0) {
      open = true;
    } else if (open) {
      throw std::invalid_argument("--template: the autoregressive model continues a prefix; the given " + vocabulary.unit() +
                                  " at position " + std::to_string(i) + " follows a '_' (infilling needs a masked-diffusion model)");
    } else {
      prefix.push_back(v);
    }
  }
  return Tensor::from_vector(prefix, {static_cast<int64_t>(prefix.size())});
}

// Each item's exact bits per unit (all L positions scored, or those not given: a pair's target given its
// source, docs/math.md §9.3): what `diffuse evaluate` and a training run's periodic evaluation compute. A stop
// signal ends it before the next network evaluation (StopRequested), as stoppable does.
ChunkBits ar_chunk_bits(const ArTextModel& m, const TextItems& items, int64_t batch, const EvaluateOptions& options) {
  return evaluate_chunk_bits(items, batch, options, 1, [&](const Tensor& x, const Tensor& given, Philox&) {
    if (stop_requested()) throw StopRequested();
    const Tensor nll = m.nll(x, 0, given).to(DType::F64).contiguous();
    return std::vector<double>(nll.data<double>(), nll.data<double>() + nll.numel());
  });
}

class ArTextTraining : public TextTrainingTask {
 public:
  ArTextTraining(const json& config, std::shared_ptr<const TextCorpus> corpus)
      : TextTrainingTask(config, std::move(corpus)),
        setup_(config, seed_),
        model_(setup_.next_token_model(streams_.dropout)) {
    setup_.net.train();
  }

  nn::ParameterArena& arena() override { return setup_.arena; }
  void draw_batch(int64_t b) override { batch_ = rows_->next(b); }
  // A conditional corpus's given positions (a pair's source, read through the causal mask) are not scored:
  // the loss is the target's.
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const Tensor given = batch_.given.defined() ? batch_.given.slice(0, begin, end) : Tensor();
    const Tensor loss = diffusion::next_token_loss(model_, batch_.rows.slice(0, begin, end), setup_.start_id(), given).loss;
    (loss * weight).backward();
    return {loss.item(), {loss.item()}};
  }
  // The loss is the exact negative log-likelihood in bits per scored position (every position of the row, or
  // the target's).
  std::vector<std::string> loss_part_names() const override { return {"NLL"}; }
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    setup_.net.eval();
    Philox rng(seed_, kSamples);
    diffusion::AutoregressiveSampleOptions options;
    options.given = sample_given();
    if (options.given.defined()) options.stop_id = vocabulary_->row_end().back();  // a target ends at its <eos>
    const Tensor x = setup_.sample(options.given.defined() ? options.given.size(0) : sample_count_, rng, options);
    setup_.net.train();
    return write_training_text_samples(dir, step, x, *vocabulary_);
  }
  // The exact bits per unit of the first valid items, as `diffuse evaluate`.
  EvaluationRecord evaluate(int64_t items) override {
    setup_.net.eval();
    const ChunkBits r = ar_chunk_bits(setup_, held_out_.first(items), setup_.config.at("train").at("batch").get<int64_t>(),
                                      periodic_evaluation_options(setup_.config, "valid", /*estimate=*/false));
    setup_.net.train();
    return held_out_record(*vocabulary_, held_out_.noun, r.chunks, r.mean(), r.standard_error(), "exact");
  }

 private:
  ArTextModel setup_;
  diffusion::NextTokenModel model_;
  TextRows batch_;  // the drawn batch
};

}  // namespace

// None for a word preset before its run: its vocabulary, and so its embedding and output sizes, come from
// --data (the rest of the network is checked all the same).
static std::optional<int64_t> ar_text_parameter_count(const json& config) {
  Philox rng(0);
  if (!text_states_known(config)) {
    nn::Transformer(ar_network_config(with_placeholder_states(config)), rng);
    return std::nullopt;
  }
  return nn::Transformer(ar_network_config(config), rng).parameter_count();
}

static std::unique_ptr<TrainingTask> make_ar_text_training(json& config, const std::string& data_path) {
  const auto corpus = load_text_corpus(data_path, config, "the run's configuration (preset " + config.at("preset").get<std::string>() + ")");
  record_text_corpus(config, *corpus);
  return std::make_unique<ArTextTraining>(config, corpus);
}

static int run_ar_text_sample(const SampleOptions& options) {
  const int64_t n = options.n == 0 ? 4 : options.n;
  auto m = load_model_for_inference<ArTextModel>(options.checkpoint, options.ema);
  require_source_template(*m->vocabulary, options.template_text);
  diffusion::AutoregressiveSampleOptions sampling;
  sampling.temperature = options.temperature;
  if (!options.template_text.empty()) sampling.prefix = template_prefix(options.template_text, m->seq_len(), *m->vocabulary);
  Philox rng(options.seed, kSamples);
  const auto start = std::chrono::steady_clock::now();
  int64_t evaluations = 0;
  const int64_t prefix = sampling.prefix.defined() ? sampling.prefix.numel() : 0;
  const auto progress = evaluation_progress("sample", m->seq_len() - prefix, options.quiet);
  const Tensor x = m->sample(n, rng, sampling, &evaluations, progress.get());
  const double seconds = seconds_since(start);
  progress->finish();
  const std::vector<std::string> texts = m->vocabulary->decode_rows(x);
  for (size_t i = 0; i < texts.size(); ++i) std::printf("[%zu] %s\n", i, texts[i].c_str());
  std::printf("%lld samples of %lld %s, temperature %g, %lld network evaluations, %.2f s (%.3f s per sample, batch %lld)\n",
              static_cast<long long>(n), static_cast<long long>(m->seq_len()), m->vocabulary->units().c_str(), sampling.temperature,
              static_cast<long long>(evaluations), seconds, seconds / static_cast<double>(n), static_cast<long long>(n));
  if (!options.out.empty()) {
    write_text_samples(options.out, texts, *m->vocabulary, options.checkpoint, "ar-text", seconds / static_cast<double>(n), evaluations);
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
  const auto corpus = load_text_corpus(options.data_dir, m->config, options.checkpoint);
  const int64_t L = m->seq_len();
  const TextItems items = evaluation_items(*corpus, options.split, options.items, L, options.skip_long);
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  const TextVocabulary& v = *m->vocabulary;
  const auto start = std::chrono::steady_clock::now();
  const ChunkBits r = ar_chunk_bits(*m, items, batch, options);
  if (!ProcessGroup::world().is_root()) return 0;
  const double seconds = seconds_since(start);
  if (options.json) {
    std::cout << json{{v.figure(), r.mean()}, {"stderr", r.standard_error()}, {items.noun, r.chunks}, {"method", "exact"},
                      {"network_evaluations", r.network_evaluations}, {"seconds", seconds}, {"checkpoint", options.checkpoint},
                      {"split", options.split}, {"chunk_length", L}}
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("bits/%s %.4f (exact; +- %.4f standard error over %s) on %lld %s %s of %lld positions, %.0f s\n", v.unit().c_str(),
              r.mean(), r.standard_error(), items.noun.c_str(), static_cast<long long>(r.chunks), options.split.c_str(),
              items.noun.c_str(), static_cast<long long>(L), seconds);
  return 0;
}

// `evaluate --task pairs`: the target after the source ("x SEP y", the source's <eos> the separator), greedy
// by default or drawn at --temperature, each row ending at its target's <eos> (the rest <pad>).
static TargetGenerator ar_text_target_generator(const EvaluateOptions& options) {
  if (!options.decoder.empty()) throw std::invalid_argument("--decoder: masked-text's; the autoregressive model decodes left to right");
  if (options.steps != 0) throw std::invalid_argument("--steps: the autoregressive model writes one token a network evaluation");
  std::shared_ptr<const ArTextModel> m = load_model_for_inference<ArTextModel>(options.checkpoint, options.ema);
  TargetGenerator g;
  g.config = m->config;
  g.states = kMaskOrStartStates;
  diffusion::AutoregressiveSampleOptions sampling;
  sampling.greedy = options.temperature == 0;
  sampling.temperature = sampling.greedy ? 1.0 : options.temperature;
  sampling.stop_id = m->vocabulary->row_end().back();
  sampling.fill_id = data::kPadId;
  g.decoding = sampling.greedy ? "greedy, left to right" : "drawn at temperature " + format_number(sampling.temperature) + ", left to right";
  g.generate = [m, sampling](const Tensor& given, Philox& rng, int64_t* evaluations) {
    diffusion::AutoregressiveSampleOptions o = sampling;
    o.given = given;
    int64_t calls = 0;
    const Tensor x = m->sample(given.size(0), rng, o, &calls);
    *evaluations += calls * given.size(0);
    return x;
  };
  return g;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kArTextFamily = {
    .kind = "ar-text",
    .description = "an autoregressive model of text8 characters or verses of words: a causal transformer (the baseline)",
    .read_config = ar_text_parameter_count,
    .make_training = make_ar_text_training,
    .network_metadata = ar_text_network_metadata,
    .sample = run_ar_text_sample,
    .sample_flags = {"--template", "--temperature"},
    .evaluate = run_ar_text_evaluate,
    .target_generator = ar_text_target_generator,
};

}  // namespace diffuse
