// Reads ONNX model files into the graph IR, using Debian's libonnx for parsing, the model checker and
// shape inference.
//
// Supported: default-domain opsets 7..17, initializers (inline or external data beside the model),
// symbolic dimensions. Errors: InvalidArgument for files that are not valid ONNX (truncated, failing
// the checker, inconsistent shapes), Unimplemented for valid models using something Peregrine does not
// support (opset, operator domain, non-tensor types, subgraphs). Messages name the node or tensor.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "graph/ir.h"

namespace peregrine::onnx_import {

inline constexpr int64_t kMinOpset = 6;
inline constexpr int64_t kMaxOpset = 17;

struct LoadOptions {
  bool run_checker = true;     // onnx::checker::check_model
  bool infer_shapes = true;    // onnx shape inference fills value shapes and dtypes
};

absl::StatusOr<std::unique_ptr<graph::Graph>> LoadModel(const std::string& path, const LoadOptions& options = {});

// `base_dir` is where external tensor data files are looked up.
absl::StatusOr<std::unique_ptr<graph::Graph>> LoadModelFromBytes(std::string_view bytes, const std::string& base_dir,
                                                                 const LoadOptions& options = {});

}  // namespace peregrine::onnx_import
