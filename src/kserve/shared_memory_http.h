// The HTTP endpoints of Triton's shared-memory extensions, for KServeRoutes:
//
//   GET  /v2/systemsharedmemory[/region/{name}]/status      [{"name", "key", "offset", "byte_size"}]
//   POST /v2/systemsharedmemory/region/{name}/register      body {"key": "/shm_key", "offset"?: N, "byte_size": N}
//   POST /v2/systemsharedmemory[/region/{name}]/unregister  all regions, or one (an unknown name is no error)
//
// CUDA shared memory (/v2/cudasharedmemory/...) is not supported; its endpoints answer as a Triton built
// without GPUs does, so clients see the same flow: status lists no regions, unregister succeeds (there is
// nothing to unregister), and register - and the status of a named region - fail with 400 and a message
// saying that CUDA shared memory is not supported by this server.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kserve/shared_memory.h"

namespace peregrine::kserve {

// Handles a request whose path `segments` (percent-decoded, "v2" first) start with "systemsharedmemory" or
// "cudasharedmemory". Returns the body of the 200 answer (JSON, or empty), or the error: InvalidArgument
// (400 - Triton answers every failure of these endpoints with 400, an unknown region included), or NotFound
// for a path that is not one of the endpoints.
absl::StatusOr<std::string> SharedMemoryEndpoint(SharedMemoryRegistry& registry, std::string_view method,
                                                 const std::vector<std::string>& segments, const std::string& body);

}  // namespace peregrine::kserve
