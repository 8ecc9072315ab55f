// The text presets: a new one is one entry (apps/preset_table.hpp).
#include "apps/preset_table.hpp"

namespace diffuse::preset_table {

namespace {
// What the word presets change from text8, in their deviations.
const std::string kVerseRows =
    "words instead of text8's characters: a verse file (scripts/export_bible.sh verses WEB web.tsv), one verse a row of 64 "
    "positions [<bos> tokens <eos> <pad>...], split by whole books; a training verse of more than 62 tokens is dropped and "
    "counted (426 of the WEB's 33,804), a held-out one refused; bits per token count the text tokens and <eos>";
const std::string kVerseVocabulary =
    "a vocabulary of the training books' tokens seen at least data.min_count = 5 times, with <pad> <unk> <bos> <eos> (5,940 on "
    "the WEB); model.in_states and model.out_states are V + 1 and V, set when the run starts";
constexpr int64_t kBibleDemoSteps = 600;
// What the pair presets change from the verse presets, in their deviations (docs/math.md §9).
const std::string kPairRows =
    "pairs of aligned verses instead of single verses: a pair file (scripts/export_bible.sh pairs KJV WEB kjv_web.tsv), one "
    "pair a row of 128 positions, [<bos> source <eos> <pad>...] in the first 64 and [target <eos> <pad>...] in the last 64 "
    "(data.pair_layout halves), the two halves sharing their learned positions with a side embedding added "
    "(model.half_positions, as XLM's translation LM): the source word at a target word's place has its position, "
    "where DiffuSeq packs [x; y] with one position per place (docs/math.md §9); split by whole books; a side holds at most 62 "
    "tokens (a training pair with a longer side is dropped and counted, a held-out one refused or, with evaluate --task pairs "
    "--skip-long, left out and counted); the model is given the first half, "
    "<bos>, the source, its <eos> and pads, and its loss, bound (bits per target token, counting the target's <eos>) and samples cover "
    "the rest";
const std::string kPairVocabulary =
    "one vocabulary for both sides: the training books' source and target tokens seen at least data.min_count = 5 times, "
    "with <pad> <unk> <bos> <eos> (7,215 on KJV -> WEB); the vocabulary sizes the embedding (and the output layer of the "
    "masked and autoregressive models) when the run starts";
// The target from position L / 2 (data/pair_rows.hpp, docs/math.md §9): a source word and the target word at
// its place are L / 2 - 1 apart in every row.
const json kPairData = {{"dataset", "pairs"}, {"min_count", 5}, {"pair_layout", "halves"}};
constexpr int64_t kPairDemoSteps = 1000;
}  // namespace

std::vector<Preset> text_presets() {
  return {
      // ---- D3PM, text8 (Table 1) and the reference text config -------------------------------------------
      {"d3pm-text8-paper", "D3PM absorbing on text8 as Austin et al. 2021: transformer 12 x 768, T = 1000, lambda 0.01, 1M steps of 512",
       "",
       {{"kind", "d3pm-text"},
        {"model",
         {{"in_states", 28}, {"out_states", 28}, {"seq_len", 256}, {"width", 768}, {"layers", 12}, {"heads", 12},
          {"mlp", 3072}, {"dropout", 0.0}}},
        {"diffusion",
         {{"kind", "absorbing"}, {"schedule", "auto"}, {"timesteps", 1000}, {"hybrid_lambda", 0.01},
          {"decoder", "posterior"}, {"beta_start", 1e-4}, {"beta_end", 0.02}, {"cosine_s", 0.008}, {"max_beta", 0.999},
          {"nn_knn", 10}, {"nn_final_mask", true}, {"nn_embeddings", "bigram"}, {"spindle_lambda", 0.3},
          {"loss_bits_per_dim", false}}},
        {"train",
         {{"steps", 1000000}, {"batch", 512}, {"micro_batch", 0}, {"lr", 2e-4}, {"warmup", 5000}, {"grad_clip", 0.25},
          {"ema_decay", 0.9999}, {"ema_warmup", false}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999}, {"adam_eps", 1e-8},
          {"tf_adam_epsilon", false}, {"log_every", 100}, {"sample_every", 10000}, {"sample_count", 4},
          {"sample_steps", 0}, {"checkpoint_every", 5000}, {"keep_checkpoints", 3},
          {"replica_check_every", 100}, {"eval_every", 0}, {"eval_items", 64}}},
        {"data", {{"dataset", "text8"}}}},
       {"EMA of the weights at 0.9999 (the paper states none for text8); sample and evaluate use it",
        "schedule 'auto' picks 1/(T-t+1) for absorbing, cosine for uniform, mutual information for nn "
        "(set diffusion.schedule to choose)",
        "nearest-neighbour kind: kNN over bigram-context character embeddings of the training split by default "
        "(diffusion.nn_embeddings: bigram, a checkpoint or a text matrix)",
        "stated choices where the paper is silent: the per-example loss is L_{t-1} + lambda * CE summed over "
        "the 256 positions (not T * L_{t-1}); L_0 uses the posterior formula with Qbar_0 = I (the text code's)"}},
      {"d3pm-text8-small", "D3PM on text8 sized for a CPU: transformer 6 x 256 (4.95M), batch 32", "d3pm-text8-paper",
       {{"model", {{"width", 256}, {"layers", 6}, {"heads", 8}, {"mlp", 1024}}},
        {"train",
         {{"batch", 32}, {"lr", 1e-3}, {"warmup", 100}, {"steps", 100000}, {"ema_decay", 0.995}, {"ema_warmup", true},
          {"log_every", 10}, {"sample_every", 1000}, {"sample_steps", 100}, {"checkpoint_every", 500}, {"eval_every", 1000},
          {"eval_items", 64}}}},
       {"transformer 6 layers x width 256, 8 heads, MLP 1024 (4.95M parameters) instead of 12 x 768",
        "batch 32 instead of 512, lr 1e-3 with 100 warmup steps instead of 2e-4 with 5000 (sized for runs of hours, "
        "not days), 100k steps instead of 1M, EMA 0.995 with warm-up",
        "training-time samples take 100 steps (sample_steps); `diffuse sample` takes all T by default"}},
      {"d3pm-text8-tiny", "D3PM on text8 for smoke tests: transformer 2 x 64, windows of 32, T = 50", "d3pm-text8-paper",
       {{"model", {{"width", 64}, {"layers", 2}, {"heads", 4}, {"mlp", 256}, {"seq_len", 32}}},
        {"diffusion", {{"timesteps", 50}}},
        {"train",
         {{"batch", 8}, {"lr", 1e-3}, {"warmup", 20}, {"steps", 300}, {"ema_decay", 0.9}, {"ema_warmup", true},
          {"log_every", 10}, {"sample_every", 100}, {"sample_count", 2}, {"sample_steps", 0}, {"checkpoint_every", 100}}}},
       {"transformer 2 x 64, windows of 32 characters, T = 50: a smoke-test model",
        "batch 8, lr 1e-3, warmup 20, 300 steps, EMA 0.9 with warm-up"}},
      // The README's demo: D3PM absorbing on the bundled KJV Gospels (demo/kjv-gospels.txt, text8 format).
      {"d3pm-text-demo", "The demo: D3PM absorbing on the bundled KJV Gospels, transformer 2 x 128, minutes on 2 cores",
       "d3pm-text8-paper",
       {{"model", {{"seq_len", 64}, {"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"diffusion", {{"hybrid_lambda", 1.0}}},
        {"train",
         {{"steps", 2000}, {"batch", 64}, {"lr", 1e-3}, {"warmup", 100}, {"grad_clip", 1.0}, {"ema_decay", 0.99},
          {"ema_warmup", true}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2}, {"sample_steps", 0},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"a 420,000-character corpus (the KJV Gospels) instead of text8's 100M; windows of 64",
        "transformer 2 x 128, 4 heads, MLP 512 (0.45M parameters) instead of 12 x 768",
        "hybrid lambda 1.0 instead of 0.01: the cross-entropy term teaches the denoiser in minutes "
        "(at 0.01 a few thousand steps stay at the unigram level, about 4 bits/char)",
        "batch 64, lr 1e-3, warmup 100, clip 1.0, 2000 steps, EMA 0.99 with warm-up: minutes, not days"}},

      // ---- Masked diffusion in continuous time (MD4: Shi et al. 2024; MDLM: Sahoo et al. 2024), text8 ----
      {"mdlm-text8-paper",
       "Masked diffusion on text8 as MD4's configs/md4/text8.py: transformer 12 x 768, linear schedule, 1M steps of 512", "",
       {{"kind", "masked-text"},
        {"model",
         {{"in_states", 28}, {"out_states", 27}, {"seq_len", 256}, {"width", 768}, {"layers", 12}, {"heads", 12},
          {"mlp", 3072}, {"dropout", 0.0}, {"causal", false}, {"time_embedding", true}}},
        {"diffusion", {{"schedule", "linear"}, {"eps", 1e-4}, {"exponent", 1.0}}},
        {"train",
         {{"steps", 1000000}, {"batch", 512}, {"micro_batch", 0}, {"lr", 3e-4}, {"lr_schedule", "cosine"}, {"min_lr", 0.0},
          {"warmup", 2000}, {"grad_clip", 0.0}, {"ema_decay", 0.9999}, {"ema_warmup", false}, {"adam_beta1", 0.9},
          {"adam_beta2", 0.999}, {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"log_every", 500},
          {"sample_every", 10000}, {"sample_count", 4}, {"sample_steps", 1000}, {"checkpoint_every", 5000},
          {"keep_checkpoints", 3}, {"replica_check_every", 100},
          // MD4 evaluates every 5000 steps on the whole validation split (eval_every_steps, num_eval_steps -1):
          // text8's 5M characters are 19531 chunks of 256
          {"eval_every", 5000}, {"eval_items", 19531}}},
        {"data", {{"dataset", "text8"}}}},
       {"positions: learned absolute embeddings (MD4: rotary embeddings in every attention layer)",
        "time: sinusoidal(1000 t) through an MLP, added to every token (MD4: the same embedding of 1000 t drives "
        "adaLN-zero, parameter-free LayerNorms modulated by zero-initialised shift, scale and gate)",
        "blocks: pre-LN LayerNorm with scale and bias; MLP fc2(gelu(fc1 x)), hidden 3072, with biases (MD4: a "
        "sigmoid-gated GLU, hidden 2048, no biases); q, k, v with biases (MD4: none)",
        "tokens: a 768-wide embedding (MD4: a 64-wide embedding projected to 768); init N(0, 0.02^2) everywhere (MD4: "
        "depth-scaled MLP init, zero-initialised output layer)",
        "the bound's end terms: the prior KL L alpha_1 log 27 is counted (MD4 takes it as 0; 1e-4 x 4.75 bits)"}},
      {"mdlm-text8-small", "Masked diffusion on text8 sized for a CPU: the d3pm-text8-small transformer 6 x 256, batch 32",
       "mdlm-text8-paper",
       {{"model", {{"width", 256}, {"layers", 6}, {"heads", 8}, {"mlp", 1024}, {"time_embedding", false}}},
        {"train",
         {{"batch", 32}, {"lr", 1e-3}, {"lr_schedule", "constant"}, {"warmup", 100}, {"steps", 100000}, {"grad_clip", 1.0},
          {"ema_decay", 0.995}, {"ema_warmup", true}, {"log_every", 10}, {"sample_every", 1000}, {"sample_steps", 100},
          {"checkpoint_every", 500}, {"eval_every", 1000}, {"eval_items", 64}}}},
       {"transformer 6 layers x width 256, 8 heads, MLP 1024 instead of 12 x 768: the size of d3pm-text8-small",
        "no time input (MDLM's choice: the share of masks tells the network t), so sampling reuses the output of a "
        "sequence none of whose tokens changed",
        "batch 32, constant lr 1e-3 after 100 warmup steps, clip 1.0, 100k steps, EMA 0.995 with warm-up: "
        "d3pm-text8-small's optimiser, for a like-for-like comparison"}},
      {"mdlm-text-demo", "The demo's masked diffusion: the bundled KJV Gospels, transformer 2 x 128, minutes on 2 cores",
       "mdlm-text8-small",
       {{"model", {{"seq_len", 64}, {"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", 2000}, {"batch", 64}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"sample_steps", 64}, {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"the d3pm-text-demo network and optimiser: windows of 64, transformer 2 x 128, batch 64, 2000 steps"}},

      // ---- Diffusion-LM (Li et al. 2022): Gaussian diffusion on learned word embeddings, with rounding ------------
      {"diffusion-lm-e2e-paper",
       "Diffusion-LM's E2E setting (Li et al. 2022, Appendix A): transformer 12 x 768, d = 16, T = 2000 sqrt, batch 64, "
       "lr 1e-4, 200k steps; on a verse file you supply",
       "",
       {{"kind", "diffusion-lm"},
        {"model",
         {{"out_states", 16}, {"input_dim", 16}, {"seq_len", 64}, {"width", 768}, {"layers", 12}, {"heads", 12}, {"mlp", 3072},
          {"dropout", 0.1}, {"causal", false}, {"time_embedding", true}, {"pooled", false}}},
        {"diffusion", {{"beta_schedule", "sqrt"}, {"timesteps", 2000}, {"sqrt_s", 1e-4}, {"variance", "large"}}},
        {"train",
         {{"steps", 200000}, {"batch", 64}, {"micro_batch", 0}, {"lr", 1e-4}, {"lr_schedule", "constant"}, {"warmup", 0},
          {"grad_clip", 0.0}, {"ema_decay", 0.9999}, {"ema_warmup", false}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999},
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"log_every", 10}, {"sample_every", 5000}, {"sample_count", 4},
          {"sample_steps", 200}, {"checkpoint_every", 5000}, {"keep_checkpoints", 3}, {"replica_check_every", 100},
          {"eval_every", 5000}, {"eval_items", 256}}},
        {"data", {{"dataset", "verses"}, {"min_count", 5}}}},
       {"data: E2E (restaurant descriptions) is not in Debian; the preset trains on the verse file given as --data",
        "transformer: pre-LN blocks (the reference uses BERT-base's post-LN encoder), no token-type embedding and no "
        "LayerNorm/dropout on the summed input; the head is one Linear to d (the reference's output_down_proj is "
        "Linear-tanh-Linear)",
        "lr constant (the reference anneals it linearly to 0 over the run); no weight decay, no gradient clipping (the "
        "reference's defaults)",
        "sampling defaults to 200 evenly spaced steps of the 2000 (step skipping; the paper decodes with the full chain)"}},
      {"diffusion-lm-bible-small",
       "Diffusion-LM on a Bible verse file sized for a CPU: the d3pm-text8-small transformer 6 x 256, d = 16, T = 2000, batch 64",
       "diffusion-lm-e2e-paper",
       {{"model", {{"width", 256}, {"layers", 6}, {"heads", 8}, {"mlp", 1024}, {"dropout", 0.0}}},
        {"train",
         {{"steps", 100000}, {"lr", 1e-3}, {"warmup", 100}, {"grad_clip", 1.0}, {"ema_decay", 0.995}, {"ema_warmup", true},
          {"sample_every", 1000}, {"checkpoint_every", 500}, {"eval_every", 1000}, {"eval_items", 64}}}},
       {"transformer 6 layers x width 256, 8 heads, MLP 1024, no dropout: the size of d3pm-text8-small",
        "batch 64, constant lr 1e-3 after 100 warmup steps, clip 1.0, EMA 0.995 with warm-up: the optimiser of the "
        "small text presets, for a like-for-like comparison"}},
      {"diffusion-lm-bible-demo", "Diffusion-LM demo on a Bible verse file: transformer 2 x 128, d = 16, T = 200, minutes on 2 cores",
       "diffusion-lm-bible-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"diffusion", {{"timesteps", 200}}},
        {"train",
         {{"steps", 2000}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2}, {"sample_steps", 50},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"transformer 2 x 128 and T = 200 (the sqrt schedule at T = 200), 2000 steps: minutes on 2 cores"}},
      {"diffusion-lm-text8-small",
       "Diffusion-LM on text8 characters: the d3pm-text8-small transformer 6 x 256 on windows of 256, d = 16, batch 32",
       "diffusion-lm-bible-small",
       {{"model", {{"in_states", 27}, {"seq_len", 256}}},
        {"train", {{"batch", 32}}},
        {"data", {{"dataset", "text8"}, {"min_count", nullptr}}}},
       {"characters instead of words: an embedding of the 27 characters, windows of 256 and batch 32 as d3pm-text8-small"}},

      // ---- Verse classifiers for Diffusion-LM's control (a pooled transformer) ----------------------------------
      {"verse-classifier-noisy",
       "The guide of Diffusion-LM's control: a pooled transformer 2 x 128 on the noisy embeddings of the Diffusion-LM run "
       "named by classifier.diffusion_lm; classifier.target testament, group or words",
       "",
       {{"kind", "text-classifier"},
        {"classifier", {{"target", "group"}, {"input", "noisy"}, {"input_layer", "word_posterior"}, {"diffusion_lm", ""}}},
        {"model",
         {{"seq_len", 64}, {"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}, {"dropout", 0.0}, {"causal", false},
          {"time_embedding", true}, {"pooled", true}}},
        {"train",
         {{"steps", 3000}, {"batch", 64}, {"micro_batch", 0}, {"lr", 1e-3}, {"lr_schedule", "constant"}, {"warmup", 100},
          {"grad_clip", 1.0}, {"ema_decay", 0.99}, {"ema_warmup", true}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999},
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 4},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"replica_check_every", 100}, {"eval_every", 500},
          {"eval_items", 512}}},
        {"data", {{"dataset", "verses"}}}},
       {"the reference's classifiers are fine-tuned GPT-2 or BERT models on the task's labels; here a small pooled "
        "transformer on this corpus's books (testament, group) or the words of each verse",
        "input_layer word_posterior: the transformer reads each position's posterior over the words, q(w | x_t), not x_t "
        "itself (the paper's, input_layer projection), which on these verses learns nothing beyond the class prior"}},
      {"verse-classifier-clean",
       "The judge of Diffusion-LM's control: the same pooled transformer on clean text, never used for guidance",
       "verse-classifier-noisy",
       {{"classifier", {{"input", "clean"}, {"input_layer", nullptr}}}, {"model", {{"time_embedding", false}}}},
       {"reads token ids and no t: an independent judge of guided samples"}},

      // ---- The autoregressive baseline (a causal transformer, next-character cross-entropy), text8 --------
      {"ar-text8-small", "Autoregressive baseline on text8: the d3pm-text8-small transformer 6 x 256, causal, batch 32", "",
       {{"kind", "ar-text"},
        {"model",
         {{"in_states", 28}, {"out_states", 27}, {"seq_len", 256}, {"width", 256}, {"layers", 6}, {"heads", 8}, {"mlp", 1024},
          {"dropout", 0.0}, {"causal", true}, {"time_embedding", false}}},
        {"train",
         {{"steps", 100000}, {"batch", 32}, {"micro_batch", 0}, {"lr", 1e-3}, {"lr_schedule", "constant"}, {"warmup", 100},
          {"grad_clip", 1.0}, {"ema_decay", 0.995}, {"ema_warmup", true}, {"adam_beta1", 0.9}, {"adam_beta2", 0.999},
          {"adam_eps", 1e-8}, {"tf_adam_epsilon", false}, {"log_every", 10}, {"sample_every", 1000}, {"sample_count", 4},
          {"checkpoint_every", 500}, {"keep_checkpoints", 3}, {"replica_check_every", 100}, {"eval_every", 1000},
          {"eval_items", 64}}},
        {"data", {{"dataset", "text8"}}}},
       {"the transformer of d3pm-text8-small with a causal mask and no time input; id 27 (the text families' mask) "
        "starts every sequence",
        "d3pm-text8-small's optimiser (batch 32, lr 1e-3, 100 warmup steps, EMA 0.995 with warm-up), clip 1.0"}},
      {"ar-text-demo", "The demo's autoregressive baseline: the bundled KJV Gospels, causal transformer 2 x 128", "ar-text8-small",
       {{"model", {{"seq_len", 64}, {"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", 2000}, {"batch", 64}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"the d3pm-text-demo network and optimiser: windows of 64, transformer 2 x 128, batch 64, 2000 steps"}},

      // ---- The same two families on words: verse files of the Bible (apps/text_corpus.hpp) -----------------
      // model.in_states and model.out_states are left out: a run sets them from its vocabulary (V + 1, V).
      {"mdlm-bible-small", "Masked diffusion on verses of words (scripts/export_bible.sh): the transformer 6 x 256, rows of 64",
       "mdlm-text8-small",
       {{"model", {{"in_states", nullptr}, {"out_states", nullptr}, {"seq_len", 64}}},
        {"train", {{"batch", 64}}},
        {"data", {{"dataset", "verses"}, {"min_count", 5}}}},
       {kVerseRows, kVerseVocabulary,
        "batch 64 rows of 64 positions (4,096 a step, half those of d3pm-text8-small's 32 windows of 256)"}},
      {"ar-bible-small", "Autoregressive baseline on verses of words: the causal transformer 6 x 256, rows of 64", "ar-text8-small",
       {{"model", {{"in_states", nullptr}, {"out_states", nullptr}, {"seq_len", 64}}},
        {"train", {{"batch", 64}}},
        {"data", {{"dataset", "verses"}, {"min_count", 5}}}},
       {kVerseRows, kVerseVocabulary,
        "batch 64 rows of 64 positions (4,096 a step, half those of d3pm-text8-small's 32 windows of 256)"}},
      {"mdlm-bible-demo", "Masked diffusion on verses of words, minutes on 2 cores: transformer 2 x 128", "mdlm-bible-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", kBibleDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0},
          {"sample_count", 2}, {"sample_steps", 64}, {"checkpoint_every", 200}, {"keep_checkpoints", 2}, {"eval_every", 200},
          {"eval_items", 64}}}},
       {"the mdlm-text-demo network (transformer 2 x 128, 4 heads, MLP 512) on words; batch 32, " +
        std::to_string(kBibleDemoSteps) + " steps: minutes, not days"}},
      {"ar-bible-demo", "Autoregressive baseline on verses of words, minutes on 2 cores: causal transformer 2 x 128", "ar-bible-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", kBibleDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0},
          {"sample_count", 2}, {"checkpoint_every", 200}, {"keep_checkpoints", 2}, {"eval_every", 200}, {"eval_items", 64}}}},
       {"the ar-text-demo network (causal transformer 2 x 128, 4 heads, MLP 512) on words; batch 32, " +
        std::to_string(kBibleDemoSteps) + " steps: minutes, not days"}},

      // ---- A target given its source: KJV -> WEB paraphrase pairs (issue 23; docs/math.md §9) -----------------
      // The three models share the 6 x 256 transformer, rows of 128 and batch 64; their demos the 2 x 128 one.
      {"diffuseq-kjv-web-small",
       "DiffuSeq (Gong et al. 2022) on KJV -> WEB pairs: Diffusion-LM on [x; y] with the source kept clean (partial "
       "noising), the 6 x 256 transformer, d = 128, T = 2000 sqrt, rows of 128, batch 64",
       "diffusion-lm-bible-small",
       {{"model", {{"seq_len", 128}, {"input_dim", 128}, {"out_states", 128}, {"half_positions", true}}}, {"data", kPairData}},
       {"the deviations above are those of the Diffusion-LM presets this one derives from (E2E is Diffusion-LM's data); "
        "DiffuSeq's own follow",
        kPairRows, kPairVocabulary,
        "DiffuSeq's embedding of d = 128 (its hidden_dim) and T = 2000 with the sqrt schedule; its transformer is BERT-base "
        "(12 x 768, post-LN), here the 6 x 256 pre-LN one of the other small text presets",
        "t drawn uniformly (DiffuSeq draws it by loss-aware importance sampling); batch 64 and lr 1e-3 (DiffuSeq: 2048 and "
        "1e-4 for 50k-140k steps)",
        "DiffuSeq's x0 of the source is its embedding plus sigma0 noise in training and its embedding alone in sampling; "
        "so here (docs/math.md §9.1)"}},
      {"mdlm-kjv-web-small",
       "Masked diffusion on KJV -> WEB pairs with the source never masked: the 6 x 256 transformer, rows of 128, batch 64; "
       "ancestral or MaskGIT decoding",
       "mdlm-text8-small",
       {{"model", {{"in_states", nullptr}, {"out_states", nullptr}, {"seq_len", 128}, {"half_positions", true}}}, {"train", {{"batch", 64}}},
        {"data", kPairData}},
       {kPairRows, kPairVocabulary, "batch 64 rows of 128 positions (8,192 a step, as d3pm-text8-small's 32 windows of 256)"}},
      {"ar-kjv-web-small",
       "Autoregressive baseline on KJV -> WEB pairs, \"x SEP y\" (the source's <eos> the separator) with the loss on the "
       "target: the causal transformer 6 x 256, rows of 128, batch 64",
       "ar-text8-small",
       {{"model", {{"in_states", nullptr}, {"out_states", nullptr}, {"seq_len", 128}, {"half_positions", true}}}, {"train", {{"batch", 64}}},
        {"data", kPairData}},
       {kPairRows, kPairVocabulary, "batch 64 rows of 128 positions (8,192 a step, as d3pm-text8-small's 32 windows of 256)"}},
      {"diffuseq-kjv-web-demo", "DiffuSeq on KJV -> WEB pairs, minutes on 2 cores: transformer 2 x 128, d = 128, T = 200",
       "diffuseq-kjv-web-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"diffusion", {{"timesteps", 200}}},
        {"train",
         {{"steps", kPairDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"sample_steps", 50}, {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"transformer 2 x 128 and T = 200 (the sqrt schedule at T = 200), batch 32, " + std::to_string(kPairDemoSteps) +
        " steps: minutes, not days"}},
      {"mdlm-kjv-web-demo", "Masked diffusion on KJV -> WEB pairs, minutes on 2 cores: transformer 2 x 128", "mdlm-kjv-web-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", kPairDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"sample_steps", 64}, {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"the mdlm-bible-demo network (transformer 2 x 128, 4 heads, MLP 512) on pairs; batch 32, " + std::to_string(kPairDemoSteps) +
        " steps: minutes, not days"}},
      {"ar-kjv-web-demo", "Autoregressive baseline on KJV -> WEB pairs, minutes on 2 cores: causal transformer 2 x 128", "ar-kjv-web-small",
       {{"model", {{"width", 128}, {"layers", 2}, {"heads", 4}, {"mlp", 512}}},
        {"train",
         {{"steps", kPairDemoSteps}, {"batch", 32}, {"ema_decay", 0.99}, {"log_every", 50}, {"sample_every", 0}, {"sample_count", 2},
          {"checkpoint_every", 500}, {"keep_checkpoints", 2}, {"eval_every", 500}, {"eval_items", 64}}}},
       {"the ar-bible-demo network (causal transformer 2 x 128, 4 heads, MLP 512) on pairs; batch 32, " + std::to_string(kPairDemoSteps) +
        " steps: minutes, not days"}},
  };
}

}  // namespace diffuse::preset_table
