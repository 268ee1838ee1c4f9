// A minimal server on the HTTP transport for black-box checks with real clients (ab, curl):
// GET or POST /echo answers "<METHOD>:<body>". Prints the chosen port on stdout, serves until
// SIGTERM or SIGINT, then shuts down gracefully and exits 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "http/server.h"

int main(int argc, char** argv) {
  namespace bhttp = boost::beast::http;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the I/O threads start, so they inherit it

  peregrine::http::ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.threads = argc > 1 ? std::atoi(argv[1]) : 2;
  auto server = peregrine::http::Server::Start(
      options, [](std::shared_ptr<const peregrine::http::Request> request,
                  std::shared_ptr<peregrine::http::Responder> responder) {
        peregrine::http::Response response{bhttp::status::ok, 11};
        response.set(bhttp::field::content_type, "text/plain");
        response.body() = std::string(request->method_string()) + ":" + request->body();
        responder->Send(std::move(response));
      });
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("%u\n", static_cast<unsigned>((*server)->port()));
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  (*server)->Shutdown(std::chrono::seconds(5));
  return 0;
}
