// The masked-diffusion text verbs of build/diffuse (MD4: Shi et al. 2024; MDLM: Sahoo et al. 2024): train a
// transformer mu_theta with the continuous-time bound on the corpus's rows (random windows of text8
// characters, or verses of words: apps/text_corpus.hpp), sample by ancestral steps (with MDLM's reuse of
// unchanged outputs, and prefix or infill templates) or MaskGIT's decoding, and estimate the bound in bits
// per unit (bits/char, bits/token) with its standard error on the evaluation items of a split.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numbers>
#include <optional>

#include "apps/model_family.hpp"
#include "apps/network_metadata.hpp"
#include "apps/progress.hpp"
#include "apps/run_support.hpp"
#include "apps/text_support.hpp"
#include "diffusion/maskgit_decoder.hpp"
#include "diffusion/masked_diffusion.hpp"
#include "nn/transformer.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

// The network reads t in [0, 1] on the scale of the finite-T families' steps (0..999), when it reads t.
constexpr double kTimeScale = 1000.0;

diffusion::MaskedSchedule schedule_from_json(const json& d) {
  return diffusion::MaskedSchedule::make(d.at("schedule").get<std::string>(), d.at("eps").get<double>(),
                                         d.at("exponent").get<double>());
}

// The network of a configuration whose vocabulary is known (model.in_states and model.out_states set).
nn::TransformerConfig network_config(const json& config) {
  const nn::TransformerConfig c = nn::TransformerConfig::from_json(config.at("model"));
  if (c.in_states != c.out_states + 1)
    throw std::invalid_argument("model.in_states: masked diffusion reads the V data ids and the mask (id V), and gives the mask no "
                                "logit (SUBS): must be model.out_states + 1 = " + std::to_string(c.out_states + 1));
  if (c.causal) throw std::invalid_argument("model.causal: masked diffusion's network sees the whole sequence: must be false");
  return c;
}

// The transformer, its arena, the masked process and the vocabulary, built from a resolved configuration.
struct MaskedTextModel {
  MaskedTextModel(const json& config, uint64_t seed)
      : config(config), vocabulary(text_vocabulary(config, "the configuration of " + config.value("preset", std::string("the run")))),
        init_rng(seed, kInit), net(network_config(config), init_rng), arena(net),
        masked(schedule_from_json(config.at("diffusion")), vocabulary->size()) {}
  json config;
  std::shared_ptr<const TextVocabulary> vocabulary;
  Philox init_rng;
  nn::Transformer net;
  nn::ParameterArena arena;
  diffusion::MaskedDiffusion masked;

  bool reads_t() const { return net.config().time_embedding; }
  diffusion::MaskedX0Model x0_model(Philox& dropout_rng) const {
    return [this, &dropout_rng](const Tensor& x_t, const Tensor& t) {
      return net.forward(x_t, reads_t() ? mul(t, kTimeScale).to(DType::F32) : Tensor(), dropout_rng);
    };
  }
  int64_t seq_len() const { return net.config().seq_len; }
};

diffusion::MaskedSamplingGrid parse_grid(const std::string& name) {
  if (name.empty() || name == "cosine") return diffusion::MaskedSamplingGrid::Cosine;
  if (name == "uniform") return diffusion::MaskedSamplingGrid::Uniform;
  throw std::invalid_argument("--grid: 'uniform' or 'cosine', got '" + name + "'");
}

diffusion::MaskedSampleResult sample_text(const MaskedTextModel& m, int64_t n, Philox& rng, diffusion::MaskedSampleOptions options) {
  Philox unused(0);
  options.model_reads_t = m.reads_t();
  return m.masked.sample(stoppable(m.x0_model(unused)), n, m.seq_len(), rng, options);
}

// The positions of row b that a model writes: all L, less the given ones (given int32 [B, L] or undefined).
int64_t written_positions(const Tensor& given, int64_t b, int64_t length) {
  if (!given.defined()) return length;
  int64_t n = length;
  for (int64_t i = 0; i < length; ++i) n -= given.data<int32_t>()[b * length + i] != 0;
  return n;
}

// Each item's bits per unit by the one-t estimate of the continuous-time bound over the positions it writes
// (all L, or a pair's target: the given source is never masked, docs/math.md §9.2) with their end terms (t
// low-discrepancy within each batch): what `diffuse evaluate` and a training run's periodic evaluation compute.
ChunkBits masked_chunk_bits(const diffusion::MaskedDiffusion& masked, const diffusion::MaskedX0Model& model, const TextItems& items,
                            int64_t batch, const EvaluateOptions& options) {
  const int64_t L = items.rows.size(1);
  return evaluate_chunk_bits(items, batch, options, 1, [&](const Tensor& x0, const Tensor& given, Philox& rng) {
    NoGradGuard no_grad;
    const Tensor t = diffusion::MaskedDiffusion::sample_t(x0.size(0), rng);
    const Tensor x_t = masked.q_sample(x0, t, rng, given_ids(x0, given));
    const Tensor diff = masked.loss_from_logits(model(x_t, t), x0, x_t, t).per_example.to(DType::F64).contiguous();
    const Tensor g = given.defined() ? given.contiguous() : Tensor();
    std::vector<double> nats;
    for (int64_t i = 0; i < diff.numel(); ++i) {
      const int64_t written = written_positions(g, i, L);
      nats.push_back(diff.data<double>()[i] + masked.prior_nats(written) + masked.reconstruction_nats(written));
    }
    return nats;
  });
}

// The mean over items of an end term of per_position nats at each written position, in bits per unit.
double end_term_bits(const TextItems& items, double per_position) {
  const int64_t L = items.rows.size(1);
  const Tensor g = items.given.defined() ? items.given.contiguous() : Tensor();
  double sum = 0;
  for (int64_t b = 0; b < items.count(); ++b) sum += per_position * static_cast<double>(written_positions(g, b, L)) * items.to_bits(b);
  return sum / static_cast<double>(items.count());
}

class MaskedTextTraining : public TextTrainingTask {
 public:
  MaskedTextTraining(const json& config, std::shared_ptr<const TextCorpus> corpus)
      : TextTrainingTask(config, std::move(corpus)),
        setup_(config, seed_),
        model_(setup_.x0_model(streams_.dropout)),
        sample_steps_(config.at("train").at("sample_steps").get<int64_t>()) {
    setup_.net.train();
  }

  nn::ParameterArena& arena() override { return setup_.arena; }
  // A conditional corpus's given positions (a pair's source) are never masked, so the loss, which counts the
  // masked positions, covers the target alone.
  void draw_batch(int64_t b) override {
    const TextRows batch = rows_->next(b);
    x0_ = batch.rows;
    t_ = diffusion::MaskedDiffusion::sample_t(b, streams_.diffusion);
    x_t_ = setup_.masked.q_sample(x0_, t_, streams_.diffusion, given_ids(x0_, batch.given));
  }
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const Tensor x0 = x0_.slice(0, begin, end), x_t = x_t_.slice(0, begin, end);
    const diffusion::MaskedLoss loss = setup_.masked.training_loss_at(model_, x0, t_.slice(0, begin, end), x_t);
    (loss.loss * weight).backward();
    // The masked positions' mean cross-entropy in bits, unweighted by w(t): what the network is learning.
    int64_t masked = 0;
    const Tensor xt = x_t.contiguous();
    for (int64_t i = 0; i < xt.numel(); ++i) masked += xt.data<int32_t>()[i] == setup_.masked.mask_id();
    const double ce = sum(loss.masked_ce).item() / (std::max<int64_t>(masked, 1) * std::numbers::ln2);
    return {loss.loss.item(), {loss.loss.item(), ce}};
  }
  // "L_diffusion": the one-t estimate of the bound's integral, bits per position of the row (the loss);
  // "CE_masked": bits per masked position.
  std::vector<std::string> loss_part_names() const override { return {"L_diffusion", "CE_masked"}; }
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    setup_.net.eval();
    Philox rng(seed_, kSamples);
    diffusion::MaskedSampleOptions options;
    options.steps = sample_steps_;
    options.given = sample_given();
    const int64_t n = options.given.defined() ? options.given.size(0) : sample_count_;
    const diffusion::MaskedSampleResult r = sample_text(setup_, n, rng, options);
    setup_.net.train();
    return write_training_text_samples(dir, step, r.x0, *vocabulary_);
  }
  // Bits per unit of the first valid items by the one-t estimate, as `diffuse evaluate`.
  EvaluationRecord evaluate(int64_t items) override {
    setup_.net.eval();
    Philox unused(0);
    const ChunkBits r = masked_chunk_bits(setup_.masked, stoppable(setup_.x0_model(unused)), held_out_.first(items),
                                          setup_.config.at("train").at("batch").get<int64_t>(),
                                          periodic_evaluation_options(setup_.config, "valid", /*estimate=*/true));
    setup_.net.train();
    return held_out_record(*vocabulary_, held_out_.noun, r.chunks, r.mean(), r.standard_error(), "estimate");
  }

 private:
  MaskedTextModel setup_;
  diffusion::MaskedX0Model model_;
  int64_t sample_steps_;
  Tensor x0_, t_, x_t_;  // the drawn batch
};

}  // namespace

// None for a word preset before its run: its vocabulary, and so its embedding and output sizes, come from
// --data (the rest of the network is checked all the same).
static std::optional<int64_t> masked_text_parameter_count(const json& config) {
  schedule_from_json(config.at("diffusion"));
  Philox rng(0);
  if (!text_states_known(config)) {
    nn::Transformer(network_config(with_placeholder_states(config)), rng);
    return std::nullopt;
  }
  return nn::Transformer(network_config(config), rng).parameter_count();
}

static std::unique_ptr<TrainingTask> make_masked_text_training(json& config, const std::string& data_path) {
  const auto corpus = load_text_corpus(data_path, config, "the run's configuration (preset " + config.at("preset").get<std::string>() + ")");
  record_text_corpus(config, *corpus);
  return std::make_unique<MaskedTextTraining>(config, corpus);
}

// The network as MaskGIT decoding asks it: a network that reads t is given the t where alpha_t equals the
// row's share of unmasked positions (MaskedSchedule::time_of_alpha).
static diffusion::MaskedTokenModel maskgit_model(const MaskedTextModel& m) {
  auto unused = std::make_shared<Philox>(0);  // dropout's stream, unused in eval mode
  return [&m, unused](const Tensor& x) {
    Tensor t = Tensor::empty({x.size(0)}, DType::F64);
    for (int64_t b = 0; b < x.size(0); ++b)
      t.data<double>()[b] = m.masked.schedule().time_of_alpha(1.0 - masked_share(x, b, m.masked.mask_id()));
    return stoppable(m.x0_model(*unused))(x, t);
  };
}

static int run_masked_text_sample(const SampleOptions& options) {
  const int64_t n = options.n == 0 ? 4 : options.n;
  auto m = load_model_for_inference<MaskedTextModel>(options.checkpoint, options.ema);
  require_source_template(*m->vocabulary, options.template_text);
  if (options.decoder == "maskgit") return run_maskgit_sample(options, maskgit_model(*m), *m->vocabulary, n, m->seq_len(), "masked-text");
  diffusion::MaskedSampleOptions sampling;
  sampling.steps = options.steps > 0 ? options.steps : 1000;
  sampling.grid = parse_grid(options.grid);
  sampling.reuse_outputs = !options.recompute;
  if (!options.template_text.empty()) sampling.given = m->vocabulary->parse_template(options.template_text, m->seq_len());
  if (options.progressive) sampling.record_every = options.every > 0 ? options.every : std::max<int64_t>(sampling.steps / 10, 1);
  const auto progress = evaluation_progress("sample", sampling.steps, options.quiet);
  sampling.on_step = [&progress] { progress->advance(); };
  Philox rng(options.seed, kSamples);
  const auto start = std::chrono::steady_clock::now();
  const diffusion::MaskedSampleResult r = sample_text(*m, n, rng, sampling);
  const double seconds = seconds_since(start);
  progress->finish();
  if (options.progressive) {
    std::printf("unmasking trajectory of sample 0 (x_t at the recorded t, %s = mask):\n", m->vocabulary->mask_shown().c_str());
    for (size_t i = 0; i < r.recorded.size(); ++i)
      std::printf("t=%.3f | %s\n", r.recorded_t[i], m->vocabulary->decode(r.recorded[i].narrow(0, 0, 1)).c_str());
    std::printf("\n");
  }
  const std::vector<std::string> texts = m->vocabulary->decode_rows(r.x0);
  for (size_t i = 0; i < texts.size(); ++i) std::printf("[%zu] %s\n", i, texts[i].c_str());
  std::printf("%lld samples of %lld %s, %lld steps on the %s grid: %lld network evaluations of a sequence, %lld "
              "reused (%s), %.2f s (%.3f s per sample, batch %lld)\n",
              static_cast<long long>(n), static_cast<long long>(m->seq_len()), m->vocabulary->units().c_str(),
              static_cast<long long>(sampling.steps),
              sampling.grid == diffusion::MaskedSamplingGrid::Cosine ? "cosine" : "uniform",
              static_cast<long long>(r.network_evaluations), static_cast<long long>(r.evaluations_saved),
              m->reads_t() ? "none: the network reads t" : sampling.reuse_outputs ? "no token changed" : "--recompute",
              seconds, seconds / static_cast<double>(n), static_cast<long long>(n));
  if (!options.out.empty()) {
    write_text_samples(options.out, texts, *m->vocabulary, options.checkpoint, "masked-text", seconds / static_cast<double>(n),
                       sampling.steps);
    std::printf("wrote %s\n", options.out.c_str());
  }
  return 0;
}

static int run_masked_text_evaluate(const EvaluateOptions& options) {
  if (!options.rate_distortion.empty()) throw std::invalid_argument("--rate-distortion: only for DDPM checkpoints");
  auto m = load_model_for_inference<MaskedTextModel>(options.checkpoint, options.ema);
  if (options.steps != 0) throw std::invalid_argument("--steps: masked diffusion's bound is in continuous time (no steps)");
  const auto corpus = load_text_corpus(options.data_dir, m->config, options.checkpoint);
  const int64_t L = m->seq_len();
  const TextItems items = evaluation_items(*corpus, options.split, options.items, L, options.skip_long);
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  const diffusion::MaskedDiffusion& masked = m->masked;
  const TextVocabulary& v = *m->vocabulary;
  const double prior_bits = end_term_bits(items, masked.prior_nats(1)), recon_bits = end_term_bits(items, masked.reconstruction_nats(1));
  Philox unused(0);
  const auto start = std::chrono::steady_clock::now();
  const ChunkBits r = masked_chunk_bits(masked, m->x0_model(unused), items, batch, options);
  if (!ProcessGroup::world().is_root()) return 0;
  const double seconds = seconds_since(start);
  if (options.json) {
    std::cout << json{{v.figure(), r.mean()}, {"stderr", r.standard_error()}, {items.noun, r.chunks}, {"method", "estimate"},
                      {"schedule", masked.schedule().name()}, {"prior_" + v.figure(), prior_bits},
                      {"reconstruction_" + v.figure(), recon_bits},
                      {"network_evaluations", r.network_evaluations}, {"seconds", seconds}, {"checkpoint", options.checkpoint},
                      {"split", options.split}, {"chunk_length", L}}
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("bits/%s %.4f (+- %.4f standard error) on %lld %s %s of %lld positions, the continuous-time bound estimated at one "
              "t per item (low-discrepancy within each batch of %lld), %.0f s\n",
              v.unit().c_str(), r.mean(), r.standard_error(), static_cast<long long>(r.chunks), options.split.c_str(),
              items.noun.c_str(), static_cast<long long>(L), static_cast<long long>(batch), seconds);
  std::printf("  schedule %s, eps %g: prior %.6f and reconstruction %.6f bits/%s included\n", masked.schedule().name().c_str(),
              masked.schedule().eps, prior_bits, recon_bits, v.unit().c_str());
  if (items.given.defined())
    std::printf("  the bound of the target given the source: the given positions are never masked and not counted\n");
  return 0;
}

// `evaluate --task pairs`: the target given the source, by ancestral sampling (--steps, default 1000, reusing
// the outputs of rows none of whose tokens changed) or MaskGIT (--decoder maskgit, --steps default 16,
// --choice-temperature); the source's positions are given, never masked.
static TargetGenerator masked_text_target_generator(const EvaluateOptions& options) {
  if (options.temperature != 0) throw std::invalid_argument("--temperature: the autoregressive model's (ar-text); masked-text draws at 1");
  std::shared_ptr<const MaskedTextModel> m = load_model_for_inference<MaskedTextModel>(options.checkpoint, options.ema);
  TargetGenerator g;
  g.config = m->config;
  g.states = kMaskOrStartStates;
  const int64_t L = m->seq_len(), V = m->vocabulary->size();
  if (options.decoder == "maskgit") {
    diffusion::MaskGitOptions decoding;
    decoding.steps = g.steps = options.steps > 0 ? options.steps : 16;
    decoding.choice_temperature = options.choice_temperature;
    g.decoding = "MaskGIT, " + std::to_string(decoding.steps) + " steps, choice temperature " + format_number(decoding.choice_temperature);
    g.generate = [m, decoding, L, V](const Tensor& given, Philox& rng, int64_t* evaluations) {
      diffusion::MaskGitOptions o = decoding;
      o.given = given;
      const diffusion::MaskGitResult r = diffusion::maskgit_decode(maskgit_model(*m), given.size(0), L, V, rng, o);
      *evaluations += r.network_evaluations * given.size(0);
      return r.x0;
    };
    return g;
  }
  if (!options.decoder.empty() && options.decoder != "ancestral")
    throw std::invalid_argument("--decoder: 'ancestral' or 'maskgit' for masked-text, got '" + options.decoder + "'");
  diffusion::MaskedSampleOptions sampling;
  sampling.steps = g.steps = options.steps > 0 ? options.steps : 1000;
  g.decoding = "ancestral, " + std::to_string(sampling.steps) + " steps on the cosine grid";
  g.generate = [m, sampling](const Tensor& given, Philox& rng, int64_t* evaluations) {
    diffusion::MaskedSampleOptions o = sampling;
    o.given = given;
    const diffusion::MaskedSampleResult r = sample_text(*m, given.size(0), rng, o);
    *evaluations += r.network_evaluations;
    return r.x0;
  };
  return g;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kMaskedTextFamily = {
    .kind = "masked-text",
    .description = "masked diffusion in continuous time on text8 characters or verses of words (MD4, MDLM): a transformer, SUBS",
    .read_config = masked_text_parameter_count,
    .make_training = make_masked_text_training,
    .network_metadata = masked_text_network_metadata,
    .sample = run_masked_text_sample,
    .sample_flags = {"--grid", "--recompute", "--decoder", "--choice-temperature", "--template"},
    .evaluate = run_masked_text_evaluate,
    .target_generator = masked_text_target_generator,
};

}  // namespace diffuse
