// Worker: one I/O thread of the load generator and the keep-alive connections it drives.
//
// Every request is the same prepared byte string (request line, headers and body, built once), sent with one
// non-blocking write (the rest, if any, asynchronously); the response is read when the socket turns readable
// and goes through a ResponseParser that keeps the status and skips the body. System calls per request: one
// send and one recv, plus a share of the epoll calls of each batch of ready connections. In steady state no
// memory is allocated per request: each connection owns its read buffer, parser and the handler memory of its
// operations (handler_memory.h); timeouts are found by one periodic sweep, not a timer per request.
//
// Loads (switched between with StopAndDrain):
//  - closed loop: each of N connections keeps one request outstanding, sending the next when the last ends;
//  - open loop: requests fall due on an ArrivalSchedule and go out on an idle connection, a new one (up to
//    max_connections), or wait in a fixed-size backlog; due while the backlog is full -> dropped.
// A request that has no complete response `timeout` after it fell due is a timeout and its connection is
// closed (a later request reconnects). A failed connect is retried after a short pause in closed loop.
//
// Threading: the public methods may be called from any one controlling thread; they run their work on the
// worker's thread and wait for it. Results are read with Harvest(), which also starts a new window.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "loadgen/arrival_schedule.h"
#include "loadgen/result.h"

namespace peregrine::loadgen {

struct WorkerOptions {
  boost::asio::ip::tcp::endpoint endpoint;
  std::shared_ptr<const std::string> request;  // the complete HTTP request, sent as is
  std::chrono::nanoseconds timeout{std::chrono::seconds(10)};
  size_t max_connections = 64;                 // open loop; closed loop opens exactly N
  size_t backlog_capacity = 1 << 16;           // open loop: due requests waiting for a connection
  std::chrono::milliseconds reconnect_pause{10};
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();  // closes the connections and joins the thread
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void StartClosedLoop(size_t connections);
  void StartOpenLoop(const ArrivalSchedule& schedule);
  // Stops issuing new requests; the future is ready when none is outstanding (each is bounded by the
  // timeout); open loop sends what is already due first. The requests it waits for land in the current window.
  std::future<void> StopAndDrain();
  // Counters and latencies since the previous Harvest (or construction); duration_s is the time between.
  WindowResult Harvest();

  // For tests: runs `task` on the worker's thread and waits for it.
  void RunOnThread(const std::function<void()>& task);

 private:
  struct Connection;
  enum class Mode { kIdle, kClosed, kOpen };
  enum class Failure { kTimeout, kConnection };

  int64_t NowNs() const;
  Connection& GetConnection(size_t index);
  void Issue(Connection& c, int64_t due_ns);
  void Connect(Connection& c);
  void Send(Connection& c);
  void Register(Connection& c);
  void ArmReadySet();
  void DrainReadySet();
  void OnReadable(Connection& c);
  void CheckIdle(Connection& c);
  void OnResponse(Connection& c);
  void Fail(Connection& c, Failure failure);
  void CloseSocket(Connection& c);
  void Next(Connection& c, bool after_connection_error);
  void Dispatch(int64_t due_ns);
  void ArmArrival();
  void OnArrival();
  void ArmSweep();
  void Sweep();
  void CheckDrained();

  WorkerOptions options_;
  // One thread does all socket I/O (the controller only posts), so the reactor's per-descriptor locks can go.
  boost::asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<size_t> idle_;          // open loop: connections with no request, as a stack
  std::vector<int64_t> backlog_;      // open loop: ring of due times waiting for a connection
  size_t backlog_head_ = 0, backlog_size_ = 0;
  Mode mode_ = Mode::kIdle;
  bool running_ = false;
  size_t closed_target_ = 0;
  size_t outstanding_ = 0;            // connections with a request assigned
  ArrivalSchedule schedule_{ArrivalKind::kConstant, 1.0, 0};
  int64_t schedule_start_ns_ = 0;
  int64_t next_due_ns_ = 0;
  uint64_t arrival_generation_ = 0;
  boost::asio::steady_timer arrival_timer_;
  boost::asio::steady_timer sweep_timer_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> ready_set_;  // epoll set of the connections (worker.cc)
  std::unique_ptr<struct WorkerMemory> memory_;
  std::function<void()> drained_;
  bool stopping_ = false;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  WindowResult window_;
  int64_t window_start_ns_ = 0;
  std::thread thread_;
};

}  // namespace peregrine::loadgen
