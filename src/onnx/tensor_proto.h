// Conversion of ONNX TensorProto messages (initializers, Constant values, test data) to Tensors.
#pragma once

#include <string>

#include "common/status.h"
#include "tensor/tensor.h"

namespace onnx {
class TensorProto;
}

namespace peregrine::onnx_import {

// Copies `proto` into an owned Tensor. External data is read relative to `base_dir` and must stay
// inside it. InvalidArgument (naming the tensor) for unsupported types, sizes that disagree with the
// dims, or unreadable external files.
absl::StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::string& base_dir);

// Reads a file holding one serialized TensorProto (the ONNX test data's input_N.pb / output_N.pb).
absl::StatusOr<Tensor> LoadTensorFile(const std::string& path);

}  // namespace peregrine::onnx_import
