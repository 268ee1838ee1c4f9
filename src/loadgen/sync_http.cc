#include "loadgen/sync_http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace peregrine::loadgen {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

std::string Endpoint::HostHeader() const {
  const std::string name = host.find(':') == std::string::npos ? host : absl::StrCat("[", host, "]");  // IPv6
  return port == 80 ? name : absl::StrCat(name, ":", port);
}

absl::StatusOr<Endpoint> ParseUrl(const std::string& url) {
  std::string rest = url;
  if (absl::StartsWith(rest, "http://")) {
    rest = rest.substr(7);
  } else if (rest.find("://") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported URL '", url, "': only http:// is supported"));
  }
  Endpoint endpoint;
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) endpoint.base_path = rest.substr(slash);
  while (!endpoint.base_path.empty() && endpoint.base_path.back() == '/') endpoint.base_path.pop_back();
  // An IPv6 literal is bracketed ([::1]:8000); the host is what is inside the brackets.
  std::string bracketed;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("unclosed '[' in URL '", url, "'"));
    bracketed = authority.substr(1, close - 1);
    authority = authority.substr(close + 1);  // "" or ":port"
    if (!authority.empty() && authority[0] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("bad host in URL '", url, "'"));
    }
  }
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(authority.substr(colon + 1), &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("bad port in URL '", url, "'"));
    }
    endpoint.port = static_cast<uint16_t>(port);
    authority = authority.substr(0, colon);
  }
  if (!bracketed.empty()) authority = bracketed;
  if (authority.empty()) return absl::InvalidArgumentError(absl::StrCat("no host in URL '", url, "'"));
  endpoint.host = authority;
  return endpoint;
}

absl::StatusOr<HttpReply> HttpGet(const Endpoint& endpoint, const std::string& path,
                                  std::chrono::milliseconds timeout) {
  const std::string what = absl::StrCat("GET http://", endpoint.HostHeader(), endpoint.base_path, path);
  try {
    // Asynchronous operations on a private io_context run for at most `timeout`: Beast's stream timeouts
    // apply to asynchronous operations only, and a stuck server must not hang the command.
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    http::request<http::empty_body> request(http::verb::get, endpoint.base_path + path, 11);
    request.set(http::field::host, endpoint.HostHeader());
    request.set(http::field::user_agent, "peregrine-bench");
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    beast::error_code result = boost::asio::error::timed_out;
    bool done = false;
    const auto addresses = resolver.resolve(endpoint.host, std::to_string(endpoint.port));
    stream.async_connect(addresses, [&](beast::error_code ec, const tcp::endpoint&) {
      if (ec) {
        result = ec;
        done = true;
        return;
      }
      http::async_write(stream, request, [&](beast::error_code ec, size_t) {
        if (ec) {
          result = ec;
          done = true;
          return;
        }
        http::async_read(stream, buffer, parser, [&](beast::error_code ec, size_t) {
          result = ec;
          done = true;
        });
      });
    });
    io.run_for(timeout + std::chrono::milliseconds(100));
    if (!done) return absl::UnavailableError(absl::StrCat(what, ": no answer within ", timeout.count(), " ms"));
    if (result) return absl::UnavailableError(absl::StrCat(what, ": ", result.message()));
    return HttpReply{parser.get().result_int(), std::move(parser.get().body())};
  } catch (const std::exception& e) {  // Asio reports some failures (e.g. resolving) by throwing
    return absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
  }
}

}  // namespace peregrine::loadgen
