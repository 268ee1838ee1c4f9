// Shape checks shared by the config, warm-up and request checks (see config_checks.h).
#include "serving/config_checks.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace peregrine::serving::internal {

bool RankUnknown(const engine::TensorInfo& info) { return info.shape.empty() && info.dim_names.empty(); }

std::string DimsToString(const std::vector<int64_t>& dims) { return absl::StrCat("[", absl::StrJoin(dims, ", "), "]"); }

std::vector<int64_t> ConfigDimsOf(const engine::TensorInfo& info, int max_batch_size) {
  std::vector<int64_t> dims;
  for (size_t d = max_batch_size > 0 ? 1 : 0; d < info.shape.size(); ++d)
    dims.push_back(info.shape[d] < 0 ? -1 : info.shape[d]);
  return dims;
}

absl::Status CheckConfigDims(const std::string& field, const std::string& what, const engine::TensorInfo& info,
                             int max_batch_size, const std::vector<int64_t>& dims) {
  for (size_t j = 0; j < dims.size(); ++j) {
    if (dims[j] < -1)
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", dims[j], " is not a size (use -1 for any)"));
  }
  if (RankUnknown(info)) return absl::OkStatus();
  const std::vector<int64_t> model = ConfigDimsOf(info, max_batch_size);
  const char* besides_batch = max_batch_size > 0 ? " besides the batch" : "";
  if (dims.size() != model.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", what, " has ", model.size(), model.size() == 1 ? " dimension" : " dimensions",
                     besides_batch, " ", DimsToString(model), ", config says ", dims.size(), " ", DimsToString(dims)));
  }
  for (size_t j = 0; j < dims.size(); ++j) {
    if (model[j] >= 0 && dims[j] >= 0 && model[j] != dims[j]) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", what, " has dims", besides_batch, " ",
                                                     DimsToString(model), ", config says ", DimsToString(dims)));
    }
  }
  return absl::OkStatus();
}

}  // namespace peregrine::serving::internal
