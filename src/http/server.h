// HTTP/1.1 server on Boost.Asio/Beast: the transport under the KServe V2 routes.
//
// Threads: `threads` I/O threads, each running its own io_context; a connection lives on one thread
// for its whole life, so per-connection state needs no locks. The handler runs on that I/O thread and
// must not block: it answers at once or hands the request to other threads and answers later through
// the Responder, from any thread.
//
// Protocol behaviour:
//  - Keep-alive for HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive"
//    (echoed back, as `ab -k` needs). Requests on a connection are answered in order, one at a time.
//  - Each response goes out in one gather write with TCP_NODELAY set (no Nagle/delayed-ACK stalls).
//  - Limits answered by the transport itself with a JSON error body {"error": "..."} and then closing:
//    body over `body_limit` -> 413; malformed HTTP -> 400; no complete request header within
//    `header_timeout` of the connection opening or the previous response -> the connection is closed
//    (slowloris); whole request not received within `request_timeout` -> closed.
//  - While a request is being handled the server watches its socket: if the client closes it, the
//    request's cancellation flag is set and the eventual response is dropped.
//  - Server, Date and Content-Length headers are set by the transport.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/beast/http.hpp>

#include "common/cancellation.h"
#include "common/status.h"

namespace peregrine::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// The way back to the client of one request. Thread-safe. Exactly one of: Send(), or BeginStream()
// followed by any WriteChunk() calls and one EndStream(). Calls after the client went away are no-ops.
class Responder {
 public:
  virtual ~Responder() = default;
  // The transport fills in version, keep-alive, Content-Length, Server and Date.
  virtual void Send(Response response) = 0;
  // Chunked transfer (Server-Sent Events): the header goes out now; each chunk is written in order.
  virtual void BeginStream(Response header) = 0;
  virtual void WriteChunk(std::string data) = 0;
  virtual void EndStream() = 0;
  // Set when the client disconnects before the response is complete.
  virtual std::shared_ptr<CancellationFlag> cancellation() = 0;
};

// Runs on the connection's I/O thread. The request (body included) stays alive as long as the pointer.
using Handler = std::function<void(std::shared_ptr<const Request> request, std::shared_ptr<Responder> responder)>;

struct ServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8000;  // 0: the system picks one; see Server::port()
  int threads = 2;
  size_t body_limit = 64u << 20;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};
  std::chrono::milliseconds idle_timeout{120'000};  // keep-alive connection with no request
  // After handling an event, an I/O thread keeps polling this long before it sleeps (see RunIo in
  // server.cc): lower latency for a request-response pair at the price of CPU time. 0: sleep at once.
  std::chrono::microseconds busy_poll{0};
};

class Server {
 public:
  // Binds, listens and starts the I/O threads. Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler handler);
  ~Server();  // Shutdown(0)

  uint16_t port() const;

  // Graceful stop: closes the listening socket, lets requests already received finish and their
  // responses be written (waiting at most `grace`), closes idle connections, joins the I/O threads.
  void Shutdown(std::chrono::milliseconds grace);

  size_t open_connections() const;
  size_t requests_in_flight() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace peregrine::http
