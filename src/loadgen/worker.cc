#include "loadgen/worker.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <future>
#include <system_error>

#include <sys/epoll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "loadgen/handler_memory.h"
#include "loadgen/response_parser.h"

namespace peregrine::loadgen {

using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

struct WorkerMemory {
  HandlerMemory arrival;
  HandlerMemory sweep;
  HandlerMemory ready_set;
};

struct Worker::Connection {
  Connection(boost::asio::io_context& io, size_t i) : socket(io), retry_timer(io), index(i) {}

  tcp::socket socket;
  boost::asio::steady_timer retry_timer;
  size_t index;
  bool open = false;           // connected and usable
  bool busy = false;           // a request is assigned (connecting, writing or reading)
  bool in_idle = false;        // has an entry on the idle stack
  bool retry_pending = false;  // closed loop: waiting to reconnect after a connection error
  bool write_done = false;
  bool response_done = false;
  uint32_t generation = 0;     // bumped on close: completions of older operations are ignored
  int64_t due_ns = 0;
  ResponseParser parser;
  std::array<char, 16 * 1024> buffer;
  HandlerMemory connect_memory, write_memory, retry_memory;
};

Worker::Worker(WorkerOptions options)
    : options_(std::move(options)), arrival_timer_(io_), sweep_timer_(io_),
      memory_(std::make_unique<WorkerMemory>()), work_(boost::asio::make_work_guard(io_)) {
  backlog_.resize(std::max<size_t>(options_.backlog_capacity, 1));
  idle_.reserve(std::max<size_t>(options_.max_connections, 64));
  const int ready_set = epoll_create1(EPOLL_CLOEXEC);
  if (ready_set < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  ready_set_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, ready_set);
  boost::asio::post(io_, [this] {
    window_start_ns_ = NowNs();
    ArmSweep();
    ArmReadySet();
  });
  thread_ = std::thread([this] { io_.run(); });
}

Worker::~Worker() {
  RunOnThread([this] {
    stopping_ = true;
    running_ = false;
    arrival_timer_.cancel();
    sweep_timer_.cancel();
    ready_set_->cancel();
    for (auto& c : connections_) {
      CloseSocket(*c);
      c->retry_timer.cancel();
    }
  });
  // Let the aborted operations finish on the thread: their memory lives in the connections, which must
  // outlive every pending handler.
  work_.reset();
  thread_.join();
}

int64_t Worker::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Worker::RunOnThread(const std::function<void()>& task) {
  std::promise<void> done;
  boost::asio::post(io_, [&] {
    task();
    done.set_value();
  });
  done.get_future().wait();
}

Worker::Connection& Worker::GetConnection(size_t index) {
  while (connections_.size() <= index) {
    connections_.push_back(std::make_unique<Connection>(io_, connections_.size()));
  }
  if (idle_.capacity() < connections_.size()) idle_.reserve(connections_.size() * 2);
  return *connections_[index];
}

void Worker::StartClosedLoop(size_t connections) {
  RunOnThread([this, connections] {
    mode_ = Mode::kClosed;
    running_ = true;
    closed_target_ = connections;
    const int64_t now = NowNs();
    for (size_t i = 0; i < connections; ++i) {
      Connection& c = GetConnection(i);
      if (!c.busy) Issue(c, now);
    }
  });
}

void Worker::StartOpenLoop(const ArrivalSchedule& schedule) {
  RunOnThread([this, &schedule] {
    mode_ = Mode::kOpen;
    running_ = true;
    schedule_ = schedule;
    idle_.clear();
    for (auto& c : connections_) {
      c->in_idle = !c->busy;
      if (c->in_idle) idle_.push_back(c->index);
    }
    std::reverse(idle_.begin(), idle_.end());  // lowest index on top: reuse the oldest connections first
    schedule_start_ns_ = NowNs();
    next_due_ns_ = schedule_start_ns_ + schedule_.Next();
    ++arrival_generation_;
    ArmArrival();
  });
}

std::future<void> Worker::StopAndDrain() {
  auto drained = std::make_shared<std::promise<void>>();
  std::future<void> future = drained->get_future();
  boost::asio::post(io_, [this, drained] {
    running_ = false;
    ++arrival_generation_;
    arrival_timer_.cancel();
    drained_ = [drained] { drained->set_value(); };
    CheckDrained();
  });
  return future;
}

WindowResult Worker::Harvest() {
  WindowResult result;  // a fresh, zeroed histogram, allocated here rather than on the I/O thread
  RunOnThread([this, &result] {
    const int64_t now = NowNs();
    result.duration_s = static_cast<double>(now - window_start_ns_) * 1e-9;
    result.counters = window_.counters;
    std::swap(result.latency, window_.latency);
    window_.counters = Counters{};
    window_start_ns_ = now;
  });
  return result;
}

void Worker::Issue(Connection& c, int64_t due_ns) {
  c.busy = true;
  c.due_ns = due_ns;
  ++outstanding_;
  ++window_.counters.sent;
  if (c.open) {
    Send(c);
  } else {
    Connect(c);
  }
}

void Worker::Connect(Connection& c) {
  error_code ec;
  if (c.socket.is_open()) c.socket.close(ec);
  c.socket.open(options_.endpoint.protocol(), ec);
  if (ec) {
    Fail(c, Failure::kConnection);
    return;
  }
  const uint32_t generation = c.generation;
  c.socket.async_connect(options_.endpoint, WithMemory(c.connect_memory, [this, &c, generation](const error_code& ec) {
    if (generation != c.generation) return;
    if (ec) {
      Fail(c, Failure::kConnection);
      return;
    }
    error_code ignored;
    c.socket.set_option(tcp::no_delay(true), ignored);  // requests are single writes: no Nagle delays
    c.socket.non_blocking(true, ignored);               // Send() and OnReadable() must never block the thread
    c.open = true;
    ++window_.counters.connects;
    Register(c);
  }));
}

void Worker::Send(Connection& c) {
  c.parser.Reset();
  c.write_done = false;
  c.response_done = false;
  // A request fits the socket's send buffer: one non-blocking write normally sends it all, with no operation
  // to queue and no completion to dispatch. Whatever is left goes out asynchronously.
  const std::string& request = *options_.request;
  error_code ec;
  const size_t written = c.socket.write_some(boost::asio::buffer(request), ec);
  if (ec && ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) {
    Fail(c, Failure::kConnection);
    return;
  }
  window_.counters.bytes_sent += written;
  if (written == request.size()) {
    c.write_done = true;
  } else {
    const uint32_t generation = c.generation;
    boost::asio::async_write(c.socket, boost::asio::buffer(request.data() + written, request.size() - written),
                             WithMemory(c.write_memory, [this, &c, generation](const error_code& ec, size_t bytes) {
                               if (generation != c.generation) return;
                               if (ec) {
                                 Fail(c, Failure::kConnection);
                                 return;
                               }
                               window_.counters.bytes_sent += bytes;
                               c.write_done = true;
                               if (c.response_done) OnResponse(c);
                             }));
  }
  // The response is read when the ready set reports the socket (concurrently with a pending write: a server
  // may answer, and close, before reading the whole body).
}

// Responses are read when the connection's socket turns readable. The sockets are registered once, when they
// connect, in the worker's own edge-triggered epoll set (the "ready set"), and Asio waits on that set's single
// descriptor: one wait per batch of ready connections instead of one per request. (Waiting on each socket with
// Asio would re-arm it with an epoll_ctl per request; reading at once would try a recv that nearly always
// finds nothing yet. Either costs a system call per request more than send + recv.)
void Worker::ArmReadySet() {
  ready_set_->async_wait(boost::asio::posix::descriptor_base::wait_read,
                         WithMemory(memory_->ready_set, [this](const error_code& ec) {
                           if (ec || stopping_) return;
                           DrainReadySet();
                           ArmReadySet();
                         }));
}

void Worker::DrainReadySet() {
  std::array<epoll_event, 256> events;
  for (;;) {
    const int n = epoll_wait(ready_set_->native_handle(), events.data(), static_cast<int>(events.size()), 0);
    for (int i = 0; i < n; ++i) {
      const size_t index = static_cast<size_t>(events[i].data.u64 & 0xffffffffu);
      const uint32_t generation = static_cast<uint32_t>(events[i].data.u64 >> 32);
      if (index >= connections_.size()) continue;
      Connection& c = *connections_[index];
      if (c.generation != generation || !c.open) continue;  // closed since: the event is stale
      if (c.busy && !c.response_done) {
        OnReadable(c);
      } else if (!c.busy) {
        CheckIdle(c);
      }
    }
    if (n < static_cast<int>(events.size())) return;
  }
}

// An event on a connection with no request: the server closed it (idle timeout) or the event is a late
// copy of one already handled. Close it in the first case, so the next request does not fail on it.
void Worker::CheckIdle(Connection& c) {
  error_code ec;
  c.socket.read_some(boost::asio::buffer(c.buffer), ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) return;
  CloseSocket(c);  // end of stream, an error, or bytes nobody asked for
}

void Worker::Register(Connection& c) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  event.data.u64 = static_cast<uint64_t>(c.index) | (static_cast<uint64_t>(c.generation) << 32);
  if (epoll_ctl(ready_set_->native_handle(), EPOLL_CTL_ADD, c.socket.native_handle(), &event) != 0) {
    Fail(c, Failure::kConnection);
    return;
  }
  Send(c);
}

void Worker::OnReadable(Connection& c) {
  for (;;) {
    error_code ec;
    const size_t bytes = c.socket.read_some(boost::asio::buffer(c.buffer), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      return;  // the rest has not arrived yet: its arrival raises the next edge in the ready set
    }
    ResponseParser::Result result = ResponseParser::Result::kError;
    if (ec == boost::asio::error::eof) {
      result = c.parser.FeedEof();
    } else if (!ec) {
      window_.counters.bytes_received += bytes;
      size_t used = 0;
      result = c.parser.Feed(c.buffer.data(), bytes, &used);
    }
    switch (result) {
      case ResponseParser::Result::kError:
        Fail(c, Failure::kConnection);
        return;
      case ResponseParser::Result::kNeedMore:
        continue;  // read on: bytes already queued in the socket raise no further edge
      case ResponseParser::Result::kDone:
        c.response_done = true;
        if (c.write_done) OnResponse(c);
        return;
    }
  }
}

void Worker::OnResponse(Connection& c) {
  const int64_t now = NowNs();
  const int status = c.parser.status();
  Counters& counters = window_.counters;
  if (now - c.due_ns > options_.timeout.count()) {
    // Complete, but later than the timeout (the sweep had not come round yet): a timeout all the same, so
    // that no success is ever slower than the limit. The connection is in order and stays open.
    ++counters.timeouts;
    if (!c.parser.keep_alive()) CloseSocket(c);
    c.busy = false;
    --outstanding_;
    Next(c, false);
    return;
  }
  ++counters.responses;
  if (status >= 0 && status < static_cast<int>(Counters::kStatusCodes)) ++counters.by_status[status];
  if (status >= 200 && status < 300) {
    ++counters.success;
    window_.latency.Record(static_cast<uint64_t>(std::max<int64_t>(now - c.due_ns, 0)));
  }
  if (!c.parser.keep_alive()) CloseSocket(c);
  c.busy = false;
  --outstanding_;
  Next(c, false);
}

void Worker::Fail(Connection& c, Failure failure) {
  if (failure == Failure::kTimeout) {
    ++window_.counters.timeouts;
  } else {
    ++window_.counters.connection_errors;
  }
  CloseSocket(c);
  c.busy = false;
  --outstanding_;
  Next(c, failure == Failure::kConnection);
}

void Worker::CloseSocket(Connection& c) {
  ++c.generation;
  c.open = false;
  error_code ignored;
  c.socket.close(ignored);
}

void Worker::Next(Connection& c, bool after_connection_error) {
  if (stopping_) return;
  if (backlog_size_ > 0 && !after_connection_error) {
    const int64_t due = backlog_[backlog_head_];
    backlog_head_ = (backlog_head_ + 1) % backlog_.size();
    --backlog_size_;
    Issue(c, due);
    return;
  }
  if (mode_ == Mode::kClosed && running_ && c.index < closed_target_) {
    if (!after_connection_error) {
      Issue(c, NowNs());
      return;
    }
    // A refused or broken connection would otherwise be retried in a tight loop.
    c.retry_pending = true;
    c.retry_timer.expires_after(options_.reconnect_pause);
    c.retry_timer.async_wait(WithMemory(c.retry_memory, [this, &c](const error_code& ec) {
      c.retry_pending = false;
      if (ec || stopping_) return;
      if (mode_ == Mode::kClosed && running_ && c.index < closed_target_ && !c.busy) Issue(c, NowNs());
    }));
    CheckDrained();
    return;
  }
  if (!c.in_idle) {
    c.in_idle = true;
    idle_.push_back(c.index);
  }
  CheckDrained();
}

void Worker::Dispatch(int64_t due_ns) {
  ++window_.counters.scheduled;
  while (!idle_.empty()) {
    Connection& c = *connections_[idle_.back()];
    idle_.pop_back();
    c.in_idle = false;
    if (!c.busy && !c.retry_pending) {
      Issue(c, due_ns);
      return;
    }
  }
  if (connections_.size() < options_.max_connections) {
    Issue(GetConnection(connections_.size()), due_ns);
    return;
  }
  if (backlog_size_ == backlog_.size()) {
    ++window_.counters.dropped;
    return;
  }
  backlog_[(backlog_head_ + backlog_size_) % backlog_.size()] = due_ns;
  ++backlog_size_;
}

void Worker::ArmArrival() {
  arrival_timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(next_due_ns_)));
  const uint64_t generation = arrival_generation_;
  arrival_timer_.async_wait(WithMemory(memory_->arrival, [this, generation](const error_code& ec) {
    if (ec || generation != arrival_generation_) return;
    OnArrival();
  }));
}

void Worker::OnArrival() {
  if (!running_ || mode_ != Mode::kOpen) return;
  const int64_t now = NowNs();
  while (next_due_ns_ <= now) {
    Dispatch(next_due_ns_);
    next_due_ns_ = schedule_start_ns_ + schedule_.Next();
  }
  ArmArrival();
}

void Worker::ArmSweep() {
  const auto period = std::clamp<std::chrono::nanoseconds>(options_.timeout / 20, std::chrono::milliseconds(1),
                                                           std::chrono::milliseconds(50));
  sweep_timer_.expires_after(period);
  sweep_timer_.async_wait(WithMemory(memory_->sweep, [this](const error_code& ec) {
    if (ec || stopping_) return;
    Sweep();
    ArmSweep();
  }));
}

void Worker::Sweep() {
  const int64_t now = NowNs();
  const int64_t timeout = options_.timeout.count();
  while (backlog_size_ > 0 && now - backlog_[backlog_head_] > timeout) {
    backlog_head_ = (backlog_head_ + 1) % backlog_.size();
    --backlog_size_;
    ++window_.counters.timeouts;
  }
  for (size_t i = 0; i < connections_.size(); ++i) {
    Connection& c = *connections_[i];
    if (c.busy && now - c.due_ns > timeout) Fail(c, Failure::kTimeout);
  }
  CheckDrained();
}

void Worker::CheckDrained() {
  if (running_ || outstanding_ != 0 || backlog_size_ != 0 || !drained_) return;
  std::function<void()> drained = std::move(drained_);
  drained_ = nullptr;
  drained();
}

}  // namespace peregrine::loadgen
