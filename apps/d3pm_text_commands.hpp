// The D3PM text verbs of build/diffuse (Austin et al. 2021, text8): train a transformer x0-model on random
// 256-character windows, sample text (with step skipping and the denoising trajectory), and evaluate the
// bound in bits/char on the canonical chunks of a split.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/command_options.hpp"
#include "apps/training_loop.hpp"

namespace diffuse {

// The training task of a resolved "kind": "d3pm-text" configuration on the corpus at data_path (a text8
// file, or a directory holding one named `text8`). Records the training split's token counts (and the
// nearest-neighbour embeddings) in config["diffusion"] when they are not there yet.
// Checks a "d3pm-text" configuration (model and diffusion sections) and counts the model's parameters.
int64_t d3pm_text_parameter_count(const nlohmann::json& config);
std::unique_ptr<TrainingTask> make_d3pm_text_training(nlohmann::json& config, const std::string& data_path);
int run_d3pm_text_sample(const SampleOptions& options);
int run_d3pm_text_evaluate(const EvaluateOptions& options);

}  // namespace diffuse
