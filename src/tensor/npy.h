// NumPy .npy files (format versions 1.0-3.0, little-endian, C order) to and from Tensors.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "common/status.h"
#include "tensor/tensor.h"

namespace peregrine {

// InvalidArgument naming the file for anything that is not a C-ordered numeric/bool .npy array.
absl::StatusOr<Tensor> ReadNpy(const std::string& path);
absl::StatusOr<Tensor> ParseNpy(absl::string_view bytes);

absl::Status WriteNpy(const std::string& path, const Tensor& tensor);
absl::StatusOr<std::string> SerializeNpy(const Tensor& tensor);

}  // namespace peregrine
