// One connection's life: [idle] -> read header -> [100 Continue] -> read body -> handler -> write the
// response (whole, or as a chunked stream) -> back to idle for keep-alive, or lingering close.
//
// Timeouts ride on beast::tcp_stream, whose expiry applies to the operations started after it is set,
// so every read or write below sets its own: the first request's header must arrive within
// header_timeout of the connection opening; a keep-alive connection may then sit idle for idle_timeout
// and, once a byte of the next request arrives, gets header_timeout for the rest of the header; the
// whole request (header and body) must be in within request_timeout of its start. Writes get
// request_timeout each so a client that stops reading cannot pin a connection.
#include "http/connection.h"

#include <cstdio>
#include <exception>
#include <sstream>

#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include "http/util.h"

namespace peregrine::http::internal {

namespace http = beast::http;

namespace {

constexpr size_t kHeaderLimit = 16 * 1024;
constexpr size_t kIdleReadSize = 4096;
// After an error response the server stops sending and drains what the client still sends for a while,
// so closing with unread data (which makes the kernel send RST) does not destroy the response in flight.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr size_t kLingerMaxBytes = 4u << 20;
constexpr size_t kLingerReadSize = 16 * 1024;
constexpr size_t kBodyPadding = 64;  // simdjson::SIMDJSON_PADDING

const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
const char kServerName[] = "peregrine";

bool IsHttpParseError(const beast::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_method).category();
}

bool HasToken(const beast::string_view& value, const char* token) {
  return http::token_list{value}.exists(token);
}

// The Responder handed to the handler. Any thread; each call is forwarded through the Gate to the
// connection's I/O thread. The atomics only enforce "Send, or BeginStream..EndStream, once".
class ResponderImpl final : public Responder {
 public:
  ResponderImpl(std::weak_ptr<Connection> connection, std::shared_ptr<Gate> gate, uint64_t seq,
                std::shared_ptr<CancellationFlag> cancel)
      : connection_(std::move(connection)), gate_(std::move(gate)), seq_(seq), cancel_(std::move(cancel)) {}

  ~ResponderImpl() override {
    // Never answered (or a stream never ended): the connection must not wait forever.
    if (!finished_.load()) Forward([](Connection& c, uint64_t seq) { c.Dropped(seq); });
  }

  void Send(Response response) override {
    if (started_.exchange(true)) return;
    finished_.store(true);
    if (cancel_->cancelled()) return;
    Forward([response = std::move(response)](Connection& c, uint64_t seq) mutable { c.Send(seq, std::move(response)); });
  }

  void BeginStream(Response header) override {
    if (started_.exchange(true)) return;
    Forward([header = std::move(header)](Connection& c, uint64_t seq) mutable { c.BeginStream(seq, std::move(header)); });
  }

  void WriteChunk(std::string data) override {
    if (!started_.load() || finished_.load() || cancel_->cancelled()) return;
    Forward([data = std::move(data)](Connection& c, uint64_t seq) mutable { c.WriteChunk(seq, std::move(data)); });
  }

  void EndStream() override {
    if (!started_.load() || finished_.exchange(true)) return;
    Forward([](Connection& c, uint64_t seq) { c.EndStream(seq); });
  }

  std::shared_ptr<CancellationFlag> cancellation() override { return cancel_; }

 private:
  // A call made on the I/O thread before anything was queued for this responder runs at once (a
  // handler answering synchronously saves a trip through the queue). Once one call has been queued,
  // all later ones queue too, so they stay in the order they were made.
  template <class F>
  void Forward(F&& f) {
    auto run = [connection = connection_, seq = seq_, f = std::forward<F>(f)]() mutable {
      if (std::shared_ptr<Connection> c = connection.lock()) f(*c, seq);
    };
    if (!queued_.load() && gate_->OnThisThread()) {
      run();
      return;
    }
    queued_.store(true);
    gate_->Post(std::move(run));
  }

  std::weak_ptr<Connection> connection_;
  std::shared_ptr<Gate> gate_;
  uint64_t seq_;
  std::shared_ptr<CancellationFlag> cancel_;
  std::atomic<bool> started_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> queued_{false};
};

}  // namespace

Connection::Connection(tcp::socket socket, ServerShared& shared, IoThread& io)
    : stream_(std::move(socket)), shared_(shared), io_(io) {
  shared_.open_connections.fetch_add(1);
}

void Connection::Start() {
  if (shared_.stopping.load()) {
    Close();
    return;
  }
  ReadHeader();
}

void Connection::OnServerStopping() {
  switch (state_) {
    case State::kIdle:
    case State::kReadingHeader:
    case State::kLingering:
      Close();
      break;
    default:
      keep_alive_ = false;  // a request is under way: answer it, then close
      break;
  }
}

void Connection::Close() {
  if (state_ == State::kClosed) return;
  std::shared_ptr<Connection> self = shared_from_this();  // erasing from the map below may drop the owner
  state_ = State::kClosed;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  if (request_counted_) {
    cancel_->Cancel();  // nobody will read the answer now
    CountRequestDone();
  }
  // parser_, response_ and the stream buffers stay: operations still pending on them complete (with an
  // error) later and may touch them.
  io_.connections.erase(this);
  shared_.open_connections.fetch_sub(1);
  shared_.NotifyIfStopping();
}

void Connection::CountRequestDone() {
  if (!request_counted_) return;
  request_counted_ = false;
  shared_.requests_in_flight.fetch_sub(1);
}

// --- Reading the request ---------------------------------------------------------------------------------

void Connection::WaitForRequest() {
  if (buffer_.size() > 0) {  // the client pipelined the next request
    ReadHeader();
    return;
  }
  state_ = State::kIdle;
  stream_.expires_after(shared_.options.idle_timeout);
  stream_.async_read_some(buffer_.prepare(kIdleReadSize),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            if (self->state_ != State::kIdle) return;
                            if (ec) {
                              self->Close();  // idle timeout, client closed, or server stopping
                              return;
                            }
                            self->buffer_.commit(n);
                            self->ReadHeader();
                          });
}

void Connection::ReadHeader() {
  state_ = State::kReadingHeader;
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(shared_.options.body_limit);
  request_deadline_ = std::chrono::steady_clock::now() + shared_.options.request_timeout;
  stream_.expires_after(std::min<std::chrono::steady_clock::duration>(shared_.options.header_timeout,
                                                                      shared_.options.request_timeout));
  http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    self->OnHeader(ec);
  });
}

void Connection::OnHeader(beast::error_code ec) {
  if (state_ != State::kReadingHeader) return;
  if (ec) {
    OnReadError(ec);
    return;
  }
  const Request& request = parser_->get();
  version_ = request.version();
  if (parser_->is_done()) {
    Dispatch();
    return;
  }
  state_ = State::kReadingBody;
  // Spare capacity after the body lets JSON parsers that read in wide blocks (simdjson needs 64 bytes of
  // padding) parse it in place instead of copying it.
  if (const auto length = parser_->content_length()) parser_->get().body().reserve(*length + kBodyPadding);
  // curl and others wait (about a second) for "100 Continue" before sending a body > 1 KiB.
  if (version_ >= 11 && beast::iequals(request[http::field::expect], "100-continue")) {
    stream_.expires_at(request_deadline_);
    asio::async_write(stream_, asio::buffer(kContinue), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->state_ != State::kReadingBody) return;
      if (ec) {
        self->Close();
        return;
      }
      self->ReadBody();
    });
    return;
  }
  ReadBody();
}

void Connection::ReadBody() {
  stream_.expires_at(request_deadline_);
  http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    self->OnBody(ec);
  });
}

void Connection::OnBody(beast::error_code ec) {
  if (state_ != State::kReadingBody) return;
  if (ec) {
    OnReadError(ec);
    return;
  }
  Dispatch();
}

void Connection::OnReadError(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    SendTransportError(http::status::payload_too_large,
                       "request body exceeds the limit of " + std::to_string(shared_.options.body_limit) + " bytes");
  } else if (ec == http::error::header_limit) {
    SendTransportError(http::status::request_header_fields_too_large,
                       "request header exceeds " + std::to_string(kHeaderLimit) + " bytes");
  } else if (IsHttpParseError(ec) && ec != http::error::end_of_stream && ec != http::error::partial_message) {
    SendTransportError(http::status::bad_request, "malformed HTTP request: " + ec.message());
  } else {
    // End of stream, a timeout (slowloris) or a socket error: nobody to answer.
    Close();
  }
}

// --- Handling ---------------------------------------------------------------------------------------------

void Connection::Dispatch() {
  state_ = State::kHandling;
  stream_.expires_never();  // the handler may take as long as it needs; the client can still leave
  ++seq_;
  Request& parsed = parser_->get();
  keep_alive_ = parsed.keep_alive();
  head_request_ = parsed.method() == http::verb::head;
  response_started_ = streaming_ = chunked_ = stream_ended_ = stream_aborted_ = false;
  auto request = std::make_shared<const Request>(parser_->release());
  parser_.reset();
  cancel_ = std::make_shared<CancellationFlag>();
  request_counted_ = true;
  shared_.requests_in_flight.fetch_add(1);
  auto responder = std::make_shared<ResponderImpl>(weak_from_this(), io_.gate, seq_, cancel_);
  WatchForDisconnect();
  // The handler may answer right here (through the Gate, synchronously), so nothing after the call
  // may assume the state is still kHandling.
  try {
    shared_.handler(std::move(request), responder);
  } catch (const std::exception& e) {
    responder->Send(ErrorResponse(http::status::internal_server_error, std::string("request handler failed: ") + e.what()));
  } catch (...) {
    responder->Send(ErrorResponse(http::status::internal_server_error, "request handler failed"));
  }
}

// Waits for the socket to become readable while the request is handled. EOF (or an error) there means
// the client went away; bytes mean it pipelined its next request, which stays in the socket for the
// parser (and watching stops, since the socket would stay readable).
void Connection::WatchForDisconnect() {
  watching_ = true;
  stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), seq = seq_](beast::error_code ec) {
    self->OnReadable(seq, ec);
  });
}

void Connection::OnReadable(uint64_t seq, beast::error_code ec) {
  if (seq != seq_ || (state_ != State::kHandling && state_ != State::kWriting)) return;  // stale
  watching_ = false;
  if (ec) return;  // cancelled: the response is complete, or the connection closed
  char byte;
  beast::error_code peek_ec;
  size_t n = stream_.socket().receive(asio::buffer(&byte, 1), tcp::socket::message_peek, peek_ec);
  if (peek_ec == asio::error::would_block || peek_ec == asio::error::try_again || peek_ec == asio::error::interrupted) {
    WatchForDisconnect();  // spurious wake-up
    return;
  }
  if (!peek_ec && n > 0) return;
  Close();  // sets the cancellation flag; a later answer finds the connection gone and is dropped
}

void Connection::StopWatching() {
  if (!watching_) return;
  watching_ = false;
  beast::error_code ec;
  stream_.socket().cancel(ec);  // only the wait is pending now; its handler sees a stale state
}

// --- Writing the response ---------------------------------------------------------------------------------

// Fills in what the transport owns: version, keep-alive, Server, Date and Content-Length. Returns false
// when the handler's response cannot be sent as it is (e.g. a body on a 204).
bool Connection::PrepareResponse(Response& response) {
  if (HasToken(response[http::field::connection], "close")) keep_alive_ = false;
  if (shared_.stopping.load()) keep_alive_ = false;
  response.version(version_);
  response.keep_alive(keep_alive_);  // HTTP/1.0: "Connection: keep-alive"; 1.1: "Connection: close" when not
  response.set(http::field::server, kServerName);
  response.set(http::field::date, HttpDate());
  try {
    response.prepare_payload();
  } catch (const std::exception&) {
    return false;
  }
  if (head_request_) {
    // Content-Length describes the body a GET would get; a HEAD response carries none.
    response.content_length(response.body().size());
    response.body().clear();
  }
  return true;
}

void Connection::Send(uint64_t seq, Response response) {
  if (seq != seq_ || state_ != State::kHandling || response_started_) return;
  response_started_ = true;
  if (!PrepareResponse(response)) {
    response = ErrorResponse(http::status::internal_server_error, "the request handler produced an invalid response");
    PrepareResponse(response);
  }
  WriteResponse(std::move(response));
}

void Connection::SendTransportError(http::status status, std::string_view message) {
  if (parser_ && parser_->get().version() != 0) version_ = parser_->get().version();
  parser_.reset();
  head_request_ = false;
  keep_alive_ = false;  // the rest of the stream cannot be trusted
  response_started_ = true;
  Response response = ErrorResponse(status, message);
  PrepareResponse(response);
  WriteResponse(std::move(response));
}

void Connection::WriteResponse(Response response) {
  state_ = State::kWriting;
  response_ = std::make_unique<Response>(std::move(response));
  stream_.expires_after(shared_.options.request_timeout);
  // One gather write: the serializer hands the header and the string body to a single writev.
  http::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (self->state_ != State::kWriting) return;
    if (ec) {
      self->Close();
      return;
    }
    self->FinishRequest();
  });
}

void Connection::BeginStream(uint64_t seq, Response header) {
  if (seq != seq_ || state_ != State::kHandling || response_started_) return;
  response_started_ = true;
  streaming_ = true;
  state_ = State::kWriting;
  std::string first_chunk = std::move(header.body());
  header.body().clear();
  if (HasToken(header[http::field::connection], "close") || shared_.stopping.load()) keep_alive_ = false;
  // HTTP/1.0 has no chunked encoding: the body then ends where the connection does.
  chunked_ = version_ >= 11;
  if (!chunked_) keep_alive_ = false;
  header.version(version_);
  header.keep_alive(keep_alive_);
  header.set(http::field::server, kServerName);
  header.set(http::field::date, HttpDate());
  header.erase(http::field::content_length);
  if (chunked_) header.chunked(true);
  std::ostringstream head;
  head << header.base();
  QueueStreamBytes(head.str());
  if (!first_chunk.empty() && !head_request_) WriteChunk(seq, std::move(first_chunk));
}

void Connection::WriteChunk(uint64_t seq, std::string data) {
  if (seq != seq_ || !streaming_ || stream_ended_ || stream_aborted_ || state_ != State::kWriting) return;
  if (data.empty() || head_request_) return;  // an empty chunk would end the stream
  if (chunked_) {
    char size_line[24];
    int n = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", data.size());
    QueueStreamBytes(std::string_view(size_line, static_cast<size_t>(n)));
    QueueStreamBytes(data);
    QueueStreamBytes("\r\n");
  } else {
    QueueStreamBytes(data);
  }
}

void Connection::EndStream(uint64_t seq) {
  if (seq != seq_ || !streaming_ || stream_ended_ || stream_aborted_ || state_ != State::kWriting) return;
  stream_ended_ = true;
  if (chunked_) {
    QueueStreamBytes("0\r\n\r\n");
  } else {
    FlushStream();
  }
}

void Connection::Dropped(uint64_t seq) {
  if (seq != seq_) return;
  if (state_ == State::kHandling && !response_started_) {
    Send(seq, ErrorResponse(http::status::internal_server_error,
                            "the request handler finished without sending a response"));
  } else if (streaming_ && !stream_ended_ && state_ == State::kWriting) {
    // A stream cut short must not look complete: send what is queued, then close without the last chunk.
    stream_aborted_ = true;
    keep_alive_ = false;
    FlushStream();
  }
}

void Connection::QueueStreamBytes(std::string_view bytes) {
  stream_pending_.append(bytes.data(), bytes.size());
  FlushStream();
}

// Writes whatever is queued as one write; chunks that arrive meanwhile are coalesced into the next.
void Connection::FlushStream() {
  if (writing_ || state_ != State::kWriting) return;
  if (stream_pending_.empty()) {
    if (stream_ended_) {
      FinishRequest();
    } else if (stream_aborted_) {
      Close();
    }
    return;
  }
  writing_ = true;
  stream_writing_.swap(stream_pending_);
  stream_pending_.clear();
  stream_.expires_after(shared_.options.request_timeout);
  asio::async_write(stream_, asio::buffer(stream_writing_), [self = shared_from_this()](beast::error_code ec, size_t) {
    self->writing_ = false;
    self->stream_writing_.clear();
    if (self->state_ != State::kWriting) return;
    if (ec) {
      self->Close();
      return;
    }
    self->FlushStream();
  });
}

void Connection::FinishRequest() {
  response_.reset();
  streaming_ = false;
  StopWatching();
  CountRequestDone();
  shared_.NotifyIfStopping();
  if (shared_.stopping.load()) {
    // Draining for shutdown: do not hold the server up lingering unless the client has sent more.
    beast::error_code ec;
    if (buffer_.size() == 0 && stream_.socket().available(ec) == 0 && !ec) {
      Close();
    } else {
      LingeringClose();
    }
    return;
  }
  if (!keep_alive_) {
    LingeringClose();
    return;
  }
  WaitForRequest();
}

// --- Closing ----------------------------------------------------------------------------------------------

void Connection::LingeringClose() {
  state_ = State::kLingering;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    Close();
    return;
  }
  linger_buffer_ = std::make_unique<char[]>(kLingerReadSize);
  lingered_bytes_ = 0;
  stream_.expires_after(kLingerTime);
  Linger();
}

void Connection::Linger() {
  stream_.async_read_some(asio::buffer(linger_buffer_.get(), kLingerReadSize),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            if (self->state_ != State::kLingering) return;
                            self->lingered_bytes_ += n;
                            if (ec || self->lingered_bytes_ > kLingerMaxBytes) {
                              self->Close();  // the client closed too (EOF), or it is time to give up
                              return;
                            }
                            self->Linger();
                          });
}

}  // namespace peregrine::http::internal
