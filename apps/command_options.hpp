// The options of build/diffuse's train, sample and evaluate verbs, shared by every model family (DDPM on
// images, D3PM on text): main.cpp fills them from the command line, and the family recorded in the preset
// or checkpoint ("kind") decides which code runs them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace diffuse {

// Random streams of one run, all from the run's seed: a stream per purpose, so that each is reproducible
// on its own and a checkpoint can store each one's position.
enum Stream : uint64_t { kInit = 0, kData = 1, kDiffusion = 2, kDropout = 3, kSamples = 4, kEval = 5 };

struct TrainOptions {
  std::string preset;
  std::vector<std::string> sets;  // --set key=value
  std::string data_dir;           // CIFAR-10: a directory; text8: the file or a directory holding `text8`
  std::string out_dir;
  int64_t steps = -1;  // overrides train.steps when >= 0
  bool resume = false;
  uint64_t seed = 0;
};

struct SampleOptions {
  std::string checkpoint;
  int64_t n = 0;            // samples; 0: the family's default (64 images, 4 texts)
  std::string out;          // images: the PNG grid (the .npz goes beside it); text: an optional text file
  bool progressive = false;
  int64_t every = 0;        // progressive: record every k steps (0: the family's default)
  int64_t scale = 0;        // images: the PNG grid's magnification (0: at least 512 pixels wide)
  int64_t steps = 0;        // D3PM, and DDPM's ddim and dpm-solver: network evaluations (step skipping); 0: the default
  std::string sampler;      // DDPM: "ancestral" (""), "ddim" or "dpm-solver"
  double eta = 0.0;         // DDIM: 0 deterministic .. 1 the ancestral step's variance
  bool eta_given = false;   // --eta was on the command line (refused for the other samplers)
  bool argmax = false;      // D3PM: the most likely state at each step instead of a draw
  std::vector<std::string> classes;  // DDPM, class-conditional: ids or names, each possibly a comma list (none: all)
  int64_t per_class = 0;             // ... images of each class (0: 8)
  double guidance_scale = 0.0;       // ... classifier-free guidance's w (Ho & Salimans eq. 6); 0: the conditional model
  bool guidance_scale_given = false; // --guidance-scale was on the command line (refused for unconditional checkpoints)
  double truncation = 1.0;           // VQ-Diffusion: the truncation trick's r (1: none; the paper 0.86)
  std::string grid;         // masked diffusion: the time grid, uniform or cosine ("" : cosine); DDPM's ddim: uniform
                            // ("") or quadratic; DDPM's dpm-solver: logsnr ("") or uniform
  std::string decoder;      // masked diffusion: "ancestral" ("" ) or "maskgit" (confidence-ordered)
  double choice_temperature = 4.5;  // MaskGIT: the Gumbel noise on the confidence, annealed to 0
  bool recompute = false;   // masked diffusion: run the network every step, even when no token changed
  std::string template_text;  // text: given characters, '_' where to generate (prefix and infill)
  double temperature = 1.0;   // autoregressive: the logits are divided by it
  std::string control;        // Diffusion-LM: KIND=VALUE (apps/text_control.hpp)
  std::string classifier;     // Diffusion-LM: the noisy text-classifier checkpoint that guides --control; DDPM: the
                              // noisy image-classifier checkpoint of classifier guidance (apps/image_guidance.hpp)
  double classifier_scale = 1.0;        // DDPM classifier guidance: s, the gradient's scale
  bool classifier_scale_given = false;  // --classifier-scale was on the command line (refused without --classifier)
  int64_t guidance_updates = 3;       // Diffusion-LM guidance: Adagrad updates per step
  double guidance_step_size = 0.1;    // ... their step size
  double fluency = 0.01;              // ... lambda, the weight of log p(x_{t-1} | x_t)
  int64_t guidance_skip_last = 10;    // ... no updates in the chain's last steps
  int64_t batch = 0;        // DDPM, VQ-Diffusion: images drawn at a time (0: all at once); each chunk its own stream
  std::string journal;      // DDPM, VQ-Diffusion: a directory keeping each finished chunk, so a stopped run resumes
  uint64_t seed = 0;
  bool ema = true;          // sample with the EMA weights when the checkpoint has them
  bool quiet = false;       // no progress on stderr
};

struct EvaluateOptions {
  std::string checkpoint;
  std::string data_dir;
  std::string split = "test";
  int64_t items = 0;      // images (DDPM, default 1000) or chunks (text, default all of the split)
  bool estimate = false;
  int64_t steps = 0;      // D3PM: the bound of the reverse process with this many steps (0: all T)
  int64_t batch = 0;      // 0: the preset's training batch
  bool ema = true;        // evaluate the EMA weights when the checkpoint has them
  bool json = false;
  std::string terms_out;  // write every per-t term as JSON here
  std::string rate_distortion;  // DDPM: write the progressive coding's rate and distortion per t as JSON here
  bool quiet = false;     // no progress on stderr
  std::string journal;    // a directory recording each finished batch, so an interrupted evaluation resumes
  uint64_t seed = 0;
  std::string samples;    // score a file of text samples (generative perplexity, entropy, distinct-n) ...
  std::string teacher;    // ... under this autoregressive checkpoint
  std::string control;    // ... and the share that meets this Diffusion-LM control (KIND=VALUE)
  std::string judge;      // ... judged by this clean text-classifier checkpoint (testament, group)
  std::string classifier; // images: --samples S.npz (or --fd-floor) scored in this clean image classifier's features
  bool fd_floor = false;  // images: FD-classifier between train and test images instead of samples
  int64_t neighbours = 3; // images: the k of precision and recall's k-NN radii (--k)
  bool alone = false;     // this process by itself, no collectives (a training run's periodic evaluation)
  bool skip_long = false; // words: leave out (and count) held-out verses or pairs too long, instead of refusing
  // --task pairs (apps/pair_evaluation.hpp): generate each held-out pair's target given its source and score it.
  std::string task;              // "" (the bound) or "pairs"
  int64_t candidates = 5;        // targets generated per source (self-BLEU among them; MBR picks one)
  bool mbr = false;              // the hypothesis is the candidate of least Bayes risk by BLEU, not the first
  bool copy_source = false;      // no model: each hypothesis is its source
  std::string decoder;           // masked-text: "ancestral" ("") or "maskgit"
  double temperature = 0;        // ar-text: 0 greedy (the default), > 0 sampled at this temperature
  double choice_temperature = 4.5;  // MaskGIT's Gumbel noise on the confidences
  std::string out;               // write the sources, references, hypotheses and candidates here
};

}  // namespace diffuse
