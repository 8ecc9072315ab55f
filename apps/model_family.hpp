// The model families of build/diffuse, one table: a family's configuration reader and its train, sample and
// evaluate commands. The family a preset or checkpoint records under "kind" is looked up here; main.cpp
// never branches on it. A new family is a new apps/<family>_commands.cpp defining its ModelFamily, and one
// line in the table of model_family.cpp.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/command_options.hpp"
#include "apps/pair_evaluation.hpp"
#include "apps/training_loop.hpp"

namespace diffuse {

struct ModelFamily {
  const char* kind;         // the configuration's "kind": "ddpm", "d3pm-text", "d3pm-image"
  const char* description;  // one line for messages and help
  // Reads and checks the configuration's model and diffusion sections; returns the network's parameter count,
  // or none when it depends on the data (a word preset's vocabulary sizes its embedding and output layers).
  std::optional<int64_t> (*read_config)(const nlohmann::json& config);
  // The training task of a resolved configuration on the data at data_path (a family may record what it
  // derives from the data, such as token counts, in the configuration).
  std::unique_ptr<TrainingTask> (*make_training)(nlohmann::json& config, const std::string& data_path);
  // What the checkpoint's metadata records beyond the configuration so that the network can be rebuilt
  // elsewhere (network_metadata.hpp): the architecture's facts, the tokens, the resolved schedule.
  std::map<std::string, std::string> (*network_metadata)(const nlohmann::json& config);
  int (*sample)(const SampleOptions& options);
  // The family-specific flags of `sample` it takes, of kSampleFamilyFlags; the others are refused for it.
  std::vector<std::string> sample_flags;
  int (*evaluate)(const EvaluateOptions& options);
  // `evaluate --task pairs`: the checkpoint's model as a writer of targets given sources (apps/pair_evaluation.hpp),
  // for a family that conditions on a pair corpus's given mask; null for the others.
  TargetGenerator (*target_generator)(const EvaluateOptions& options) = nullptr;
};

// `sample`'s flags that only some families take.
inline const std::vector<std::string> kSampleFamilyFlags = {
    "--grid",       "--recompute",      "--decoder",            "--choice-temperature", "--template",
    "--temperature", "--sampler",       "--eta",                "--control",            "--classifier",
    "--guidance-updates", "--guidance-step-size", "--fluency", "--guidance-skip-last", "--class", "--per-class",
    "--guidance-scale", "--classifier-scale", "--truncation", "--batch", "--journal"};

// The family of config["kind"]; an unknown kind is an std::invalid_argument naming `where` (the flag or the
// file the configuration came from) and the known families.
const ModelFamily& model_family(const nlohmann::json& config, const std::string& where);

}  // namespace diffuse
