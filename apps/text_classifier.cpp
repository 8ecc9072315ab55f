#include "apps/text_classifier.hpp"

#include <cstdio>
#include <stdexcept>

#include "apps/command_options.hpp"
#include "apps/run_support.hpp"
#include "data/bible_books.hpp"
#include "nn/checkpoint.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;

const std::vector<std::string>& class_names(ClassifierTarget target) {
  return target == ClassifierTarget::Testament ? data::kTestamentNames : data::kBookGroupNames;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

nn::TransformerConfig classifier_network(const json& config) {
  nn::TransformerConfig c = nn::TransformerConfig::from_json(config.at("model"));
  if (!c.pooled) throw std::invalid_argument("model.pooled: a verse classifier pools over positions: must be true");
  if (c.causal) throw std::invalid_argument("model.causal: a verse classifier reads the whole verse: must be false");
  return c;
}

}  // namespace

std::string embedding_hash(const Tensor& embedding) { return nn::weights_hash(embedding); }

ClassifierTarget parse_classifier_target(const std::string& name) {
  if (name == "testament") return ClassifierTarget::Testament;
  if (name == "group") return ClassifierTarget::Group;
  if (name == "words") return ClassifierTarget::Words;
  throw std::invalid_argument("classifier.target: 'testament', 'group' or 'words', got '" + name + "'");
}

TextClassifierModel::TextClassifierModel(const json& config, uint64_t seed)
    : config(config),
      target(parse_classifier_target(config.at("classifier").at("target").get<std::string>())),
      noisy(config.at("classifier").at("input").get<std::string>() == "noisy"),
      vocabulary(text_vocabulary(config, "the configuration of " + config.value("preset", std::string("the classifier")), kClassifierStates)),
      init_rng(seed, kInit), net(classifier_network(config), init_rng), arena(net) {
  const std::string input = config.at("classifier").at("input").get<std::string>();
  if (input != "noisy" && input != "clean") throw std::invalid_argument("classifier.input: 'noisy' or 'clean', got '" + input + "'");
  const nn::TransformerConfig& c = net.config();
  const int64_t expected = target == ClassifierTarget::Words ? vocabulary->size() : static_cast<int64_t>(class_names(target).size());
  if (c.out_states != expected)
    throw std::invalid_argument("model.out_states: " + std::to_string(c.out_states) + ", but the target '" +
                                config.at("classifier").at("target").get<std::string>() + "' has " + std::to_string(expected) +
                                " classes");
  const json& classifier = config.at("classifier");
  if (!noisy && classifier.contains("input_layer"))
    throw std::invalid_argument("classifier.input_layer: a clean classifier reads token ids; the input layer is a noisy one's");
  const std::string layer = classifier.value("input_layer", std::string("projection"));  // absent in older runs
  if (layer != "projection" && layer != "word_posterior")
    throw std::invalid_argument("classifier.input_layer: 'projection' or 'word_posterior', got '" + layer + "'");
  word_posterior_input = noisy && layer == "word_posterior";
  // The input each kind reads, by model.input_dim: token ids (0) for a clean one; for a noisy one, x_t through
  // in_proj (d), the posterior as its expected token embedding (0), or the posterior through in_proj (V, as
  // session-19 runs were trained).
  const bool input_ok = !noisy                ? c.input_dim == 0
                        : word_posterior_input ? c.input_dim == 0 || c.input_dim == vocabulary->size()
                                               : c.input_dim > 0;
  if (!input_ok || noisy != c.time_embedding)
    throw std::invalid_argument("model: a clean classifier reads token ids (model.input_dim = 0) and no t; a noisy one reads t "
                                "(model.time_embedding) and x_t (input_layer projection: input_dim = d) or the word posterior "
                                "(input_layer word_posterior: input_dim = 0, its expected token embedding); got input_dim " +
                                std::to_string(c.input_dim) + " for a " + (noisy ? "noisy" : "clean") + " one");
  word_presence = classifier.value("word_presence", false);  // absent in runs before it
  if (word_presence && !(target == ClassifierTarget::Words && word_posterior_input))
    throw std::invalid_argument("classifier.word_presence: the presence term is the words target's, on the word_posterior input");
  if (c.in_states != vocabulary->size())
    throw std::invalid_argument("model.in_states: one per word of the vocabulary, " + std::to_string(vocabulary->size()) + ", got " +
                                std::to_string(c.in_states));
}

int64_t TextClassifierModel::class_of(const std::string& value) const {
  if (target == ClassifierTarget::Words) {
    const std::vector<int32_t> ids = vocabulary->encode_line(value, TextLocation{"--control", 0, 0});
    if (ids.size() != 1 || ids[0] < data::kNumSpecialTokens)
      throw std::invalid_argument("--control: '" + value + "' is not one word of the vocabulary");
    return ids[0];
  }
  const std::vector<std::string>& names = class_names(target);
  for (size_t c = 0; c < names.size(); ++c)
    if (names[c] == value) return static_cast<int64_t>(c);
  throw std::invalid_argument("--control: '" + value + "' is not a class of this classifier (" + joined(names) + ")");
}

std::string TextClassifierModel::class_name(int64_t c) const {
  if (target == ClassifierTarget::Words) return vocabulary->decode(Tensor::from_vector(std::vector<int32_t>{static_cast<int32_t>(c)}, {1}));
  return class_names(target).at(static_cast<size_t>(c));
}

Tensor TextClassifierModel::logits(const Tensor& input, const Tensor& step, Philox& rng) const {
  if (!noisy) return net.forward(input, Tensor(), rng);
  if (!bound_process) throw std::logic_error("TextClassifierModel::logits: a noisy classifier reads x_t only after bind()");
  if (!word_posterior_input) return net.forward(input, step, rng);
  const Tensor q = softmax(bound_process->word_posterior_logits(input, step, bound_embedding), 2);
  const Tensor z = net.forward(q, step, rng);
  return word_presence ? z + diffusion::EmbeddingDiffusion::word_presence_logits(q) : z;
}

Tensor TextClassifierModel::log_prob(const Tensor& input, const Tensor& step, const std::vector<int64_t>& classes, Philox& rng) const {
  const Tensor z = logits(input, step, rng);
  const int64_t B = z.size(0);
  if (static_cast<int64_t>(classes.size()) != B) throw std::invalid_argument("log_prob: one class per row");
  // Picks column classes[b] of row b: a one-hot mask [B, K] times the per-class log-probabilities.
  Tensor pick = Tensor::zeros(z.shape(), z.dtype());
  for (int64_t b = 0; b < B; ++b) pick.data<float>()[b * z.size(1) + classes[static_cast<size_t>(b)]] = 1.0f;
  const Tensor per_class = target == ClassifierTarget::Words ? log(sigmoid(clamp(z, -30.0, 30.0))) : log_softmax(z, 1);
  return sum(per_class * pick, {1});
}

void TextClassifierModel::bind(const DiffusionLmModel& guided, const std::string& where) {
  const json& c = config.at("classifier");
  const Tensor& embedding = guided.net.embedding();
  const int64_t d = c.value("embedding_dim", net.config().input_dim);  // older runs: the projection's input_dim
  const std::string hash = c.value("embedding_hash", std::string());
  if (embedding.size(1) != d || embedding_hash(embedding) != hash)
    throw std::invalid_argument(where + ": the classifier was trained on an embedding of d = " + std::to_string(d) + " (hash " + hash +
                                ", " + c.value("diffusion_lm", std::string("?")) + "), but the model it would guide has d = " +
                                std::to_string(embedding.size(1)) + " (hash " + embedding_hash(embedding) + ")");
  bound_embedding = embedding.detach();
  bound_process.emplace(guided.diffusion);
}

std::vector<int64_t> verse_labels(ClassifierTarget target, const std::vector<data::Verse>& verses) {
  std::vector<int64_t> labels;
  for (const data::Verse& v : verses) {
    const data::BookFacts& facts = data::book_facts(v.book);
    labels.push_back(target == ClassifierTarget::Testament ? static_cast<int64_t>(facts.testament) : static_cast<int64_t>(facts.group));
  }
  return labels;
}

Tensor classifier_loss(ClassifierTarget target, const Tensor& logits, const std::vector<int64_t>& labels, const Tensor& rows) {
  const int64_t B = logits.size(0), K = logits.size(1);
  if (target != ClassifierTarget::Words) {
    std::vector<int32_t> y(labels.begin(), labels.end());
    return cross_entropy(logits, Tensor::from_vector(y, {B}), Reduction::Mean);
  }
  // Multi-hot targets from the rows; special tokens are never targets (their outputs get no loss).
  std::vector<float> y(static_cast<size_t>(B * K), 0.0f), weight(static_cast<size_t>(B * K), 1.0f);
  const Tensor r = rows.contiguous();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < r.size(1); ++i) y[static_cast<size_t>(b * K + r.data<int32_t>()[b * r.size(1) + i])] = 1.0f;
    for (int64_t k = 0; k < data::kNumSpecialTokens; ++k) weight[static_cast<size_t>(b * K + k)] = 0.0f;
  }
  const Tensor target_t = Tensor::from_vector(y, {B, K}), w = Tensor::from_vector(weight, {B, K});
  const Tensor z = clamp(logits, -30.0, 30.0);
  // -[y log sigmoid(z) + (1 - y) log sigmoid(-z)], summed over the words, mean over the batch.
  const Tensor nll = -(target_t * log(sigmoid(z)) + (target_t * -1.0 + 1.0) * log(sigmoid(-z)));
  return sum(nll * w) / static_cast<double>(B);
}

}  // namespace diffuse
