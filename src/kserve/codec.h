// KServe V2 inference bodies: JSON, and Triton's binary tensor data extension.
//
// Request body: a JSON object {"id"?, "parameters"?, "inputs": [...], "outputs"?: [...]}. With
// `json_length` (the Inference-Header-Content-Length header) only the first json_length bytes are JSON
// and the binary data of inputs that carry parameters.binary_data_size follows, in input order. Each
// input: {"name", "datatype" ("FP32", "INT64", "BYTES", ...), "shape", "data"? (flat or nested
// row-major), "parameters"?}. BYTES elements are JSON strings, or in binary data each element is a
// 4-byte little-endian length and the bytes.
//
// Decoding checks the body against itself - well-formed JSON, known datatype, element count equal to
// the shape's product, values representable in the datatype (integers in range and integral, no
// strings in numeric tensors, booleans for BOOL, finite numbers), binary sizes that add up exactly to
// the body - and reports the first problem as InvalidArgument naming the input. It does not know the
// model: request_validation.h checks names, types and shapes against it.
//
// Request parameters decoded here: "binary_data_output" (request.binary_outputs), per output
// "binary_data"; everything else (e.g. "timeout", microseconds) lands in request.parameters.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "serving/inference.h"
#include "tensor/data_type.h"

namespace peregrine::kserve {

// KServe datatype names: BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BF16, BYTES.
std::string_view DatatypeName(DataType type);
absl::StatusOr<DataType> ParseDatatype(std::string_view name);

// Binary inputs borrow from `body` (the request keeps it alive in keep_alive); JSON inputs are decoded
// straight into owned tensors. model/version are left for the caller (they come from the URL).
absl::StatusOr<serving::InferenceRequest> DecodeInferRequest(std::shared_ptr<const std::string> body,
                                                             std::optional<size_t> json_length);

struct EncodedResponse {
  std::string body;
  std::optional<size_t> json_length;  // set when any output is binary: Inference-Header-Content-Length
};

// {"model_name", "model_version" (string), "id"?, "parameters"?, "outputs": [{"name", "datatype",
// "shape", "data" | "parameters": {"binary_data_size"}}]}. Floats are written in the shortest form
// that reads back to the same value.
EncodedResponse EncodeInferResponse(const serving::InferenceResponse& response);

// {"error": "<message>"} with the message escaped.
std::string ErrorBody(std::string_view message);

}  // namespace peregrine::kserve
