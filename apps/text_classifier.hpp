// The verse classifiers of Diffusion-LM's control (Li et al. 2022, §5.2; docs/math.md §7.6): a pooled transformer
// (nn/transformer.hpp, pooled = true) that reads a verse and gives its class, in two kinds:
//
//   noisy  reads the noisy embeddings x_t [B, L, d] of a Diffusion-LM run and t: the classifier p_phi(c | x_t, t)
//          whose gradient guides sampling. It is trained on x_t ~ q(x_t | x0), x0 ~ q_phi(x0 | w), with the
//          embedding and the process of the run it guides (classifier.diffusion_lm, that run's checkpoint), at
//          t uniform on 1..T.
//   clean  reads the token ids of clean text and no t: the independent judge that scores guided samples,
//          never used for guidance.
//
// Targets (classifier.target), with the labels of data/bible_books.hpp:
//   testament  2 classes, old and new                      softmax cross-entropy
//   group      6 classes, law ... letters                  softmax cross-entropy
//   words      one output per word of the vocabulary: whether the verse holds it (multi-label: a sigmoid per
//              word, binary cross-entropy summed over the words; the four special tokens are never targets)
//
// The noisy kind's input layer (classifier.input_layer):
//   projection      the paper's: x_t [B, L, d] goes straight to the transformer's input projection (model.input_dim = d)
//   word_posterior  each position's posterior over the vocabulary under the run's process,
//                   q(w | x_t) = softmax_w((sqrt(abar_t) <x_t, EMB_w> - abar_t ||EMB_w||^2 / 2) / v_t)
//                   (diffusion/embedding_diffusion.hpp), [B, L, V], read as its expected token embedding,
//                   q tok_emb (model.input_dim = 0; session 19's runs took it through in_proj, model.input_dim
//                   = V, and still load). A deviation from the paper: on the WEB verses (d = 16) the projection
//                   classifier learns nothing beyond the class prior, this one does (README, Diffusion-LM). It
//                   is differentiable in x_t, so guidance's gradient flows through it.
//
// The words target on the word_posterior input adds to each word's logit the logit of its noisy-OR presence,
// P(w in x | x_t) = 1 - prod_i (1 - q_i(w | x_t)) (classifier.word_presence, set for every new words guide): the
// transformer learns a correction to that Bayes reading rather than the reading itself, and guidance's gradient
// pulls the positions most like w towards EMB_w. Without it the words guide read "jesus" with AUC 0.70 at
// t <= 200 (a clean reader: 0.98) and guided samples never held the word (README, Diffusion-LM).
//
// Both kinds take their vocabulary (data.vocabulary) from the Diffusion-LM run, so a judge reads exactly what
// that run writes. The noisy kind records the embedding it was trained with by its dimension d
// (classifier.embedding_dim) and a hash (classifier.embedding_hash); bind() attaches that run's embedding and
// process, and refuses another embedding, naming both.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/diffusion_lm_model.hpp"
#include "apps/text_corpus.hpp"
#include "data/verses.hpp"
#include "nn/arena.hpp"
#include "nn/transformer.hpp"

namespace diffuse {

enum class ClassifierTarget { Testament, Group, Words };

// FNV-1a 64 over the float32 bytes of an embedding [V, d], as 16 hex digits.
std::string embedding_hash(const Tensor& embedding);

struct TextClassifierModel {
  TextClassifierModel(const nlohmann::json& config, uint64_t seed);
  nlohmann::json config;
  ClassifierTarget target;
  bool noisy;  // reads x_t and t; else token ids
  std::shared_ptr<const TextVocabulary> vocabulary;
  Philox init_rng;
  nn::Transformer net;
  nn::ParameterArena arena;

  int64_t seq_len() const { return net.config().seq_len; }
  int64_t classes() const { return net.config().out_states; }
  // The class of a --control value ("new", "gospels", or a word); throws naming the value and the choices, or
  // saying the word is not in the vocabulary.
  int64_t class_of(const std::string& value) const;
  std::string class_name(int64_t c) const;
  // Logits [B, classes]: input x_t [B, L, d] with step [B] (noisy, after bind), or ids [B, L] (clean).
  Tensor logits(const Tensor& input, const Tensor& step, Philox& rng) const;
  // log p(c_b | input_b) per row [B] (differentiable): log-softmax for a class target, log-sigmoid of the
  // word's output for words.
  Tensor log_prob(const Tensor& input, const Tensor& step, const std::vector<int64_t>& classes, Philox& rng) const;
  // A noisy classifier reads x_t of the Diffusion-LM run `guided`: keeps its embedding and process (the
  // word_posterior input needs them). Throws std::invalid_argument unless this classifier was trained on that
  // run's embedding: "<where>: ... d and hash".
  void bind(const DiffusionLmModel& guided, const std::string& where);

 private:
  bool word_posterior_input = false;
  bool word_presence = false;  // the words target's logits add the noisy-OR presence of each word
  Tensor bound_embedding;                               // EMB [V, d] of the bound run, off the tape
  std::optional<diffusion::EmbeddingDiffusion> bound_process;  // its process (abar_t, sigma0)
};

// The labels of verse rows: class ids [N] for testament and group, or for words the rows themselves (the
// multi-hot targets are made from them per batch).
std::vector<int64_t> verse_labels(ClassifierTarget target, const std::vector<data::Verse>& verses);
ClassifierTarget parse_classifier_target(const std::string& name);  // throws naming classifier.target

// The classification loss of logits [B, classes] against a batch's labels (class ids) or rows (words): mean
// over the batch, nats. Differentiable in the logits.
Tensor classifier_loss(ClassifierTarget target, const Tensor& logits, const std::vector<int64_t>& labels, const Tensor& rows);

}  // namespace diffuse
