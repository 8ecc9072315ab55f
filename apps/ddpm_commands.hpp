// The DDPM verbs of build/diffuse: train, sample and evaluate a U-Net eps-model on images.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/command_options.hpp"
#include "apps/training_loop.hpp"

namespace diffuse {

// The training task of a resolved "kind": "ddpm" configuration on the images under data_dir.
std::unique_ptr<TrainingTask> make_ddpm_training(const nlohmann::json& config, const std::string& data_dir);
int run_ddpm_sample(const SampleOptions& options);
int run_ddpm_evaluate(const EvaluateOptions& options);

}  // namespace diffuse
