// build/diffuse: the engine's one command-line program.
//   diffuse presets                          list the presets
//   diffuse info --preset P [--set k=v]...   the resolved configuration and parameter count
//   diffuse train --preset P [--data PATH] --out DIR [--steps N] [--resume] [--seed S]
//   diffuse sample --checkpoint PATH [--n N] [--out FILE] [--progressive [--every K]] [--steps K] [--argmax]
//                  [--sampler ancestral|ddim|dpm-solver [--eta E] [--grid G]]           (DDPM)
//                  [--class C... [--per-class N] [--guidance-scale W]]                     (class-conditional DDPM)
//                  [--classifier NOISY [--classifier-scale S]]                            (DDPM classifier guidance)
//                  [--batch B [--journal DIR]]                                            (DDPM, in resumable chunks)
//                  [--class C... [--per-class N] [--guidance-scale W] [--truncation R] [--steps K]] (VQ-Diffusion)
//   diffuse evaluate --checkpoint PATH [--data PATH] [--split test] [--images N | --chunks N] [--steps K]
//                    [--estimate] [--json]
//   diffuse evaluate (--samples S.npz | --fd-floor) --classifier C [--data PATH] [--n N] [--k K] [--json]   (images)
//   diffuse evaluate --task pairs (--checkpoint PATH | --copy-source) --data PAIRS [--chunks N] [--skip-long] [--candidates N] [--mbr]
//                    [--decoder maskgit] [--steps K] [--temperature T] [--out FILE] [--json]
//   diffuse evaluate --checkpoint VQVAE [--data PATH] [--split test] [--images N] [--out RECON.png] [--json]   (VQ-VAE)
//   diffuse tokenize --checkpoint VQVAE [--data PATH] [--split train] [--images N] --out TOKENS   (a token-grid file)
//   diffuse plot (--runs DIR... | --terms FILE [--family F] | --progressive PATH) --out FILE.png [--width W --height H]
//   diffuse benchmark --workload W [--batch N] [--steps N] [--peak] [--profile N] [--json]
//   diffuse selfcheck                        train a small MLP on generated data
// Program flags, before or after the verb: --threads N; --precision fp32|bf16 [--allow-emulated] (train, sample,
// evaluate, benchmark: tensor/precision.hpp; train without it keeps the preset's or the resumed run's "precision").
// The family a preset or checkpoint records under "kind" runs the verb: the table of model families
// (model_family.cpp) maps it to the family's commands.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>

#include "apps/benchmark.hpp"
#include "apps/command_line.hpp"
#include "apps/model_family.hpp"
#include "apps/plot.hpp"
#include "apps/presets.hpp"
#include "apps/process_group.hpp"
#include "apps/selfcheck.hpp"
#include "apps/text_sample_scores.hpp"
#include "apps/vqvae_commands.hpp"
#include "apps/image_sample_scores.hpp"
#include "data/npz_reader.hpp"
#include "apps/run_support.hpp"
#include "tensor/blas_kernels.hpp"
#include "tensor/precision.hpp"
#include "tensor/threads.hpp"

namespace {
using json = nlohmann::json;

json resolve(const std::string& preset, const std::vector<std::string>& sets) {
  json config = diffuse::preset_config(preset);
  diffuse::apply_overrides(config, sets);
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  diffuse::ensure_blas_environment(argv);
  diffuse::ProcessGroup::init(&argc, &argv);  // joins the MPI job when started by mpirun
  struct Finalize {
    ~Finalize() { diffuse::ProcessGroup::finalize(); }
  } finalize_at_exit;
  const diffuse::ProcessGroup& group = diffuse::ProcessGroup::world();
  CLI::App app{"diffuse: denoising diffusion (DDPM, D3PM) on a CPU, in C++"};
  app.require_subcommand(1);
  app.fallthrough();  // --threads may come after the verb too
  int threads = std::max(1, diffuse::hardware_threads() / group.local_size());  // the cores shared among this machine's processes
  app.add_option("--threads", threads, "Threads for OpenMP, OpenBLAS and oneDNN (default: all cores)")
      ->check(CLI::Range(1, diffuse::hardware_threads()));
  std::string precision_flag = "fp32";
  bool allow_emulated = false;
  CLI::Option* precision_option =
      app.add_option("--precision", precision_flag,
                     "fp32 (default) or bf16: convolutions, linear layers, matmuls and attention GEMMs with bfloat16 inputs and "
                     "float32 accumulation, everything else float32 (train, sample, evaluate, benchmark). train without it: "
                     "the preset's `precision`, or on --resume the run's own")
          ->check(CLI::IsMember({"fp32", "bf16", "float32", "bfloat16"}));
  app.add_flag("--allow-emulated", allow_emulated,
               "With --precision bf16 on a CPU without native bf16 (AVX512-BF16 or AMX): the same arithmetic by rounding "
               "into float32 kernels (slower than float32), instead of refusing");

  CLI::App* presets = app.add_subcommand("presets", "List the presets");

  std::string preset;
  std::vector<std::string> sets;
  bool as_json = false;
  CLI::App* info = app.add_subcommand("info", "Print a preset's resolved configuration and parameter count");
  info->add_option("--preset", preset, "Preset name (see `diffuse presets`)")->required();
  info->add_option("--set", sets, "Override a field: --set train.lr=1e-4 (repeatable)");
  info->add_flag("--json", as_json, "Print one JSON object");

  diffuse::TrainOptions train;
  CLI::App* tr = app.add_subcommand("train", "Train a model from a preset");
  tr->add_option("--preset", train.preset, "Preset name (see `diffuse presets`); not needed with --resume");
  tr->add_option("--set", train.sets, "Override a field: --set train.lr=1e-4 (repeatable)");
  tr->add_option("--data", train.data_dir,
                 "Dataset: CIFAR-10's directory (data_batch_1.bin ... test_batch.bin), a text8-format file, or a verse "
                 "file ('Book C:V<TAB>text' lines: words); Fashion-MNIST defaults to /usr/share/datasets/fashion-mnist");
  tr->add_option("--out", train.out_dir, "Run directory: config.json, checkpoints, samples")->required();
  tr->add_option("--steps", train.steps, "Train up to this step (overrides train.steps)")->check(CLI::NonNegativeNumber);
  tr->add_flag("--resume", train.resume, "Continue the run in --out from its latest checkpoint");
  tr->add_option("--seed", train.seed, "Random seed (new runs)");

  diffuse::SampleOptions sample;
  CLI::App* sa = app.add_subcommand("sample", "Sample from a checkpoint (EMA weights): images to a PNG grid and .npz, or text");
  sa->add_option("--checkpoint", sample.checkpoint, "Checkpoint (.safetensors)")->required()->check(CLI::ExistingFile);
  sa->add_option("--n", sample.n, "Number of samples (default 64 images, 4 texts)")->check(CLI::PositiveNumber);
  sa->add_option("--out", sample.out, "Images: the output PNG (the .npz goes beside it); text: also write the samples here");
  sa->add_flag("--progressive", sample.progressive,
               "Images: also write the x0_hat trajectory, one row per sample; text: print the denoising trajectory");
  sa->add_option("--every", sample.every, "Progressive: record every K steps (default 100 for images, T/10 for text)")
      ->check(CLI::PositiveNumber);
  sa->add_option("--scale", sample.scale,
                 "Images: draw each sample this many times larger in the PNG grid (default: the smallest that makes "
                 "the grid at least 512 pixels wide); the .npz keeps the raw samples")
      ->check(CLI::PositiveNumber);
  sa->add_option("--steps", sample.steps,
                 "D3PM: network evaluations, skipping steps (default: all T); DDPM: the steps of --sampler ddim (default 50, "
                 "at most T) or dpm-solver (default 20, at most T - 1)")
      ->check(CLI::PositiveNumber);
  sa->add_option("--sampler", sample.sampler,
                 "DDPM: ancestral (default: Ho et al.'s Algorithm 2, all T steps), ddim (Song et al. 2021, --steps of them) "
                 "or dpm-solver (DPM-Solver++(2M), Lu et al. 2022, --steps of them)")
      ->check(CLI::IsMember({"ancestral", "ddim", "dpm-solver"}));
  CLI::Option* eta_option =
      sa->add_option("--eta", sample.eta, "DDIM: 0 (default) deterministic .. 1 the ancestral step's variance beta~_t (Song et al. eq. 16)");
  sa->add_flag("--argmax", sample.argmax, "D3PM: take the most likely state at each step instead of a draw");
  sa->add_option("--class", sample.classes,
                 "Class-conditional DDPM: the class to draw, a number 0..K-1 or the dataset's name (sneaker, \"ankle boot\", "
                 "airplane); repeatable or a comma list (default: every class); a grid row per class");
  sa->add_option("--per-class", sample.per_class, "Class-conditional DDPM: images of each class (default 8)")
      ->check(CLI::PositiveNumber);
  CLI::Option* guidance_scale_option = sa->add_option(
      "--guidance-scale", sample.guidance_scale,
      "Class-conditional DDPM: classifier-free guidance's w (Ho & Salimans eq. 6), (1 + w) eps(x, c) - w eps(x, null); "
      "0 (default): the conditional model alone");
  sa->add_option("--truncation", sample.truncation,
                 "VQ-Diffusion: the truncation trick's r: keep the smallest set of tokens whose probability reaches r in "
                 "ptilde(x0 | x_t), renormalised (default 1: none; the paper's 0.86)")
      ->check(CLI::Range(1e-9, 1.0));
  sa->add_option("--grid", sample.grid,
                 "Masked diffusion: the steps' times, uniform or cosine (default cosine); DDPM's ddim: uniform (default) or "
                 "quadratic; DDPM's dpm-solver: logsnr (default) or uniform (in time)")
      ->check(CLI::IsMember({"uniform", "cosine", "quadratic", "logsnr"}));
  sa->add_option("--decoder", sample.decoder,
                 "Masked diffusion: ancestral (default) or maskgit (MaskGIT's confidence-ordered decoding in --steps steps)")
      ->check(CLI::IsMember({"ancestral", "maskgit"}));
  sa->add_option("--choice-temperature", sample.choice_temperature,
                 "MaskGIT: the Gumbel noise on the confidences, annealed to 0 over the steps (default 4.5; 0: greedy order)")
      ->check(CLI::NonNegativeNumber);
  sa->add_flag("--recompute", sample.recompute, "Masked diffusion: run the network at every step, even where no token changed");
  sa->add_option("--template,--infill", sample.template_text,
                 "Text: the characters every sample keeps, '_' where to generate; shorter than the sample: the rest is "
                 "generated (a prefix). Word models: words separated by spaces, a lone '_' a word to generate (infilling: "
                 "--infill is the same flag). The autoregressive model takes prefixes only");
  sa->add_option("--temperature", sample.temperature, "Autoregressive: divide the logits by this (default 1)")
      ->check(CLI::PositiveNumber);
  sa->add_option("--control", sample.control,
                 "Diffusion-LM: word=W, testament=old|new, group=law|history|poetry|prophets|gospels|letters (guided by "
                 "--classifier), or length=N (exactly N tokens)");
  sa->add_option("--classifier", sample.classifier,
                 "Diffusion-LM: the noisy text-classifier checkpoint that guides --control; DDPM: the noise-aware image-classifier "
                 "checkpoint of classifier guidance (Dhariwal & Nichol), towards --class")
      ->check(CLI::ExistingFile);
  CLI::Option* classifier_scale_option =
      sa->add_option("--classifier-scale", sample.classifier_scale,
                     "DDPM classifier guidance: s, the scale of grad log p(c | x_t) (default 1; ancestral: the mean moves by s Sigma "
                     "grad, ddim and dpm-solver: eps by -s sqrt(1 - abar_t) grad)")
          ->check(CLI::NonNegativeNumber);
  sa->add_option("--guidance-updates", sample.guidance_updates, "Diffusion-LM guidance: Adagrad updates per step (default 3)")
      ->check(CLI::NonNegativeNumber);
  sa->add_option("--guidance-step-size", sample.guidance_step_size, "Diffusion-LM guidance: Adagrad's step size (default 0.1)")
      ->check(CLI::PositiveNumber);
  sa->add_option("--fluency", sample.fluency, "Diffusion-LM guidance: lambda, the weight of log p(x_t-1 | x_t) (default 0.01)")
      ->check(CLI::NonNegativeNumber);
  sa->add_option("--guidance-skip-last", sample.guidance_skip_last,
                 "Diffusion-LM guidance: no updates in the chain's last N steps (default 10)")
      ->check(CLI::NonNegativeNumber);
  sa->add_option("--batch", sample.batch,
                 "DDPM, VQ-Diffusion: draw the images this many at a time (default all at once), each chunk from a stream of its own")
      ->check(CLI::PositiveNumber);
  sa->add_option("--journal", sample.journal,
                 "DDPM, VQ-Diffusion: keep each finished chunk of --batch images in this directory; the same command again resumes "
                 "(apps/sample_journal.hpp)");
  sa->add_option("--seed", sample.seed, "Random seed");
  bool sample_raw = false, evaluate_raw = false;
  sa->add_flag("--quiet", sample.quiet, "No progress on stderr");
  sa->add_flag("--raw-weights", sample_raw, "Use the trained weights, not their EMA (for runs shorter than the EMA's horizon)");

  diffuse::EvaluateOptions evaluate;
  CLI::App* ev = app.add_subcommand("evaluate",
                                    "Bits/dim or bits/char of a checkpoint on a data split (the variational bound); or, "
                                    "with --samples and --teacher, generative perplexity and statistics of text samples");
  CLI::Option* ev_checkpoint =
      ev->add_option("--checkpoint", evaluate.checkpoint, "Checkpoint (.safetensors)")->check(CLI::ExistingFile);
  CLI::Option* ev_samples = ev->add_option("--samples", evaluate.samples,
                                           "Text samples, one per line (`sample --out`), or image samples (the .npz of `sample`, "
                                           "with --classifier): score them instead of a checkpoint")
                                ->check(CLI::ExistingFile)
                                ->excludes(ev_checkpoint);
  ev->add_option("--teacher", evaluate.teacher, "With --samples: the autoregressive checkpoint (ar-text) that scores them")
      ->check(CLI::ExistingFile)
      ->needs(ev_samples);
  ev->add_option("--control", evaluate.control,
                 "With --samples: the share of samples meeting a Diffusion-LM control (word=W, length=N: exact; "
                 "testament=, group=: by --judge). With the --checkpoint of a words classifier, word=W: how well it "
                 "reads W (the AUC of its logit, by band of t)");
  ev->add_option("--judge", evaluate.judge, "With --control: the clean text-classifier checkpoint that judges testament and group")
      ->check(CLI::ExistingFile)
      ->needs(ev_samples);
  CLI::Option* ev_classifier =
      ev->add_option("--classifier", evaluate.classifier,
                     "Images: the clean image-classifier checkpoint whose penultimate features score --samples S.npz (FD-classifier, "
                     "precision, recall; class accuracy when S.npz holds labels) or --fd-floor")
          ->check(CLI::ExistingFile)
          ->excludes(ev_checkpoint);
  ev->add_flag("--fd-floor", evaluate.fd_floor,
               "Images: the scores of the first --n training images against the first --n test images (the floor of FD-classifier)")
      ->needs(ev_classifier)
      ->excludes(ev_samples);
  ev->add_option("--k", evaluate.neighbours, "Images: the k of precision and recall's k-nearest-neighbour radii (default 3)")
      ->check(CLI::PositiveNumber)
      ->needs(ev_classifier);
  ev->add_option("--data", evaluate.data_dir, "Dataset directory (CIFAR-10, Fashion-MNIST), text8-format file or verse file");
  ev->add_option("--split", evaluate.split, "test or train (text: valid too)");
  CLI::Option* images = ev->add_option("--images", evaluate.items, "Images: the first N of the split (default 1000)")
                            ->check(CLI::PositiveNumber);
  CLI::Option* chunks = ev->add_option("--chunks", evaluate.items,
                                       "Text: the first N items of the split, chunks of model.seq_len characters or verses (default: all)")
                            ->check(CLI::PositiveNumber)
                            ->excludes(images);
  ev->add_option("--n", evaluate.items,
                 "With --classifier: the first N samples (default all) and as many test images; --fd-floor: N training images "
                 "(default 10,000)")
      ->check(CLI::PositiveNumber)
      ->needs(ev_classifier)
      ->excludes(images)
      ->excludes(chunks);
  ev->add_option("--steps", evaluate.steps,
                 "D3PM: the bound of the reverse process with K steps (default: all T); --task pairs: the decoder's steps")
      ->check(CLI::PositiveNumber);
  ev->add_flag("--estimate", evaluate.estimate, "Monte-Carlo estimate (L_T and L_0 exactly, one random t in 2..T per item) instead of every term");
  ev->add_option("--batch", evaluate.batch, "Images per network evaluation")->check(CLI::PositiveNumber);
  ev->add_option("--terms-out", evaluate.terms_out, "Write every per-t term as JSON to this file");
  ev->add_option("--rate-distortion", evaluate.rate_distortion,
                 "DDPM: write the rate (bits/dim) and distortion (RMSE on 0..255) of progressive decoding per t as JSON "
                 "to this file (Ho et al. 2020 §4.3, Fig. 5; for `diffuse plot --progressive`)");
  ev->add_flag("--quiet", evaluate.quiet, "No progress on stderr");
  ev->add_option("--journal", evaluate.journal,
                 "Directory recording each finished batch: run the same command again to resume an interrupted evaluation");
  ev->add_flag("--json", evaluate.json, "Print one JSON object");
  ev->add_option("--seed", evaluate.seed, "Random seed");
  ev->add_flag("--raw-weights", evaluate_raw, "Use the trained weights, not their EMA");
  CLI::Option* task = ev->add_option("--task", evaluate.task,
                                     "pairs: write each held-out pair's target given its source and score it (BLEU, ROUGE-L, "
                                     "self-BLEU, dist-1/2, seconds per sentence) instead of the bound")
                          ->check(CLI::IsMember({"pairs"}))
                          ->excludes(ev_samples);
  ev->add_flag("--copy-source", evaluate.copy_source, "--task pairs without a model: each hypothesis is its source (the baseline)")
      ->needs(task)
      ->excludes(ev_checkpoint);
  ev->add_flag("--skip-long", evaluate.skip_long,
               "Words: leave out the held-out verses or pairs longer than the model's rows allow, and count them (by "
               "default the first is refused, naming it)");
  ev->add_option("--candidates", evaluate.candidates, "--task pairs: targets written per source (default 5; self-BLEU among them)")
      ->check(CLI::PositiveNumber)
      ->needs(task);
  ev->add_flag("--mbr", evaluate.mbr, "--task pairs: the hypothesis is the candidate of least Bayes risk by BLEU (DiffuSeq's MBR)")
      ->needs(task);
  ev->add_option("--decoder", evaluate.decoder, "--task pairs, masked-text: ancestral (default) or maskgit")
      ->check(CLI::IsMember({"ancestral", "maskgit"}))
      ->needs(task);
  ev->add_option("--temperature", evaluate.temperature, "--task pairs, ar-text: draw at this temperature (default: greedy)")
      ->check(CLI::PositiveNumber)
      ->needs(task);
  ev->add_option("--choice-temperature", evaluate.choice_temperature, "--task pairs, MaskGIT: the Gumbel noise on the confidences (4.5)")
      ->check(CLI::NonNegativeNumber)
      ->needs(task);
  ev->add_option("--out", evaluate.out,
                 "--task pairs: write the sources, references, hypotheses and candidates here (TSV); a VQ-VAE: the PNG of the "
                 "first 32 originals beside their reconstructions");

  diffuse::TokenizeOptions tokenize;
  bool tokenize_raw = false;
  CLI::App* tk = app.add_subcommand("tokenize", "Encode a dataset's split with a VQ-VAE checkpoint into a token-grid file");
  tk->add_option("--checkpoint", tokenize.checkpoint, "The vqvae checkpoint (.safetensors)")->required()->check(CLI::ExistingFile);
  tk->add_option("--data", tokenize.data_dir, "Dataset directory (CIFAR-10, Fashion-MNIST)");
  tk->add_option("--split", tokenize.split, "train (default) or test");
  tk->add_option("--images", tokenize.items, "The first N images of the split (default all)")->check(CLI::PositiveNumber);
  tk->add_option("--batch", tokenize.batch, "Images per network evaluation")->check(CLI::PositiveNumber);
  tk->add_option("--out", tokenize.out, "The token-grid file to write")->required();
  tk->add_flag("--quiet", tokenize.quiet, "No progress on stderr");
  tk->add_flag("--raw-weights", tokenize_raw, "Use the trained weights, not their EMA");

  diffuse::PlotOptions plot;
  CLI::App* pl = app.add_subcommand("plot", "Draw figures as PNG: runs' loss curves, the bound's per-t terms, DDPM's rate-distortion");
  CLI::Option* plot_runs = pl->add_option("--runs", plot.runs, "Run folders (config.json, metrics.jsonl): their training loss in one chart");
  pl->add_flag("--evaluation", plot.evaluation,
               "With --runs: draw the runs' periodic evaluations (bits/char or bits/dim, train.eval_every) instead of their loss")
      ->needs(plot_runs);
  CLI::Option* plot_terms = pl->add_option("--terms", plot.terms, "The per-t terms of the bound from `evaluate --terms-out`")
                                ->excludes(plot_runs);
  pl->add_option("--family", plot.family, "With --terms: the family the file must hold")
      ->check(CLI::IsMember({"ddpm", "d3pm"}));
  pl->add_option("--progressive", plot.progressive,
                 "DDPM's progressive decoding (Ho et al. 2020 Fig. 5): the JSON of `evaluate --rate-distortion`, an exact "
                 "DDPM terms file, or a folder holding rate-distortion.json or terms.json")
      ->excludes(plot_runs)
      ->excludes(plot_terms);
  pl->add_option("--out", plot.out, "The PNG file to write")->required();
  pl->add_option("--width", plot.width, "Width in pixels")->check(CLI::Range(100, 20000));
  pl->add_option("--height", plot.height, "Height in pixels")->check(CLI::Range(100, 20000));

  diffuse::BenchmarkOptions bench;
  CLI::App* bm = app.add_subcommand("benchmark", "Time a training step or a sampling evaluation of the U-Net or the transformer");
  bm->add_option("--workload", bench.workload, "unet-train, unet-sample, transformer-train or transformer-sample")
      ->check(CLI::IsMember({"unet-train", "unet-sample", "transformer-train", "transformer-sample"}));
  bm->add_option("--batch", bench.batch, "Batch (default 32; unet-sample 64)")->check(CLI::PositiveNumber);
  bm->add_option("--steps", bench.steps, "Timed steps")->check(CLI::PositiveNumber);
  bm->add_option("--warmup", bench.warmup, "Untimed steps first")->check(CLI::NonNegativeNumber);
  bm->add_flag("--peak", bench.peak, "Also measure the machine's FMA peak and the share of it reached");
  bm->add_option("--profile", bench.profile_steps,
                 "Then profile N more steps: a table of the ops (forward and backward apart) by self time, with calls, "
                 "GFLOP/s, GB/s and allocations per step")
      ->check(CLI::PositiveNumber);
  bm->add_flag("--json", bench.json, "Print one JSON object");

  diffuse::SelfcheckOptions selfcheck;
  CLI::App* sc = app.add_subcommand("selfcheck", "Train a tiny MLP on generated data and show its loss falling");
  sc->add_option("--steps", selfcheck.steps, "Optimizer steps")->check(CLI::PositiveNumber);
  sc->add_option("--seed", selfcheck.seed, "Random seed");

  if (const auto unknown = diffuse::unknown_flag(app, argc, argv)) {
    std::cerr << "error: " << *unknown << "\n";
    return static_cast<int>(CLI::ExitCodes::ExtrasError);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    diffuse::set_threads(threads);
    if (*presets) {
      for (const auto& p : diffuse::list_presets()) std::cout << p.name << "\n    " << p.summary << "\n";
      return 0;
    }
    if (*info) {
      json config = resolve(preset, sets);
      const std::optional<int64_t> n = diffuse::model_family(config, "--preset").read_config(config);
      if (as_json) {
        config["parameters"] = n ? json(*n) : json(nullptr);
        std::cout << config.dump(2) << "\n";
      } else {
        std::cout << "preset " << config["preset"].get<std::string>() << ": "
                  << (n ? std::to_string(*n) + " parameters"
                        : std::string("parameters set by the vocabulary (model.in_states and model.out_states are filled "
                                      "from --data when a run starts)"))
                  << "\n"
                  << config.dump(2) << "\n";
      }
      return 0;
    }
    // The precision of the verb's products (tensor/precision.hpp). A training run records it in its configuration
    // (so in config.json and every checkpoint); --resume keeps the run's unless --precision is given.
    const auto precision_scope = [&](const std::string& name, const std::string& where) {
      const diffuse::PrecisionMode mode = diffuse::resolve_precision(diffuse::parse_precision(name, where), allow_emulated);
      if (mode.bf16() && group.rank() == 0)
        std::cerr << "precision: bf16 "
                  << (mode.emulated ? "emulated (rounding into float32 kernels; oneDNN's ISA here: " + diffuse::onednn_cpu_isa() + ")"
                                    : "on oneDNN's " + diffuse::onednn_cpu_isa() + " kernels")
                  << ", float32 accumulation\n";
      return std::make_unique<diffuse::PrecisionScope>(mode);
    };
    if (*tr) {
      diffuse::TrainingRun run = diffuse::resolve_training_run(train);
      if (precision_option->count() > 0) run.config["precision"] = precision_flag;
      run.config["precision"] =
          diffuse::precision_name(diffuse::parse_precision(run.config.value("precision", std::string("fp32")), "precision"));
      const auto precision = precision_scope(run.config["precision"].get<std::string>(), "precision");
      const auto task = diffuse::model_family(run.config, "--preset").make_training(run.config, train.data_dir);
      return diffuse::run_training(train, run, *task);
    }
    const auto precision = precision_scope(precision_flag, "--precision");
    sample.ema = !sample_raw;
    sample.eta_given = eta_option->count() > 0;
    sample.guidance_scale_given = guidance_scale_option->count() > 0;
    sample.classifier_scale_given = classifier_scale_option->count() > 0;
    evaluate.ema = !evaluate_raw;
    if (*sa) {
      const diffuse::ModelFamily& family = diffuse::model_family(diffuse::checkpoint_config(sample.checkpoint), sample.checkpoint);
      for (const std::string& flag : diffuse::kSampleFamilyFlags)
        if (sa->count(flag) > 0 && std::find(family.sample_flags.begin(), family.sample_flags.end(), flag) == family.sample_flags.end())
          throw std::invalid_argument(flag + ": not an option of " + family.kind + " checkpoints (" + sample.checkpoint + ")");
      return family.sample(sample);
    }
    if (*ev && (evaluate.fd_floor || (!evaluate.samples.empty() && diffuse::data::is_npz(evaluate.samples))))
      return diffuse::run_image_sample_scores(evaluate);
    if (*ev && !evaluate.classifier.empty())
      throw std::invalid_argument("--classifier: scores image samples: give --samples S.npz (the .npz of `sample`) or --fd-floor");
    if (*ev && !evaluate.samples.empty()) return diffuse::run_text_sample_scores(evaluate);
    if (*ev && evaluate.task == "pairs") {
      if (evaluate.checkpoint.empty() && !evaluate.copy_source)
        throw std::invalid_argument("evaluate --task pairs: --checkpoint is required (or --copy-source for the baseline)");
      if (evaluate.data_dir.empty()) throw std::invalid_argument("evaluate --task pairs: --data, the pair file, is required");
      return diffuse::run_pair_evaluation(evaluate);
    }
    if (*ev) {
      if (evaluate.checkpoint.empty()) throw std::invalid_argument("evaluate: --checkpoint is required (or --samples with --teacher)");
      const json config = diffuse::checkpoint_config(evaluate.checkpoint);
      const diffuse::ModelFamily& family = diffuse::model_family(config, evaluate.checkpoint);
      diffuse::require_data_path(config, evaluate.data_dir);
      if (!evaluate.control.empty() && std::string(family.kind) != "text-classifier")
        throw std::invalid_argument("--control: scores --samples, or how a text-classifier checkpoint reads a word; " + evaluate.checkpoint +
                                    " is a " + family.kind + " checkpoint");
      if (!evaluate.out.empty() && std::string(family.kind) != "vqvae")
        throw std::invalid_argument("--out: for --task pairs or a vqvae checkpoint, not for " + std::string(family.kind) + " (" +
                                    evaluate.checkpoint + ")");
      return family.evaluate(evaluate);
    }
    if (*tk) {
      tokenize.ema = !tokenize_raw;
      return diffuse::run_vqvae_tokenize(tokenize);
    }
    if (*pl) return diffuse::run_plot(plot);
    if (*bm) return diffuse::run_benchmark(bench);
    if (*sc) return diffuse::run_selfcheck(selfcheck);
  } catch (const std::exception& e) {
    std::cerr << "error" << (group.distributed() ? " (process " + std::to_string(group.rank()) + ")" : "") << ": "
              << e.what() << "\n";
    if (group.distributed()) group.abort_job(1);  // the others would wait for it in the next collective
    return 1;
  }
  return 0;
}
