// The D3PM image verbs of build/diffuse (Austin et al. 2021, §6: CIFAR-10): discrete diffusion over the 256
// values of every subpixel (3 x 32 x 32 categorical variables) with the discretized Gaussian, uniform or
// absorbing (mid-gray 128) transitions, an x0-parameterised U-Net that outputs a truncated discretized
// logistic (or plain logits) per subpixel, the hybrid loss, samples as PNG grids and .npz, and bits/dim by
// the exact bound or its Monte-Carlo estimate.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/command_options.hpp"
#include "apps/training_loop.hpp"

namespace diffuse {

int64_t d3pm_image_parameter_count(const nlohmann::json& config);
std::unique_ptr<TrainingTask> make_d3pm_image_training(const nlohmann::json& config, const std::string& data_dir);
int run_d3pm_image_sample(const SampleOptions& options);
int run_d3pm_image_evaluate(const EvaluateOptions& options);

}  // namespace diffuse
