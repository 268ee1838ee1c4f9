// HTTP transport: protocol behaviour, limits, timeouts, cancellation, streaming and shutdown, checked
// with a raw-socket client (test_client.h) against a real server on 127.0.0.1, port 0.
#include "http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"

namespace peregrine::http {
namespace {

namespace bhttp = boost::beast::http;
using testing::Get;
using testing::ParsedResponse;
using testing::Post;
using testing::TestClient;
using namespace std::chrono_literals;

// Polls `done` until it holds or `timeout` passes (conditions the server changes on its own threads).
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

Response TextResponse(std::string body, bhttp::status status = bhttp::status::ok) {
  Response response{status, 11};
  response.set(bhttp::field::content_type, "text/plain");
  response.body() = std::move(body);
  return response;
}

struct Held {
  std::shared_ptr<const Request> request;
  std::shared_ptr<Responder> responder;
};

class HttpServerTest : public ::testing::Test {
 protected:
  static ServerOptions Options() {
    ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    options.body_limit = 1024;
    return options;
  }

  void StartServer(ServerOptions options = Options()) {
    auto server = Server::Start(options, [this](std::shared_ptr<const Request> request,
                                                std::shared_ptr<Responder> responder) {
      Handle(std::move(request), std::move(responder));
    });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    JoinWorkers();
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_.clear();
    }
    if (server_) server_->Shutdown(2s);
    server_.reset();
  }

  // Routes: /echo answers "<METHOD>:<body>"; /hold parks the request for the test; /stream?N streams
  // N chunks from a worker thread; /stream-hold starts a stream and parks it; /drop and /drop-later
  // never answer; /throw throws; /stream-drop starts a stream and abandons it.
  void Handle(std::shared_ptr<const Request> request, std::shared_ptr<Responder> responder) {
    handled_.fetch_add(1);
    std::string target(request->target());
    if (target == "/echo") {
      responder->Send(TextResponse(std::string(request->method_string()) + ":" + request->body()));
    } else if (target == "/hold") {
      std::lock_guard<std::mutex> lock(mu_);
      held_.push_back({std::move(request), std::move(responder)});
      held_cv_.notify_all();
    } else if (target.rfind("/stream?", 0) == 0) {
      int n = std::stoi(target.substr(8));
      AddWorker([responder, n] {
        Response header{bhttp::status::ok, 11};
        header.set(bhttp::field::content_type, "text/event-stream");
        responder->BeginStream(std::move(header));
        for (int i = 0; i < n; ++i) responder->WriteChunk("data: " + std::to_string(i) + "\n\n");
        responder->EndStream();
      });
    } else if (target == "/stream-hold") {
      Response header{bhttp::status::ok, 11};
      responder->BeginStream(std::move(header));
      std::lock_guard<std::mutex> lock(mu_);
      held_.push_back({std::move(request), std::move(responder)});
      held_cv_.notify_all();
    } else if (target == "/drop") {
      // The responder dies when this returns.
    } else if (target == "/drop-later") {
      AddWorker([responder = std::move(responder)]() mutable { responder.reset(); });
    } else if (target == "/throw") {
      throw std::runtime_error("handler exploded");
    } else if (target == "/stream-drop") {
      AddWorker([responder = std::move(responder)]() mutable {
        responder->BeginStream(Response{bhttp::status::ok, 11});
        responder->WriteChunk("partial");
        responder.reset();
      });
    } else {
      responder->Send(TextResponse("no route", bhttp::status::not_found));
    }
  }

  void AddWorker(std::function<void()> work) {
    std::lock_guard<std::mutex> lock(mu_);
    workers_.emplace_back(std::move(work));
  }

  void JoinWorkers() {
    std::vector<std::thread> workers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      workers.swap(workers_);
    }
    for (auto& worker : workers) worker.join();
  }

  // The next request parked by /hold.
  Held WaitForHeld() {
    std::unique_lock<std::mutex> lock(mu_);
    bool got = held_cv_.wait_for(lock, 10s, [this] { return !held_.empty(); });
    if (!got) {
      ADD_FAILURE() << "no request reached /hold";
      return {};
    }
    Held held = std::move(held_.front());
    held_.pop_front();
    return held;
  }

  std::unique_ptr<Server> server_;
  std::atomic<int> handled_{0};
  std::mutex mu_;
  std::condition_variable held_cv_;
  std::deque<Held> held_;
  std::vector<std::thread> workers_;
};

void ExpectJsonError(const ParsedResponse& response, int status) {
  EXPECT_EQ(response.status, status);
  EXPECT_EQ(response.header("content-type"), "application/json");
  EXPECT_EQ(response.body.rfind("{\"error\": \"", 0), 0u) << response.body;
  EXPECT_EQ(response.body.back(), '}') << response.body;
}

TEST_F(HttpServerTest, GetAndPostRoundTrip) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Get("/echo")));
  auto get = client.ReadResponse();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->version, "HTTP/1.1");
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "GET:");
  EXPECT_EQ(get->header("content-length"), "4");
  EXPECT_EQ(get->header("server"), "peregrine");
  EXPECT_EQ(get->header("date").size(), 29u) << get->header("date");  // "Sun, 06 Nov 1994 08:49:37 GMT"
  EXPECT_EQ(get->header("content-type"), "text/plain");

  ASSERT_TRUE(client.Send(Post("/echo", "hello, server")));
  auto post = client.ReadResponse();
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 200);
  EXPECT_EQ(post->body, "POST:hello, server");
}

TEST_F(HttpServerTest, Http11KeepsTheConnectionAlive) {
  StartServer();
  TestClient client(server_->port());
  for (int i = 0; i < 5; ++i) {
    std::string body = "request " + std::to_string(i);
    ASSERT_TRUE(client.Send(Post("/echo", body)));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->body, "POST:" + body);
    EXPECT_EQ(response->header("connection"), "");
  }
  EXPECT_EQ(server_->open_connections(), 1u);
  // The client may read the response before the server has seen its write complete.
  EXPECT_TRUE(WaitFor([&] { return server_->requests_in_flight() == 0; }));
}

TEST_F(HttpServerTest, Http10ClosesWithoutKeepAlive) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Get("/echo", "", "HTTP/1.0")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->version, "HTTP/1.0");
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET:");
  EXPECT_EQ(response->header("connection").find("keep-alive"), std::string::npos);
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(HttpServerTest, Http10KeepAliveIsEchoed) {
  StartServer();
  TestClient client(server_->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Send(Post("/echo", "x" + std::to_string(i), "Connection: Keep-Alive\r\n", "HTTP/1.0")));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->version, "HTTP/1.0");
    EXPECT_EQ(response->header("connection"), "keep-alive");
    EXPECT_EQ(response->header("content-length"), std::to_string(response->body.size()));
    EXPECT_EQ(response->body, "POST:x" + std::to_string(i));
  }
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Get("/echo", "Connection: close\r\n")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Post("/echo", "one") + Post("/echo", "two") + Get("/echo") + Post("/echo", "four")));
  for (const char* expected : {"POST:one", "POST:two", "GET:", "POST:four"}) {
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << expected;
    EXPECT_EQ(response->body, expected);
  }
}

TEST_F(HttpServerTest, PipelinedRequestWaitsForTheSlowOneBeforeIt) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Get("/hold") + Post("/echo", "second")));
  Held held = WaitForHeld();
  ASSERT_TRUE(held.responder);
  std::thread answer([&] { held.responder->Send(TextResponse("first")); });
  answer.join();
  auto first = client.ReadResponse();
  auto second = client.ReadResponse();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->body, "first");
  EXPECT_EQ(second->body, "POST:second");
  // The pipelined bytes made the socket readable while /hold was handled: not a disconnect.
  EXPECT_FALSE(held.responder->cancellation()->cancelled());
}

TEST_F(HttpServerTest, BodyOverLimitGets413BeforeTheBodyIsSent) {
  StartServer();
  TestClient client(server_->port());
  // Only the header: the server must answer without waiting for the 100000 bytes.
  ASSERT_TRUE(client.Send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  ExpectJsonError(*response, 413);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTest, BodyOverLimitWithExpectContinueGetsNo100) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(
      "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  ExpectJsonError(*response, 413);
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitGets413) {
  StartServer();
  TestClient client(server_->port());
  std::string chunk(2000, 'a');
  ASSERT_TRUE(client.Send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + chunk +
                          "\r\n0\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  ExpectJsonError(*response, 413);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTest, ChunkedBodyWithinLimitIsDecoded) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST:abcde");
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  StartServer();
  for (std::string garbage : {std::string("THIS IS NOT HTTP\r\n\r\n"), std::string("GET / HTTP/1.1\r\nNo colon\r\n\r\n"),
                              std::string("GET / HTTP/1.1\r\nContent-Length: twelve\r\n\r\n")}) {
    TestClient client(server_->port());
    ASSERT_TRUE(client.Send(garbage));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << garbage;
    ExpectJsonError(*response, 400);
    EXPECT_EQ(response->header("connection"), "close");
    EXPECT_TRUE(client.WaitForClose()) << garbage;
  }
  EXPECT_EQ(handled_.load(), 0);
  // The server still serves well-formed clients.
  TestClient good(server_->port());
  ASSERT_TRUE(good.Send(Get("/echo")));
  auto response = good.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, OversizedHeaderGets431) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send("GET /echo HTTP/1.1\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  ExpectJsonError(*response, 431);
}

TEST_F(HttpServerTest, SlowlorisConnectionsAreClosedAfterTheHeaderTimeout) {
  ServerOptions options = Options();
  options.header_timeout = 300ms;
  StartServer(options);
  // Receive timeouts well under the default header timeout (10 s), so only the configured one passes.
  TestClient silent(server_->port(), 3s);
  TestClient half(server_->port(), 3s);
  ASSERT_TRUE(half.Send("GET /echo HTTP/1.1\r\nHost: te"));
  // Both are closed without a response.
  EXPECT_TRUE(silent.WaitForClose());
  EXPECT_TRUE(half.WaitForClose());
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  ServerOptions options = Options();
  options.idle_timeout = 300ms;
  StartServer(options);
  TestClient client(server_->port(), 3s);
  ASSERT_TRUE(client.Send(Get("/echo")));
  ASSERT_TRUE(client.ReadResponse());
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(HttpServerTest, ClientDisconnectWhileHandledSetsTheCancellationFlag) {
  StartServer();
  auto client = std::make_unique<TestClient>(server_->port());
  ASSERT_TRUE(client->Send(Post("/hold", "work")));
  Held held = WaitForHeld();
  ASSERT_TRUE(held.responder);
  EXPECT_EQ(held.request->body(), "work");
  std::shared_ptr<CancellationFlag> flag = held.responder->cancellation();
  EXPECT_FALSE(flag->cancelled());
  EXPECT_EQ(server_->requests_in_flight(), 1u);
  client.reset();  // the client goes away
  EXPECT_TRUE(WaitFor([&] { return flag->cancelled(); }));
  EXPECT_TRUE(WaitFor([&] { return server_->requests_in_flight() == 0 && server_->open_connections() == 0; }));
  // Answering later, from another thread, is a harmless no-op.
  std::thread late([&] { held.responder->Send(TextResponse("too late")); });
  late.join();
  held = {};
  TestClient other(server_->port());
  ASSERT_TRUE(other.Send(Get("/echo")));
  auto response = other.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET:");
}

TEST_F(HttpServerTest, ResponseSentFromAnotherThreadAndOnlyOnce) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Get("/hold")));
  Held held = WaitForHeld();
  ASSERT_TRUE(held.responder);
  std::thread worker([&] {
    held.responder->Send(TextResponse("from a worker"));
    held.responder->Send(TextResponse("ignored"));  // exactly once
  });
  worker.join();
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "from a worker");
  // The connection goes on with the next request, untouched by the second Send.
  ASSERT_TRUE(client.Send(Post("/echo", "next")));
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST:next");
  held.responder->Send(TextResponse("stale"));  // a stale responder cannot answer a later request
  ASSERT_TRUE(client.Send(Post("/echo", "after")));
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST:after");
}

TEST_F(HttpServerTest, StreamedChunksArriveInOrderAsChunkedEncoding) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Get("/stream?50")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->chunked);
  EXPECT_EQ(response->header("content-type"), "text/event-stream");
  EXPECT_EQ(response->header("content-length"), "");
  ASSERT_EQ(response->chunks.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(response->chunks[i], "data: " + std::to_string(i) + "\n\n");
  // Keep-alive survives a stream.
  ASSERT_TRUE(client.Send(Get("/echo")));
  auto next = client.ReadResponse();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, "GET:");
}

TEST_F(HttpServerTest, StreamToHttp10ClientEndsWithTheConnection) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Get("/stream?3", "Connection: keep-alive\r\n", "HTTP/1.0")));
  auto response = client.ReadResponse();  // no length, no chunks: the body runs to EOF
  ASSERT_TRUE(response);
  EXPECT_FALSE(response->chunked);
  EXPECT_EQ(response->body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
}

TEST_F(HttpServerTest, AbandonedStreamIsCutWithoutTheFinalChunk) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Get("/stream-drop")));
  auto head = client.ReadUntil("\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << *head;
  EXPECT_NE(head->find("Transfer-Encoding: chunked\r\n"), std::string::npos) << *head;
  // The chunk written before the responder was dropped arrives, then the connection ends without the
  // terminating zero-size chunk, so the client can tell the stream is incomplete.
  EXPECT_FALSE(client.Fill(1u << 20));
  EXPECT_EQ(client.buffered(), "7\r\npartial\r\n");
}

TEST_F(HttpServerTest, ClientDisconnectDuringAStreamSetsTheCancellationFlag) {
  StartServer();
  auto client = std::make_unique<TestClient>(server_->port());
  ASSERT_TRUE(client->Send(Get("/stream-hold")));
  Held held = WaitForHeld();
  ASSERT_TRUE(held.responder);
  held.responder->WriteChunk("first");
  ASSERT_TRUE(client->ReadUntil("first\r\n"));
  EXPECT_FALSE(held.responder->cancellation()->cancelled());
  client.reset();
  EXPECT_TRUE(WaitFor([&] { return held.responder->cancellation()->cancelled(); }));
  held.responder->WriteChunk("nobody listens");  // no-ops now
  held.responder->EndStream();
  EXPECT_TRUE(WaitFor([&] { return server_->requests_in_flight() == 0 && server_->open_connections() == 0; }));
}

TEST_F(HttpServerTest, HeadResponseHasLengthButNoBody) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send("HEAD /echo HTTP/1.1\r\nHost: test\r\n\r\n"));
  auto head = client.ReadUntil("\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_NE(head->find("Content-Length: 5\r\n"), std::string::npos) << *head;  // "HEAD:"
  // Were the body sent anyway, it would be taken for the start of the next response.
  ASSERT_TRUE(client.Send(Get("/echo")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET:");
}

TEST_F(HttpServerTest, ExpectContinueGets100BeforeTheBody) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = client.ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("hello"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST:hello");
}

TEST_F(HttpServerTest, DroppedResponderGets500) {
  StartServer();
  TestClient client(server_->port());
  for (const char* target : {"/drop", "/drop-later", "/throw"}) {
    ASSERT_TRUE(client.Send(Get(target)));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << target;
    ExpectJsonError(*response, 500);
  }
  // Still usable afterwards.
  ASSERT_TRUE(client.Send(Get("/echo")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET:");
  EXPECT_TRUE(WaitFor([&] { return server_->requests_in_flight() == 0; }));
}

TEST_F(HttpServerTest, ShutdownFinishesInFlightRequestsAndRefusesNewConnections) {
  StartServer();
  uint16_t port = server_->port();
  TestClient busy(port);
  TestClient idle(port);
  ASSERT_TRUE(idle.Send(Get("/echo")));
  ASSERT_TRUE(idle.ReadResponse());
  ASSERT_TRUE(busy.Send(Post("/hold", "in flight")));
  Held held = WaitForHeld();
  ASSERT_TRUE(held.responder);

  auto shutdown = std::async(std::launch::async, [&] { server_->Shutdown(10s); });
  EXPECT_TRUE(idle.WaitForClose());  // idle keep-alive connections go at once
  EXPECT_TRUE(WaitFor([&] {
    TestClient probe(port);
    return !probe.connected();
  }));
  EXPECT_EQ(shutdown.wait_for(0s), std::future_status::timeout);  // still waiting for the held request

  std::thread answer([&] { held.responder->Send(TextResponse(std::string(100000, 'r'))); });
  answer.join();
  auto response = busy.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body.size(), 100000u);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_EQ(shutdown.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(server_->open_connections(), 0u);
  server_->Shutdown(1s);  // idempotent
}

// With busy polling the I/O threads poll instead of sleeping for a while after each event: requests,
// responses posted from other threads (during and after the polling window) and shutdown all still work.
TEST_F(HttpServerTest, BusyPollingServesAndShutsDown) {
  ServerOptions options = Options();
  options.busy_poll = 5ms;
  StartServer(options);
  TestClient client(server_->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Send(Post("/echo", "poll" + std::to_string(i))));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body, "POST:poll" + std::to_string(i));
  }
  for (auto delay : {0ms, 20ms}) {  // answered while the I/O thread polls, and after it went to sleep
    ASSERT_TRUE(client.Send(Get("/hold")));
    Held held = WaitForHeld();
    ASSERT_TRUE(held.responder);
    std::thread worker([&] {
      std::this_thread::sleep_for(delay);
      held.responder->Send(TextResponse("late"));
    });
    worker.join();
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body, "late");
  }
  const auto start = std::chrono::steady_clock::now();
  server_->Shutdown(2s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(HttpServerTest, ShutdownGraceExpiresForAnUnansweredRequest) {
  StartServer();
  TestClient client(server_->port());
  ASSERT_TRUE(client.Send(Get("/hold")));
  Held held = WaitForHeld();
  ASSERT_TRUE(held.responder);
  server_->Shutdown(100ms);  // returns although the handler never answers
  EXPECT_TRUE(held.responder->cancellation()->cancelled());
  EXPECT_TRUE(client.WaitForClose());
  held.responder->Send(TextResponse("after shutdown"));  // no-op, the server is gone
  server_.reset();
  held = {};  // the responder outlives the server
}

TEST_F(HttpServerTest, BindFailureIsUnavailable) {
  StartServer();
  ServerOptions options = Options();
  options.port = server_->port();
  auto second = Server::Start(options, [](auto, auto) {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  options.threads = 0;
  EXPECT_EQ(Server::Start(options, [](auto, auto) {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, SixteenClientsWithKeepAliveAreAllAnswered) {
  ServerOptions options = Options();
  options.threads = 4;
  StartServer(options);
  constexpr int kClients = 16;
  constexpr int kRequests = 200;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      TestClient client(server_->port());
      for (int i = 0; i < kRequests; ++i) {
        std::string body = std::to_string(c) + "/" + std::to_string(i);
        // Every fourth request goes through a worker thread to mix both answer paths.
        if (!client.Send(Post(i % 4 == 0 ? "/hold" : "/echo", body))) return;
        if (i % 4 == 0) {
          Held held = WaitForHeld();
          if (!held.responder) return;
          std::string answer = "POST:" + held.request->body();
          std::thread([r = held.responder, answer] { r->Send(TextResponse(answer)); }).join();
        }
        auto response = client.ReadResponse();
        if (!response || response->body != "POST:" + body) return;
        good.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good.load(), kClients * kRequests);
}

}  // namespace
}  // namespace peregrine::http
