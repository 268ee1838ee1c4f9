// Worker, the asynchronous client, against the HTTP transport running in the same process: every request
// is counted once and by kind, keep-alive holds, timeouts and refused connections are errors, and steady
// state allocates nothing on the client's thread.
#include "loadgen/worker.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/server.h"
#include "loadgen/sync_http.h"

// Counts allocations per thread, so the test can ask how many happened on the worker's I/O thread.
namespace {
thread_local uint64_t t_allocations = 0;
}
void* operator new(size_t size) {
  ++t_allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace peregrine::loadgen {
namespace {

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

// Answers /ok with 200, /every5 with 503 for every fifth request, /close with 200 and Connection: close,
// and never answers /hang (the responders are held until the server stops).
class TestServer {
 public:
  TestServer() {
    http::ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.threads = 1;
    auto server = http::Server::Start(options, [this](std::shared_ptr<const http::Request> request,
                                                      std::shared_ptr<http::Responder> responder) {
      Handle(*request, std::move(responder));
    });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
  }
  ~TestServer() {
    {
      std::lock_guard lock(mu_);
      hanging_.clear();
    }
    server_->Shutdown(1s);
  }

  uint16_t port() const { return server_->port(); }
  uint64_t handled() const { return handled_.load(); }

 private:
  void Handle(const http::Request& request, std::shared_ptr<http::Responder> responder) {
    const uint64_t n = ++handled_;
    const std::string target(request.target());
    if (target == "/hang") {
      std::lock_guard lock(mu_);
      hanging_.push_back(std::move(responder));
      return;
    }
    const bool reject = target == "/every5" && n % 5 == 0;
    http::Response response{reject ? bhttp::status::service_unavailable : bhttp::status::ok, 11};
    response.body() = reject ? "{\"error\":\"full\"}" : "{\"outputs\":[]}";
    if (target == "/close") response.set(bhttp::field::connection, "close");
    responder->Send(std::move(response));
  }

  std::unique_ptr<http::Server> server_;
  std::atomic<uint64_t> handled_{0};
  std::mutex mu_;
  std::vector<std::shared_ptr<http::Responder>> hanging_;
};

std::shared_ptr<const std::string> Wire(const std::string& target) {
  const std::string body = "{\"inputs\":[]}";
  return std::make_shared<const std::string>("POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                                             std::to_string(body.size()) + "\r\n\r\n" + body);
}

WorkerOptions Options(uint16_t port, const std::string& target) {
  WorkerOptions o;
  o.endpoint = boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port);
  o.request = Wire(target);
  o.timeout = 5s;
  return o;
}

// Runs until at least `responses` responses arrived (bounded by 20 s), then drains and harvests.
WindowResult RunClosedLoop(Worker& worker, size_t connections, uint64_t responses) {
  worker.StartClosedLoop(connections);
  WindowResult total;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (total.counters.responses + total.counters.timeouts < responses && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    WindowResult w = worker.Harvest();
    total.counters.Add(w.counters);
    total.latency.Merge(w.latency);
  }
  worker.StopAndDrain().wait();
  WindowResult w = worker.Harvest();
  total.counters.Add(w.counters);
  total.latency.Merge(w.latency);
  return total;
}

TEST(WorkerTest, ClosedLoopCountsEveryRequestOnceByStatus) {
  TestServer server;
  Worker worker(Options(server.port(), "/every5"));
  const WindowResult r = RunClosedLoop(worker, 4, 500);
  const Counters& c = r.counters;
  EXPECT_GE(c.responses, 500u);
  EXPECT_EQ(c.sent, c.responses);  // drained: nothing left in flight
  EXPECT_EQ(c.sent, server.handled());
  EXPECT_EQ(c.by_status[200] + c.by_status[503], c.responses);
  EXPECT_EQ(c.by_status[503], server.handled() / 5);
  EXPECT_EQ(c.success, c.by_status[200]);
  EXPECT_EQ(r.latency.count(), c.success);  // latencies of successes only
  EXPECT_EQ(c.timeouts + c.connection_errors + c.dropped, 0u);
  EXPECT_EQ(c.connects, 4u);  // keep-alive: one connection each, the 503s included
  EXPECT_GT(c.bytes_received, c.responses * 20);
}

TEST(WorkerTest, ServerClosingEachConnectionMeansReconnecting) {
  TestServer server;
  Worker worker(Options(server.port(), "/close"));
  const WindowResult r = RunClosedLoop(worker, 2, 100);
  EXPECT_EQ(r.counters.success, r.counters.sent);
  EXPECT_EQ(r.counters.connects, r.counters.sent);
  EXPECT_EQ(r.counters.connection_errors, 0u);
}

TEST(WorkerTest, UnansweredRequestsTimeOut) {
  TestServer server;
  WorkerOptions options = Options(server.port(), "/hang");
  options.timeout = 100ms;
  Worker worker(options);
  const WindowResult r = RunClosedLoop(worker, 3, 6);
  EXPECT_GE(r.counters.timeouts, 6u);
  EXPECT_EQ(r.counters.responses, 0u);
  EXPECT_EQ(r.counters.sent, r.counters.timeouts);
  EXPECT_EQ(r.counters.connects, r.counters.sent);  // a timed-out connection is closed, the next one reconnects
}

TEST(WorkerTest, RefusedConnectionsAreConnectionErrors) {
  uint16_t port = 0;
  {
    TestServer server;  // a port that was just free, and is closed again
    port = server.port();
  }
  Worker worker(Options(port, "/ok"));
  worker.StartClosedLoop(2);
  std::this_thread::sleep_for(100ms);
  worker.StopAndDrain().wait();
  const WindowResult r = worker.Harvest();
  EXPECT_GT(r.counters.connection_errors, 0u);
  EXPECT_EQ(r.counters.responses, 0u);
  EXPECT_EQ(r.counters.sent, r.counters.connection_errors);
}

TEST(WorkerTest, OpenLoopSendsWhatFallsDue) {
  TestServer server;
  WorkerOptions options = Options(server.port(), "/ok");
  options.max_connections = 8;
  Worker worker(options);
  worker.StartOpenLoop(ArrivalSchedule(ArrivalKind::kPoisson, 400.0, 3));
  std::this_thread::sleep_for(300ms);
  worker.StopAndDrain().wait();
  const Counters c = worker.Harvest().counters;
  EXPECT_GT(c.scheduled, 0u);
  EXPECT_EQ(c.scheduled, c.sent + c.dropped);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.success, c.sent);
  EXPECT_EQ(server.handled(), c.sent);
  EXPECT_LE(c.connects, 8u);
}

TEST(WorkerTest, OpenLoopBacklogWaitsForAConnectionThenTimesOut) {
  TestServer server;
  WorkerOptions options = Options(server.port(), "/hang");
  options.max_connections = 2;
  options.backlog_capacity = 4;
  options.timeout = 150ms;
  Worker worker(options);
  worker.StartOpenLoop(ArrivalSchedule(ArrivalKind::kConstant, 200.0, 1));
  std::this_thread::sleep_for(100ms);
  worker.StopAndDrain().wait();
  const Counters c = worker.Harvest().counters;
  // Two connections hang; four arrivals wait in the backlog; the rest are dropped; everything ends as a timeout.
  EXPECT_GT(c.dropped, 0u);
  EXPECT_EQ(c.scheduled, c.timeouts + c.dropped + c.connection_errors);
  EXPECT_EQ(c.responses, 0u);
}

TEST(WorkerTest, SteadyStateAllocatesNothingOnTheClientThread) {
  TestServer server;
  Worker worker(Options(server.port(), "/every5"));
  worker.StartClosedLoop(8);
  std::this_thread::sleep_for(300ms);  // connections open, buffers and timer queues at their size
  uint64_t before = 0, after = 0;
  worker.RunOnThread([&] { before = t_allocations; });
  const uint64_t handled_before = server.handled();
  std::this_thread::sleep_for(500ms);
  worker.RunOnThread([&] { after = t_allocations; });
  const uint64_t requests = server.handled() - handled_before;
  worker.StopAndDrain().wait();
  uint64_t probe = 0;  // the counter does see allocations made on that thread
  worker.RunOnThread([&] {
    const uint64_t start = t_allocations;
    delete new int(1);
    probe = t_allocations - start;
  });
  EXPECT_EQ(probe, 1u);
  EXPECT_GT(requests, 200u);
  EXPECT_EQ(after - before, 0u) << "allocations on the I/O thread during " << requests << " requests";
}

}  // namespace
}  // namespace peregrine::loadgen
