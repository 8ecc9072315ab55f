// The "diffusion" section of a D3PM configuration (presets.cpp) and the diffusion::D3pmConfig it describes.
//
//   kind            uniform | absorbing | gaussian | nn | mask-replace
//   schedule        linear | cosine | jsd | mi | vq | spindle, or "auto": the kind's usual schedule
//                   (absorbing jsd = 1/(T-t+1), uniform cosine, nn mi, gaussian linear, mask-replace vq;
//                   d3pm_resolved_schedule, d3pm_choices.hpp)
//   timesteps, hybrid_lambda, decoder (posterior | ptilde), beta_start, beta_end, cosine_s, max_beta,
//   nn_knn, nn_final_mask, spindle_lambda
//   loss_bits_per_dim  true: the training loss in bits per position, as the reference image code trains
//                   (the image presets); false: nats summed over the positions, as the reference text code
//                   trains (the text presets, and runs made before the setting, which lack it)
//   nn_embeddings   the nearest-neighbour kind's token embeddings: "bigram" (each token's next- and
//                   previous-token distributions in the training split, data::bigram_context_embeddings),
//                   a checkpoint (.safetensors; its EMA tok_emb.weight, else tok_emb.weight) or a text
//                   matrix, one embedding per line
// Filled in when a run starts (resolve_d3pm_data), so that a checkpoint alone rebuilds the process:
//   token_counts         training-split counts of the data states (the mi and spindle schedules use them)
//   nn_embedding_matrix  the embeddings read from nn_embeddings, one row per data state
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/command_options.hpp"
#include "apps/training_loop.hpp"
#include "diffusion/d3pm_elbo.hpp"
#include "diffusion/d3pm_process.hpp"
#include "diffusion/d3pm_sampler.hpp"

namespace diffuse {

// Throws std::invalid_argument naming the field ("diffusion.schedule: ...").
diffusion::D3pmConfig d3pm_config_from_json(const nlohmann::json& d, const diffusion::D3pmStates& states);
// The checks of d3pm_config_from_json that need no data (names, types, ranges), for `diffuse info`.
void check_d3pm_json(const nlohmann::json& d, const diffusion::D3pmStates& states);

// Records the data-dependent fields in d: token_counts (the K_d counts of the training split) and, for
// the nearest-neighbour kind, nn_embedding_matrix from nn_embeddings (rows: the K_d data states);
// `bigram` is the training split's bigram embedding (num_data rows of bigram_dim), used for "bigram".
void resolve_d3pm_data(nlohmann::json& d, const std::vector<int64_t>& token_counts, int64_t num_data,
                       const std::vector<double>& bigram, int64_t bigram_dim);

// The sampler's options from `diffuse sample`'s flags, for a process of T steps: --steps (skipping),
// --argmax, --progressive with --every (default T/10, the paper's figure: t = T, 0.9T, ..., 0).
// Throws naming the flag when --steps or --every is outside 1..T.
// A D3PM micro-batch's loss and its parts L_vb and CE (L_lambda = L_vb + lambda CE), each the batch mean in
// the loss's units (nats per sequence, or bits per position with loss_bits_per_dim).
MicroBatchLoss d3pm_loss_parts(const diffusion::D3pmLoss& loss, const diffusion::D3pmConfig& config, int64_t positions);
inline std::vector<std::string> d3pm_loss_part_names() { return {"L_vb", "CE"}; }

diffusion::D3pmSampleOptions d3pm_sample_options(const SampleOptions& options, int64_t timesteps);

// `diffuse evaluate` for a D3PM: the exact bound (every term, or the --steps K process) or the --estimate
// of items int32 [N, L] in batches of `batch`, shared among the processes and journaled
// (sharded_evaluation.hpp), with its progress on stderr (progress.hpp) unless options.quiet. Throws naming
// --steps when it is outside 1..T, or given with --estimate.
diffusion::D3pmElboResult evaluate_d3pm(const diffusion::X0Model& model, const diffusion::D3pm& d3pm, const Tensor& items,
                                        int64_t batch, const EvaluateOptions& options);
// The same with the model of items [begin, end) (a class-conditional one given those items' labels).
using X0ModelOfItems = std::function<diffusion::X0Model(int64_t begin, int64_t end)>;
diffusion::D3pmElboResult evaluate_d3pm(const X0ModelOfItems& model_of, const diffusion::D3pm& d3pm, const Tensor& items,
                                        int64_t batch, const EvaluateOptions& options);

}  // namespace diffuse
