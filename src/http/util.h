// Small pieces shared by the transport's files: the JSON error body, the Date header value and
// the status/category helpers. Internal to src/http.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http.hpp>

#include "http/server.h"

namespace peregrine::http::internal {

// {"error": "<message, JSON-escaped>"}
std::string JsonError(std::string_view message);

// A response with a JSON error body; version and connection headers are filled in when it is sent.
Response ErrorResponse(boost::beast::http::status status, std::string_view message);

// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), formatted once per second per thread.
boost::beast::string_view HttpDate();

}  // namespace peregrine::http::internal
