// What `peregrine bench` sends: one request, prepared once, as the exact bytes that go on the wire.
//
// Inference requests (POST .../infer) are built from the model's metadata (GET /v2/models/{m}[/versions/{v}]):
// every input gets a tensor of its datatype and shape - dimensions of -1 become the batch size when first and
// 1 elsewhere, unless --shape NAME=d1,d2 says otherwise - filled with random values (floats in [0, 1), integers
// in [0, 10), booleans, 8-letter strings; seeded) or zeros, or read from a file per input (NAME=path.npy, or
// NAME=path.json holding a possibly nested array). The body is KServe V2 JSON, or with `binary` Triton's
// binary tensor extension for the inputs and binary_data_output for the outputs. A whole request body can
// instead be taken from a JSON file as is. Generate requests (POST .../generate) carry
// {"text_input": prompt, "parameters": {"max_tokens": N}}.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "loadgen/sync_http.h"

namespace peregrine::loadgen {

struct WorkloadOptions {
  std::string model;
  std::string version;                   // "" for the server's choice
  std::string data = "random";           // "random" or "zero"
  std::vector<std::string> input_files;  // NAME=FILE.npy | NAME=FILE.json
  std::vector<std::string> shapes;       // NAME=d1,d2,...
  std::string request_file;              // a complete JSON request body, sent as is
  bool binary = false;
  int64_t batch_size = 1;
  uint64_t seed = 1;
  std::optional<std::string> generate_prompt;  // set: a generate request
  int max_tokens = 16;
};

struct Workload {
  std::string model_path;               // /v2/models/{m}[/versions/{v}]
  std::string path;                     // model_path + "/infer" or "/generate"
  std::string content_type = "application/json";
  std::optional<size_t> json_length;    // binary tensors: Inference-Header-Content-Length
  std::string body;
  std::string summary;                  // one line: "INPUT0 INT32 [1,16], INPUT1 INT32 [1,16]; JSON; 254 bytes"
};

std::string ModelPath(const std::string& model, const std::string& version);

// From already-fetched metadata (no network); InvalidArgument naming the input or file at fault.
absl::StatusOr<Workload> BuildInferWorkload(const std::string& metadata_json, const WorkloadOptions& options);
absl::StatusOr<Workload> BuildGenerateWorkload(const WorkloadOptions& options);
// Fetches the metadata when needed, then one of the above (or the request file).
absl::StatusOr<Workload> BuildWorkload(const Endpoint& endpoint, const WorkloadOptions& options);

// The complete HTTP/1.1 request: request line, Host, Content-Type, Content-Length (and the binary header), body.
std::string WireRequest(const Endpoint& endpoint, const Workload& workload);

}  // namespace peregrine::loadgen
