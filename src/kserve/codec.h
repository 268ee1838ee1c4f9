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
//
// Triton's system shared memory extension: an input or requested output may instead carry parameters
// "shared_memory_region" (a region registered in the SharedMemoryRegistry), "shared_memory_offset" (within
// the region, default 0) and "shared_memory_byte_size" (required). An input's bytes are exactly what binary
// data would be (checked against shape and datatype) and are borrowed from the mapping when aligned; an
// output is written there by WriteSharedMemoryOutputs() and its response entry carries those parameters
// instead of data. Unknown regions and ranges beyond a region are InvalidArgument naming the tensor.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kserve/shared_memory.h"
#include "serving/inference.h"
#include "tensor/data_type.h"

namespace peregrine::kserve {

// KServe datatype names: BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BF16, BYTES.
std::string_view DatatypeName(DataType type);
absl::StatusOr<DataType> ParseDatatype(std::string_view name);

// Binary inputs borrow from `body` and shared-memory inputs from their regions (the request keeps them alive
// in keep_alive); JSON inputs are decoded straight into owned tensors. model/version are left for the caller
// (they come from the URL). Shared-memory tensors are resolved in `shared_memory` (null: refused); the outputs
// to write into regions are stored in `*shm_outputs` on success (null: shared-memory outputs are refused).
absl::StatusOr<serving::InferenceRequest> DecodeInferRequest(std::shared_ptr<const std::string> body,
                                                             std::optional<size_t> json_length,
                                                             const SharedMemoryRegistry* shared_memory = nullptr,
                                                             SharedMemoryOutputs* shm_outputs = nullptr);

struct EncodedResponse {
  std::string body;
  std::optional<size_t> json_length;  // set when any output is binary: Inference-Header-Content-Length
};

// {"model_name", "model_version" (string), "id"?, "parameters"?, "outputs": [{"name", "datatype",
// "shape", "data" | "parameters": {"binary_data_size"}}]}. Floats are written in the shortest form
// that reads back to the same value. Outputs named in `shm_outputs` (already written there) get
// "parameters": {"shared_memory_region", "shared_memory_byte_size" (the bytes written),
// "shared_memory_offset"? (when not 0)} and no data.
EncodedResponse EncodeInferResponse(const serving::InferenceResponse& response,
                                    const SharedMemoryOutputs* shm_outputs = nullptr);

// {"error": "<message>"} with the message escaped.
std::string ErrorBody(std::string_view message);

}  // namespace peregrine::kserve
