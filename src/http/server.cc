// Server: the listening socket, the I/O threads and the shutdown sequence. Connections live in
// connection.cc.
//
// The acceptor runs on I/O thread 0 and accepts each socket directly onto the next thread's io_context
// (round robin); the connection object is then created on that thread, which owns it from then on.
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/strings/str_cat.h"
#include "http/connection.h"
#include "http/server.h"

namespace peregrine::http {

using internal::Connection;
using internal::IoThread;
using internal::ServerShared;
namespace asio = internal::asio;
namespace beast = internal::beast;
using tcp = internal::tcp;

namespace {
// Accept failures such as EMFILE repeat at once; back off instead of spinning.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};

// Runs `context` until it stops. With busy_poll > 0, after each handler the thread keeps polling for up to
// busy_poll (yielding its core to anyone runnable) before it blocks in the reactor: a response or request
// that arrives meanwhile is handled without the wake-up of a sleeping thread, which on an idle virtualised
// core costs tens of microseconds.
void RunIo(asio::io_context& context, std::chrono::microseconds busy_poll) {
  if (busy_poll.count() <= 0) {
    context.run();
    return;
  }
  auto until = std::chrono::steady_clock::now() + busy_poll;
  for (;;) {
    if (context.poll() > 0) {
      until = std::chrono::steady_clock::now() + busy_poll;
      continue;
    }
    if (context.stopped()) return;
    if (std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
      continue;
    }
    if (context.run_one() == 0) return;  // blocks; 0: stopped
    until = std::chrono::steady_clock::now() + busy_poll;
  }
}

}  // namespace

struct Server::Impl {
  // Declaration order is destruction order in reverse: the acceptor and timer die before the
  // io_contexts they belong to, and `shared` outlives every connection.
  ServerShared shared;
  std::vector<std::unique_ptr<IoThread>> io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> accept_retry;
  size_t next_thread = 0;  // touched only by the acceptor's thread
  uint16_t port = 0;
  std::mutex shutdown_mu;
  bool shut_down = false;

  absl::Status Listen();
  void Accept();
  void OnAccept(IoThread& target, beast::error_code ec, tcp::socket socket);
  bool OnIoThread() const;
};

absl::Status Server::Impl::Listen() {
  const ServerOptions& options = shared.options;
  beast::error_code ec;
  tcp::endpoint endpoint;
  asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options.port);
  } else {
    // Not a literal address: resolve a host name such as "localhost".
    tcp::resolver resolver(io[0]->context);
    auto results = resolver.resolve(options.address, std::to_string(options.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot resolve HTTP address '", options.address, "'"));
    }
    endpoint = results.begin()->endpoint();
  }
  acceptor = std::make_unique<tcp::acceptor>(io[0]->context);
  std::string where = absl::StrCat(options.address, ":", options.port);
  if (acceptor->open(endpoint.protocol(), ec)) {
    return absl::UnavailableError(absl::StrCat("cannot open a socket for ", where, ": ", ec.message()));
  }
  acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (acceptor->bind(endpoint, ec)) {
    return absl::UnavailableError(absl::StrCat("cannot bind ", where, ": ", ec.message()));
  }
  if (acceptor->listen(asio::socket_base::max_listen_connections, ec)) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", where, ": ", ec.message()));
  }
  port = acceptor->local_endpoint(ec).port();
  accept_retry = std::make_unique<asio::steady_timer>(io[0]->context);
  return absl::OkStatus();
}

void Server::Impl::Accept() {
  IoThread& target = *io[next_thread];
  next_thread = (next_thread + 1) % io.size();
  acceptor->async_accept(target.context, [this, &target](beast::error_code ec, tcp::socket socket) {
    OnAccept(target, ec, std::move(socket));
  });
}

void Server::Impl::OnAccept(IoThread& target, beast::error_code ec, tcp::socket socket) {
  if (!acceptor->is_open() || ec == asio::error::operation_aborted) return;  // shutting down
  if (ec) {
    accept_retry->expires_after(kAcceptRetryDelay);
    accept_retry->async_wait([this](beast::error_code ec) {
      if (!ec && acceptor->is_open()) Accept();
    });
    return;
  }
  beast::error_code option_ec;
  socket.set_option(tcp::no_delay(true), option_ec);  // no Nagle: small responses go out at once
  socket.non_blocking(true, option_ec);               // the disconnect check peeks without blocking
  asio::post(target.context, [this, &target, socket = std::move(socket)]() mutable {
    auto connection = std::make_shared<Connection>(std::move(socket), shared, target);
    target.connections.emplace(connection.get(), connection);
    connection->Start();
  });
  Accept();
}

bool Server::Impl::OnIoThread() const {
  for (const auto& thread : io) {
    if (thread->thread.get_id() == std::this_thread::get_id()) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler handler) {
  if (options.threads < 1) return absl::InvalidArgumentError("HTTP server needs at least one I/O thread");
  if (!handler) return absl::InvalidArgumentError("HTTP server needs a request handler");
  auto impl = std::make_unique<Impl>();
  impl->shared.options = options;
  impl->shared.handler = std::move(handler);
  for (int i = 0; i < options.threads; ++i) impl->io.push_back(std::make_unique<IoThread>());
  RETURN_IF_ERROR(impl->Listen());
  impl->Accept();
  for (auto& thread : impl->io) {
    IoThread* t = thread.get();
    const std::chrono::microseconds busy_poll = impl->shared.options.busy_poll;
    t->thread = std::thread([t, busy_poll] {
      // A handler must not throw (Connection catches the request handler's exceptions); should
      // something still escape, report it and keep serving rather than lose the thread.
      for (;;) {
        try {
          RunIo(t->context, busy_poll);
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "peregrine http: exception on an I/O thread: %s\n", e.what());
        } catch (...) {
          std::fprintf(stderr, "peregrine http: unknown exception on an I/O thread\n");
        }
      }
    });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(std::chrono::milliseconds(0)); }

uint16_t Server::port() const { return impl_->port; }

size_t Server::open_connections() const { return impl_->shared.open_connections.load(); }

size_t Server::requests_in_flight() const { return impl_->shared.requests_in_flight.load(); }

void Server::Shutdown(std::chrono::milliseconds grace) {
  Impl& impl = *impl_;
  std::lock_guard<std::mutex> once(impl.shutdown_mu);
  if (impl.shut_down) return;
  if (impl.OnIoThread()) {
    // Joining the I/O threads from one of them would deadlock.
    std::fprintf(stderr, "peregrine http: Server::Shutdown called on an I/O thread\n");
    std::abort();
  }
  impl.shut_down = true;
  auto deadline = std::chrono::steady_clock::now() + grace;
  impl.shared.stopping.store(true);

  // 1. Stop accepting. Sockets accepted before this are posted to their threads ahead of step 2.
  std::promise<void> acceptor_closed;
  asio::post(impl.io[0]->context, [&impl, &acceptor_closed] {
    beast::error_code ec;
    impl.acceptor->close(ec);
    impl.accept_retry->cancel();
    acceptor_closed.set_value();
  });
  acceptor_closed.get_future().wait();

  // 2. Idle connections close now; busy ones after their current response.
  for (auto& thread : impl.io) {
    asio::post(thread->context, [t = thread.get()] {
      std::vector<std::shared_ptr<Connection>> connections;
      for (auto& [ptr, connection] : t->connections) connections.push_back(connection);
      for (auto& connection : connections) connection->OnServerStopping();
    });
  }

  // 3. Wait for the in-flight requests to be answered and their connections closed.
  {
    std::unique_lock<std::mutex> lock(impl.shared.mu);
    impl.shared.drained.wait_until(lock, deadline, [&impl] { return impl.shared.open_connections.load() == 0; });
  }

  // 4. Stop the threads; afterwards responders reach nothing.
  for (auto& thread : impl.io) {
    thread->work.reset();
    thread->context.stop();
  }
  for (auto& thread : impl.io) {
    if (thread->thread.joinable()) thread->thread.join();
  }
  for (auto& thread : impl.io) thread->gate->Close();

  // 5. Close what is left (requests whose handlers never answered in time); no I/O thread runs now.
  for (auto& thread : impl.io) {
    auto connections = std::move(thread->connections);
    thread->connections.clear();
    for (auto& [ptr, connection] : connections) connection->Close();
  }
}

}  // namespace peregrine::http
