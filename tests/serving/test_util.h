// Helpers shared by the serving tests: model signatures and scratch folders.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/session.h"

namespace peregrine::serving::testing {

// A signature entry; a negative size in `shape` is a symbolic dimension named "batch" at 0, "d<i>" elsewhere.
inline engine::TensorInfo Info(const std::string& name, DataType dtype, std::vector<int64_t> shape) {
  engine::TensorInfo info{name, dtype, shape, {}};
  for (size_t i = 0; i < shape.size(); ++i) {
    info.dim_names.push_back(shape[i] >= 0 ? "" : (i == 0 ? "batch" : absl::StrCat("d", i)));
  }
  return info;
}

// A fresh folder under the system's temporary folder, removed with everything in it at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "peregrine_serving_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  const std::filesystem::path& path() const { return path_; }

  // Writes `contents` to path()/relative, creating folders on the way.
  void Write(const std::string& relative, const std::string& contents) const {
    const std::filesystem::path file = path_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << contents;
  }
  void MakeDir(const std::string& relative) const { std::filesystem::create_directories(path_ / relative); }

 private:
  std::filesystem::path path_;
};

}  // namespace peregrine::serving::testing
