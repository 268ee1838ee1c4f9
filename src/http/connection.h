// Internal to src/http: one accepted TCP connection and the per-I/O-thread state it lives in.
//
// Ownership: an IoThread's `connections` map owns its open connections (asynchronous operations also hold
// them while pending). Responders hold only a weak pointer and reach the connection by posting through
// the I/O thread's Gate, so a responder that outlives the connection or the whole server never touches
// freed memory or a destroyed io_context.
//
// Threading: every Connection member function runs on its I/O thread (or, after the I/O threads have
// been joined, on the thread shutting the server down), so a connection needs no locks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "common/cancellation.h"
#include "http/server.h"

namespace peregrine::http::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

class Connection;

// State shared by all connections of a server. Owned by the server, outlives every connection.
struct ServerShared {
  ServerOptions options;
  Handler handler;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> open_connections{0};
  std::atomic<size_t> requests_in_flight{0};
  // Shutdown waits on `drained` for open_connections to reach zero; connections signal it only while
  // stopping, so the hot path takes no lock.
  std::mutex mu;
  std::condition_variable drained;

  void NotifyIfStopping() {
    if (!stopping.load()) return;
    std::lock_guard<std::mutex> lock(mu);
    drained.notify_all();
  }
};

// The way into one I/O thread from any other thread, closed when the server stops: afterwards work is
// silently dropped instead of being posted to a stopped (or destroyed) io_context.
class Gate {
 public:
  explicit Gate(asio::io_context& context) : context_(&context) {}

  // Queues `f` on the I/O thread (FIFO), or drops it once the gate is closed.
  template <class F>
  void Post(F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    if (context_ != nullptr) asio::post(*context_, std::forward<F>(f));
  }

  // True on the I/O thread itself while it runs (the context cannot go away under its own thread).
  bool OnThisThread() {
    std::lock_guard<std::mutex> lock(mu_);
    return context_ != nullptr && context_->get_executor().running_in_this_thread();
  }

  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    context_ = nullptr;
  }

 private:
  std::mutex mu_;
  asio::io_context* context_;
};

struct IoThread {
  asio::io_context context{1};  // one thread runs it
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(context);
  std::shared_ptr<Gate> gate = std::make_shared<Gate>(context);
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections;
  std::thread thread;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, ServerShared& shared, IoThread& io);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start();
  // The server is stopping: close now if no request is under way, else after the current response.
  void OnServerStopping();
  // Closes the socket at once (idempotent); a request still unanswered is cancelled.
  void Close();

  // From the request's Responder, via the Gate. `seq` names the request, so a late call from the
  // responder of an earlier request on this connection is ignored.
  void Send(uint64_t seq, Response response);
  void BeginStream(uint64_t seq, Response header);
  void WriteChunk(uint64_t seq, std::string data);
  void EndStream(uint64_t seq);
  void Dropped(uint64_t seq);

 private:
  enum class State { kIdle, kReadingHeader, kReadingBody, kHandling, kWriting, kLingering, kClosed };

  void WaitForRequest();
  void ReadHeader();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  void OnBody(beast::error_code ec);
  void OnReadError(beast::error_code ec);
  void Dispatch();

  void WatchForDisconnect();
  void OnReadable(uint64_t seq, beast::error_code ec);
  void StopWatching();

  void SendTransportError(beast::http::status status, std::string_view message);
  bool PrepareResponse(Response& response);
  void WriteResponse(Response response);
  void QueueStreamBytes(std::string_view bytes);
  void FlushStream();
  void FinishRequest();
  void LingeringClose();
  void Linger();
  void CountRequestDone();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  ServerShared& shared_;
  IoThread& io_;

  State state_ = State::kIdle;
  uint64_t seq_ = 0;  // number of the current (or last) request on this connection
  std::chrono::steady_clock::time_point request_deadline_;
  unsigned version_ = 11;
  bool head_request_ = false;
  bool keep_alive_ = false;
  bool request_counted_ = false;  // counted in requests_in_flight
  std::shared_ptr<CancellationFlag> cancel_;

  bool response_started_ = false;  // Send() or BeginStream() arrived for the current request
  std::unique_ptr<Response> response_;
  bool streaming_ = false;
  bool chunked_ = false;
  bool stream_ended_ = false;
  bool stream_aborted_ = false;
  bool writing_ = false;
  std::string stream_pending_;
  std::string stream_writing_;

  bool watching_ = false;
  size_t lingered_bytes_ = 0;
  std::unique_ptr<char[]> linger_buffer_;
};

}  // namespace peregrine::http::internal
