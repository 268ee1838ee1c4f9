// Blocking HTTP/1.1 requests for the control path of `peregrine bench`: model metadata, server statistics.
// Not used for load (see worker.h). Each call opens its own connection and is bounded by `timeout`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace peregrine::loadgen {

// http://host[:port][/base] - the server to load. Only plain HTTP.
struct Endpoint {
  std::string host;
  uint16_t port = 80;
  std::string base_path;  // without a trailing slash; "" for the root
  std::string HostHeader() const;
};
absl::StatusOr<Endpoint> ParseUrl(const std::string& url);

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

// Unavailable when the server cannot be reached or does not answer within the timeout.
absl::StatusOr<HttpReply> HttpGet(const Endpoint& endpoint, const std::string& path,
                                  std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000));

}  // namespace peregrine::loadgen
