// JSON bodies of the KServe V2 metadata endpoints and of Triton's statistics and repository extensions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "serving/model.h"
#include "serving/model_manager.h"

namespace peregrine::kserve {

// {"name", "version", "extensions": [...]}
std::string ServerMetadataJson(const std::string& name, const std::string& version,
                               const std::vector<std::string>& extensions);

// {"name", "versions": ["1", ...], "platform", "inputs": [{"name", "datatype", "shape"}], "outputs": [...]}.
// Shapes come from the completed config, with a leading -1 for the batch when max_batch_size > 0.
std::string ModelMetadataJson(const serving::Model& model, const std::vector<int64_t>& ready_versions);

// {"model_stats": [{"name", "version", "last_inference", "inference_count", "execution_count",
//   "inference_stats": {"success": {"count", "ns"}, "fail", "queue", "compute_input", "compute_infer",
//   "compute_output", "cache_hit", "cache_miss"}, "batch_stats": []}]}
std::string ModelStatisticsJson(const std::vector<std::shared_ptr<serving::Model>>& models);

// [{"name", "version"?, "state"?, "reason"?}], only READY entries when `ready_only`.
std::string RepositoryIndexJson(const std::vector<serving::ModelIndexEntry>& index, bool ready_only);

}  // namespace peregrine::kserve
