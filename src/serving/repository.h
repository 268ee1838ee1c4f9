// Model repository in Triton's layout:
//   REPO/<model>/config.pbtxt          optional
//   REPO/<model>/<version>/model.onnx  version: a positive integer folder name; the file name can be
//                                      changed by config default_model_filename
// Files and folders that do not fit the layout (hidden entries, non-numeric version folders) are ignored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/model_config.pb.h"

namespace peregrine::serving {

struct ModelDirectory {
  std::string name;
  std::filesystem::path path;
  std::vector<int64_t> versions;        // numeric sub-folders, ascending
  std::optional<std::string> config_text;  // contents of config.pbtxt, when present
};

// Names of the model folders in `repository`, sorted. NotFound when the repository does not exist.
absl::StatusOr<std::vector<std::string>> ListModelNames(const std::filesystem::path& repository);

// NotFound when REPO/<name> is not a folder; InvalidArgument for a name with '/' or "..".
absl::StatusOr<ModelDirectory> ReadModelDirectory(const std::filesystem::path& repository, const std::string& name);

// The versions a policy serves out of those available, ascending. An unset policy serves the latest one.
std::vector<int64_t> SelectVersions(const config::ModelVersionPolicy& policy, const std::vector<int64_t>& available);

// Changes whenever a file under the model folder is added, removed, resized or modified (poll mode).
std::string ModelFingerprint(const std::filesystem::path& model_dir);

}  // namespace peregrine::serving
