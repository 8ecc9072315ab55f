// The verse-classifier verbs of build/diffuse (apps/text_classifier.hpp): train a pooled transformer on the
// verses of the training books, on the noisy embeddings of a Diffusion-LM run (the guide) or on clean tokens
// (the judge); evaluate its accuracy on a split's books. Its checkpoints are what `sample --control
// --classifier` guides with and what `evaluate --samples --control --judge` scores with.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>

#include "apps/diffusion_lm_model.hpp"
#include "data/bible_books.hpp"
#include "apps/model_family.hpp"
#include "apps/network_metadata.hpp"
#include "apps/run_support.hpp"
#include "apps/sharded_evaluation.hpp"
#include "apps/text_classifier.hpp"
#include "apps/text_control.hpp"
#include "apps/text_support.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "metrics/auc.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

// The rows of a split with their labels: every verse of the split's books, those longer than the rows
// dropped and counted (training, and its periodic evaluation, as the language models do) or refused
// (`evaluate` without --skip-long).
struct LabeledRows {
  TextItems items;
  std::vector<int64_t> labels;  // class ids (unused for the words target)
};

LabeledRows labeled_rows(const TextCorpus& corpus, ClassifierTarget target, data::Text8Split split, int64_t count, int64_t length,
                         data::LongSequences long_rows = data::LongSequences::DropAndCount) {
  LabeledRows r;
  r.items = corpus.items(split, count, length, long_rows);
  if (target == ClassifierTarget::Words) return r;  // the rows are the labels
  if (r.items.books.size() != static_cast<size_t>(r.items.count()))
    throw std::invalid_argument("--data: " + corpus.source() + " is not a verse file: a verse classifier needs the books of its verses");
  for (const std::string& book : r.items.books) {
    const data::BookFacts& f = data::book_facts(book);
    r.labels.push_back(target == ClassifierTarget::Testament ? static_cast<int64_t>(f.testament) : static_cast<int64_t>(f.group));
  }
  return r;
}

// `count` of the rows, evenly spaced (row floor(i N / count)), for a run's periodic evaluation: a split's books
// come in canonical order, so its first rows would be one book (Joshua: one testament, one group).
LabeledRows spread(const LabeledRows& all, int64_t count) {
  const int64_t N = all.items.count();
  if (count <= 0 || count >= N) return all;
  const int64_t L = all.items.rows.size(1);
  const Tensor rows = all.items.rows.contiguous();
  LabeledRows r;
  r.items.noun = all.items.noun;
  std::vector<int32_t> picked;
  for (int64_t i = 0; i < count; ++i) {
    const size_t k = static_cast<size_t>(i * N / count);
    picked.insert(picked.end(), rows.data<int32_t>() + k * L, rows.data<int32_t>() + (k + 1) * L);
    r.items.units.push_back(all.items.units[k]);
    if (!all.items.books.empty()) r.items.books.push_back(all.items.books[k]), r.items.names.push_back(all.items.names[k]);
    if (!all.labels.empty()) r.labels.push_back(all.labels[k]);
  }
  r.items.rows = Tensor::from_vector(picked, {count, L});
  return r;
}

// x_t of rows under the Diffusion-LM process the classifier guides: x0 = EMB(w) + sigma0 eps, then q(x_t | x0).
Tensor noisy_input(const diffusion::EmbeddingDiffusion& process, const Tensor& embedding, const Tensor& rows, const Tensor& step,
                   Philox& rng) {
  NoGradGuard no_grad;
  const int64_t B = rows.size(0), L = rows.size(1), d = embedding.size(1);
  const Tensor x0 = process.embed(embedding, rows, randn({B, L, d}, rng));
  return process.q_sample(x0, step, randn({B, L, d}, rng));
}

// Accuracy on rows: the share whose most probable class is the label (testament, group), or for words the
// share of (row, word) decisions at 1/2 that are right, over the vocabulary's words.
struct Accuracy {
  int64_t right = 0, total = 0;
  double value() const { return total > 0 ? static_cast<double>(right) / static_cast<double>(total) : 0.0; }
  void add(const Accuracy& a) { right += a.right, total += a.total; }
};

// A noisy classifier's accuracy by noise level: kTBands equal bands of t over 1..T (how far into the chain the
// classifier still reads the class; the prior's rate where it reads nothing).
constexpr int64_t kTBands = 10;
struct ClassifierAccuracy {
  Accuracy all;
  std::vector<Accuracy> by_t;  // kTBands bands for a noisy classifier; empty for a clean one
};

// Row b of logits [B, K] scored against its label, or (words) against the words its row ids hold.
Accuracy score_row(const TextClassifierModel& m, const double* z, int64_t K, int64_t label, const int32_t* ids, int64_t L) {
  Accuracy a;
  if (m.target != ClassifierTarget::Words) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k)
      if (z[k] > z[best]) best = k;
    a.right = best == label;
    a.total = 1;
    return a;
  }
  std::vector<bool> present(static_cast<size_t>(K), false);
  for (int64_t i = 0; i < L; ++i) present[static_cast<size_t>(ids[i])] = true;
  for (int64_t k = data::kNumSpecialTokens; k < K; ++k, ++a.total) a.right += (z[k] > 0) == present[static_cast<size_t>(k)];
  return a;
}

// One row's logits [K] as the classifier read it, with its ids [L] and its band of t (-1 for a clean classifier).
struct ScoredRow {
  int64_t index;  // in the rows
  const double* z;
  int64_t K;
  const int32_t* ids;
  int64_t L;
  int64_t band;
};

// The classifier's logits for the first `count` rows (0: all), in batches: a noisy classifier reads each
// batch's x_t at t uniform (drawn from rng), a clean one the rows. visit(row) for each row in order.
void for_each_scored_row(const TextClassifierModel& m, const DiffusionLmModel* guided, const LabeledRows& rows, int64_t count,
                         int64_t batch, Philox& rng, const std::function<void(const ScoredRow&)>& visit) {
  NoGradGuard no_grad;
  const int64_t N = count > 0 ? std::min(count, rows.items.count()) : rows.items.count();
  for (int64_t begin = 0; begin < N; begin += batch) {
    const int64_t n = std::min(batch, N - begin);
    const Tensor r = rows.items.rows.slice(0, begin, begin + n).contiguous();
    Tensor step, input = r;
    if (m.noisy) {
      step = diffusion::sample_steps(n, guided->diffusion.timesteps(), rng);
      input = noisy_input(guided->diffusion, guided->net.embedding(), r, step, rng);
    }
    const Tensor z = m.logits(input, step, rng).to(DType::F64).contiguous();
    const Tensor t = m.noisy ? step.to(DType::I32).contiguous() : Tensor();
    const int64_t K = z.size(1), L = r.size(1);
    for (int64_t b = 0; b < n; ++b)
      visit({begin + b, z.data<double>() + b * K, K, r.data<int32_t>() + b * L, L,
             m.noisy ? t.data<int32_t>()[b] * kTBands / guided->diffusion.timesteps() : -1});
  }
}

// Accuracy on the first `count` rows, over all and (noisy) by band of t.
ClassifierAccuracy classifier_accuracy(const TextClassifierModel& m, const DiffusionLmModel* guided, const LabeledRows& rows, int64_t count,
                                       int64_t batch, Philox& rng) {
  ClassifierAccuracy total;
  if (m.noisy) total.by_t.resize(kTBands);
  for_each_scored_row(m, guided, rows, count, batch, rng, [&](const ScoredRow& row) {
    const int64_t label = rows.labels.empty() ? 0 : rows.labels[static_cast<size_t>(row.index)];
    const Accuracy a = score_row(m, row.z, row.K, label, row.ids, row.L);
    total.all.add(a);
    if (row.band >= 0) total.by_t[static_cast<size_t>(row.band)].add(a);
  });
  return total;
}

// How well a words classifier reads one word: the word's logit on the verses that hold it and on those that
// do not, whose AUC (metrics/auc.hpp) says how well it ranks the first above the second.
struct ScoredVerses {
  std::vector<double> with, without;
  double auc() const { return metrics::auc(with, without); }
};
struct WordReading {
  ScoredVerses all;
  std::vector<ScoredVerses> by_t;
};

WordReading word_reading(const TextClassifierModel& m, const DiffusionLmModel* guided, const LabeledRows& rows, int64_t word, int64_t batch,
                         Philox& rng) {
  WordReading reading;
  if (m.noisy) reading.by_t.resize(kTBands);
  for_each_scored_row(m, guided, rows, 0, batch, rng, [&](const ScoredRow& row) {
    const bool holds = std::find(row.ids, row.ids + row.L, static_cast<int32_t>(word)) != row.ids + row.L;
    (holds ? reading.all.with : reading.all.without).push_back(row.z[word]);
    if (row.band >= 0) (holds ? reading.by_t[static_cast<size_t>(row.band)].with : reading.by_t[static_cast<size_t>(row.band)].without).push_back(row.z[word]);
  });
  return reading;
}

class TextClassifierTraining : public TrainingTask {
 public:
  TextClassifierTraining(const json& config, std::shared_ptr<const TextCorpus> corpus)
      : seed_(config.at("seed").get<uint64_t>()), model_(config, seed_), streams_(seed_), corpus_(std::move(corpus)),
        train_(labeled_rows(*corpus_, model_.target, data::Text8Split::Train, 0, model_.seq_len())),
        draws_(seed_, kData) {
    if (model_.noisy) {
      guided_ = std::make_unique<DiffusionLmModel>(checkpoint_config(guided_path()), 0);
      load_inference_weights(guided_path(), guided_->arena, /*use_ema=*/true);
      model_.bind(*guided_, "classifier.diffusion_lm " + guided_path());
    }
    const EvaluationSchedule schedule = evaluation_schedule(config.at("train"));
    if (schedule.enabled())
      held_out_ = spread(labeled_rows(*corpus_, model_.target, data::Text8Split::Valid, 0, model_.seq_len()), schedule.items);
    model_.net.train();
  }

  nn::ParameterArena& arena() override { return model_.arena; }
  void draw_batch(int64_t b) override {
    std::vector<int32_t> picked;
    labels_.clear();
    const int64_t N = train_.items.count(), L = model_.seq_len();
    for (int64_t i = 0; i < b; ++i) {
      const int64_t r = static_cast<int64_t>(draws_.uniform() * static_cast<double>(N)) % N;
      const int32_t* row = train_.items.rows.data<int32_t>() + r * L;
      picked.insert(picked.end(), row, row + L);
      labels_.push_back(train_.labels.empty() ? 0 : train_.labels[static_cast<size_t>(r)]);
    }
    rows_ = Tensor::from_vector(picked, {b, L});
    if (model_.noisy) {
      step_ = diffusion::sample_steps(b, guided_->diffusion.timesteps(), streams_.diffusion);
      input_ = noisy_input(guided_->diffusion, guided_->net.embedding(), rows_, step_, streams_.diffusion);
    } else {
      input_ = rows_;
    }
  }
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const std::vector<int64_t> labels(labels_.begin() + begin, labels_.begin() + end);
    const Tensor z = model_.logits(input_.slice(0, begin, end), model_.noisy ? step_.slice(0, begin, end) : Tensor(), streams_.dropout);
    const Tensor loss = classifier_loss(model_.target, z, labels, rows_.slice(0, begin, end));
    (loss * weight).backward();
    return {loss.item(), {loss.item()}};
  }
  std::vector<std::string> loss_part_names() const override { return {"CE"}; }
  // The first train.sample_count valid verses with the predicted class.
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    fs::create_directories(dir);
    const fs::path path = dir / ("step-" + std::to_string(step) + ".txt");
    std::string text = "(no held-out verses: set train.eval_every)\n";
    if (held_out_.items.count() > 0) {
      model_.net.eval();
      const int64_t n = std::min<int64_t>(held_out_.items.count(), 4);
      const Tensor rows = held_out_.items.rows.narrow(0, 0, n);
      Philox rng(seed_, kSamples);
      const Tensor clean_step = diffusion::step_tensor(n, 0);
      const Tensor z = model_.logits(model_.noisy ? noisy_input(guided_->diffusion, guided_->net.embedding(), rows, clean_step, rng) : rows,
                                     clean_step, rng).to(DType::F64).contiguous();
      model_.net.train();
      text.clear();
      const std::vector<std::string> verses = model_.vocabulary->decode_rows(rows);
      for (int64_t b = 0; b < n; ++b) {
        int64_t best = data::kNumSpecialTokens * (model_.target == ClassifierTarget::Words);
        for (int64_t k = best + 1; k < z.size(1); ++k)
          if (z.data<double>()[b * z.size(1) + k] > z.data<double>()[b * z.size(1) + best]) best = k;
        text += "[" + model_.class_name(best) + "] " + verses[static_cast<size_t>(b)] + "\n";
      }
    }
    write_text_atomically(path, text);
    return {path, text.substr(0, text.find('\n'))};
  }
  EvaluationRecord evaluate(int64_t items) override {
    model_.net.eval();
    Philox rng(seed_, kEval);
    const Accuracy a = classifier_accuracy(model_, guided_.get(), held_out_, items, model_.config.at("train").at("batch").get<int64_t>(), rng).all;
    model_.net.train();
    return {.split = "valid", .items = std::min(items, held_out_.items.count()), .item_noun = "verses", .figure = "accuracy",
            .value = a.value(), .standard_error = std::sqrt(a.value() * (1 - a.value()) / std::max<int64_t>(a.total, 1)),
            .method = model_.noisy ? "t uniform" : "clean"};
  }
  std::map<std::string, std::string> state() const override {
    std::map<std::string, std::string> s = streams_.state();
    s["data.position"] = std::to_string(draws_.counter());
    return s;
  }
  void restore(const std::map<std::string, std::string>& metadata, const std::string& path) override {
    streams_.restore(metadata, path);
    draws_.set_counter(std::stoull(metadata.at("data.position")));
  }
  std::string data_summary() const override {
    return std::to_string(train_.items.count()) + " verses of the training books of " + corpus_->source();
  }
  std::string item_name() const override { return "verses"; }
  int64_t items_per_example() const override { return 1; }

 private:
  std::string guided_path() const { return model_.config.at("classifier").at("diffusion_lm").get<std::string>(); }
  uint64_t seed_;
  TextClassifierModel model_;
  TrainingStreams streams_;
  std::shared_ptr<const TextCorpus> corpus_;
  LabeledRows train_, held_out_;
  Philox draws_;
  std::unique_ptr<DiffusionLmModel> guided_;  // the noisy kind's Diffusion-LM (its embedding and process)
  Tensor rows_, step_, input_;
  std::vector<int64_t> labels_;
};

}  // namespace

static std::optional<int64_t> text_classifier_parameter_count(const json& config) {
  parse_classifier_target(config.at("classifier").at("target").get<std::string>());
  if (!config.at("data").contains("vocabulary")) return std::nullopt;  // filled from the Diffusion-LM run when training starts
  Philox rng(0);
  return TextClassifierModel(config, 0).net.parameter_count();
}

// A new run takes its vocabulary from the Diffusion-LM checkpoint it names (classifier.diffusion_lm), and a
// noisy one also that checkpoint's embedding dimension and hash; the output size follows the target.
static std::unique_ptr<TrainingTask> make_text_classifier_training(json& config, const std::string& data_path) {
  json& c = config.at("classifier");
  const std::string guided = c.at("diffusion_lm").get<std::string>();
  if (guided.empty())
    throw std::invalid_argument("classifier.diffusion_lm: the Diffusion-LM checkpoint whose vocabulary (and, for a noisy "
                                "classifier, embedding) this classifier is for: --set classifier.diffusion_lm=PATH");
  const json guided_config = checkpoint_config(guided);
  if (guided_config.at("kind") != "diffusion-lm")
    throw std::invalid_argument("classifier.diffusion_lm: " + guided + " is a " + guided_config.at("kind").get<std::string>() +
                                " checkpoint, not diffusion-lm");
  if (!config.at("data").contains("vocabulary")) {
    config["data"] = guided_config.at("data");
    json& model = config.at("model");
    const ClassifierTarget target = parse_classifier_target(c.at("target").get<std::string>());
    const int64_t V = guided_config.at("model").at("in_states").get<int64_t>();
    model["in_states"] = V;
    model["out_states"] = target == ClassifierTarget::Words ? V : target == ClassifierTarget::Testament ? 2 : 6;
    if (c.at("input") == "noisy") {
      DiffusionLmModel g(guided_config, 0);
      load_inference_weights(guided, g.arena, /*use_ema=*/true);
      const bool posterior = c.value("input_layer", std::string("projection")) == "word_posterior";
      model["input_dim"] = posterior ? 0 : g.dim();
      c["word_presence"] = posterior && target == ClassifierTarget::Words;
      c["embedding_dim"] = g.dim();
      c["embedding_hash"] = embedding_hash(g.net.embedding());
    }
  }
  const auto corpus = load_text_corpus(data_path, config, "the classifier's configuration (from " + guided + ")", kClassifierStates);
  return std::make_unique<TextClassifierTraining>(config, corpus);
}

static int run_text_classifier_sample(const SampleOptions& options) {
  throw std::invalid_argument(options.checkpoint + " is a verse classifier: it does not sample; give it to `sample --control ... "
                              "--classifier` of a diffusion-lm checkpoint, or to `evaluate --samples ... --judge`");
}

namespace {
// Band k holds t/T in [k/10, (k+1)/10), printed as the paper's t = step + 1.
std::string band_range(int64_t k, int64_t T) { return std::to_string(k * T / kTBands + 1) + ".." + std::to_string((k + 1) * T / kTBands); }

// evaluate --control word=W of a words classifier: how well it reads W, the AUC by band of t.
int report_word_reading(const TextClassifierModel& m, const DiffusionLmModel* guided, const LabeledRows& rows, const EvaluateOptions& options,
                        int64_t batch, Philox& rng) {
  const TextControlRequest request = parse_control_flag(options.control);
  if (request.kind != "word" || m.target != ClassifierTarget::Words)
    throw std::invalid_argument("--control " + options.control + ": with a classifier checkpoint, word=W of a words classifier (how well it "
                                "reads W); this one classifies " + m.config.at("classifier").at("target").get<std::string>());
  const int64_t word = m.class_of(request.value);
  const WordReading r = word_reading(m, guided, rows, word, batch, rng);
  const int64_t T = m.noisy ? guided->diffusion.timesteps() : 0;
  auto number = [](double x) { return std::isnan(x) ? json(nullptr) : json(x); };
  if (options.json) {
    json by_t = json::array();
    for (size_t k = 0; k < r.by_t.size(); ++k)
      by_t.push_back({{"t", band_range(static_cast<int64_t>(k), T)}, {"auc", number(r.by_t[k].auc())},
                      {"verses_with_word", r.by_t[k].with.size()}, {"verses_without", r.by_t[k].without.size()}});
    std::cout << json{{"word", request.value}, {"auc", number(r.all.auc())}, {"verses_with_word", r.all.with.size()},
                      {"verses", rows.items.count()}, {"split", options.split}, {"checkpoint", options.checkpoint}, {"auc_by_t", by_t}}
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("'%s': in %zu of %lld %s verses; AUC of its logit %.4f (%s)\n", request.value.c_str(), r.all.with.size(),
              static_cast<long long>(rows.items.count()), options.split.c_str(), r.all.auc(),
              m.noisy ? "noisy embeddings at t uniform on 1..T" : "clean text");
  for (size_t k = 0; k < r.by_t.size(); ++k)
    std::printf("  t in %s: AUC %.4f (%zu verses with it, %zu without)\n", band_range(static_cast<int64_t>(k), T).c_str(), r.by_t[k].auc(),
                r.by_t[k].with.size(), r.by_t[k].without.size());
  return 0;
}
}  // namespace

// Accuracy on a split's verses: a noisy classifier at t uniform on 1..T, a clean one on the text; with
// --control word=W, how well a words classifier reads W.
static int run_text_classifier_evaluate(const EvaluateOptions& options) {
  if (!options.rate_distortion.empty() || options.steps != 0 || options.estimate)
    throw std::invalid_argument("--rate-distortion, --steps and --estimate: not for a verse classifier (it reports accuracy)");
  auto m = load_model_for_inference<TextClassifierModel>(options.checkpoint, options.ema);
  const auto corpus = load_text_corpus(options.data_dir, m->config, options.checkpoint, kClassifierStates);
  std::unique_ptr<DiffusionLmModel> guided;
  if (m->noisy) {
    const std::string path = m->config.at("classifier").at("diffusion_lm").get<std::string>();
    guided = load_model_for_inference<DiffusionLmModel>(path, /*use_ema=*/true);
    m->bind(*guided, options.checkpoint + " (its classifier.diffusion_lm " + path + ")");
  }
  const LabeledRows rows = labeled_rows(*corpus, m->target, parse_text_split(options.split), options.items, m->seq_len(),
                                        options.skip_long ? data::LongSequences::DropAndCount : data::LongSequences::Refuse);
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  Philox rng(options.seed, kEval);
  if (!options.control.empty()) return report_word_reading(*m, guided.get(), rows, options, batch, rng);
  const auto start = std::chrono::steady_clock::now();
  const ClassifierAccuracy accuracy = classifier_accuracy(*m, guided.get(), rows, 0, batch, rng);
  const Accuracy& a = accuracy.all;
  const double seconds = seconds_since(start);
  const std::string target = m->config.at("classifier").at("target").get<std::string>();
  const int64_t T = m->noisy ? guided->diffusion.timesteps() : 0;
  if (options.json) {
    json by_t = json::array();
    for (size_t k = 0; k < accuracy.by_t.size(); ++k)
      by_t.push_back({{"t", band_range(static_cast<int64_t>(k), T)}, {"accuracy", accuracy.by_t[k].value()}, {"decisions", accuracy.by_t[k].total}});
    std::cout << json{{"accuracy", a.value()}, {"decisions", a.total}, {"verses", rows.items.count()},
                      {"long_verses_left_out", rows.items.dropped}, {"target", target},
                      {"input", m->noisy ? "noisy, t uniform" : "clean"}, {"split", options.split}, {"seconds", seconds},
                      {"checkpoint", options.checkpoint}, {"accuracy_by_t", by_t}}
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("accuracy %.4f on %lld %s verses (%lld longer than the rows left out; %s, %s%s), %.0f s\n", a.value(),
              static_cast<long long>(rows.items.count()), options.split.c_str(), static_cast<long long>(rows.items.dropped),
              target.c_str(), m->noisy ? "noisy embeddings at t uniform on 1..T" : "clean text",
              m->target == ClassifierTarget::Words ? "; per (verse, word) decision at probability 1/2" : "", seconds);
  for (size_t k = 0; k < accuracy.by_t.size(); ++k)
    std::printf("  t in %s: %.4f (%lld decisions)\n", band_range(static_cast<int64_t>(k), T).c_str(), accuracy.by_t[k].value(),
                static_cast<long long>(accuracy.by_t[k].total));
  return 0;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kTextClassifierFamily = {
    .kind = "text-classifier",
    .description = "a verse classifier (testament, book group, or the words a verse holds) on noisy Diffusion-LM embeddings or clean text",
    .read_config = text_classifier_parameter_count,
    .make_training = make_text_classifier_training,
    .network_metadata = text_classifier_network_metadata,
    .sample = run_text_classifier_sample,
    .sample_flags = {},
    .evaluate = run_text_classifier_evaluate,
};

}  // namespace diffuse
