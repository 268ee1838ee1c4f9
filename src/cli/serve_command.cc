// `peregrine serve`: the KServe V2 / Triton-compatible HTTP server over a model repository.
//
// Start-up: listen first (so liveness probes answer at once), then load and warm the models on the
// loader thread; /v2/health/ready turns 200 when they are all ready. SIGTERM or SIGINT: stop accepting,
// let in-flight requests finish (up to --exit-timeout-secs), drain the model queues, exit 0.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "http/server.h"
#include "kserve/routes.h"
#include "metrics/metrics.h"
#include "serving/model_manager.h"

#ifndef PEREGRINE_VERSION
#define PEREGRINE_VERSION "0.1.0"
#endif

namespace peregrine::cli {
namespace {

struct ServeFlags {
  std::string repository;
  std::string address = "0.0.0.0";
  int http_port = 8000;
  int http_threads = 2;
  int metrics_port = -1;  // -1: /metrics on the HTTP port
  std::string control_mode = "none";
  std::vector<std::string> load_models;
  int poll_secs = 15;
  int threads_per_instance = 0;
  size_t max_queue_size = 256;
  int inline_max_compute_us = 50;
  int busy_poll_us = 0;
  int default_max_batch_size = 8;
  size_t max_request_bytes = 64u << 20;
  int header_timeout_ms = 10'000;
  int request_timeout_ms = 60'000;
  int exit_timeout_secs = 30;
  std::string server_name = "triton";
  std::string port_file;
  bool access_log = false;
};

template <typename T>
T OrFail(absl::StatusOr<T> value) {
  if (!value.ok()) throw CommandError{std::string(value.status().message())};
  return *std::move(value);
}

void WritePortFile(const std::string& path, uint16_t port) {
  // Written to a temporary name and renamed, so a reader never sees a half-written file.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << port << "\n";
    if (!out) throw CommandError{"cannot write --port-file " + path};
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw CommandError{"cannot write --port-file " + path};
}

// Blocks the stop signals in this thread and every thread started after it, so that sigwait() in the
// main thread is the one place they arrive.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

void RunServe(const ServeFlags& flags) {
  const sigset_t stop_signals = BlockStopSignals();

  metrics::Registry registry;
  serving::ManagerOptions manager_options;
  manager_options.repository = flags.repository;
  manager_options.control_mode = OrFail(serving::ParseControlMode(flags.control_mode));
  manager_options.startup_models = flags.load_models;
  manager_options.poll_interval = std::chrono::seconds(flags.poll_secs);
  manager_options.threads_per_instance = flags.threads_per_instance;
  manager_options.default_max_queue_size = flags.max_queue_size;
  manager_options.inline_max_compute = std::chrono::microseconds(flags.inline_max_compute_us);
  manager_options.busy_poll = std::chrono::microseconds(flags.busy_poll_us);
  manager_options.completion.default_max_batch_size = flags.default_max_batch_size;
  if (const char* provider = std::getenv("PEREGRINE_EXECUTION_PROVIDER")) manager_options.provider_override = provider;
  manager_options.metrics = &registry;
  if (!flags.load_models.empty() && manager_options.control_mode != serving::ControlMode::kExplicit) {
    throw CommandError{"--load-model needs --model-control-mode=explicit"};
  }
  std::unique_ptr<serving::ModelManager> models = OrFail(serving::ModelManager::Create(manager_options));

  kserve::RoutesOptions routes_options;
  routes_options.server_name = flags.server_name;
  routes_options.server_version = PEREGRINE_VERSION;
  routes_options.serve_metrics = flags.metrics_port < 0;
  routes_options.access_log = flags.access_log;
  auto routes = std::make_shared<kserve::KServeRoutes>(models.get(), &registry, routes_options);

  http::ServerOptions http_options;
  http_options.address = flags.address;
  http_options.port = static_cast<uint16_t>(flags.http_port);
  http_options.threads = flags.http_threads;
  http_options.body_limit = flags.max_request_bytes;
  http_options.header_timeout = std::chrono::milliseconds(flags.header_timeout_ms);
  http_options.request_timeout = std::chrono::milliseconds(flags.request_timeout_ms);
  http_options.busy_poll = std::chrono::microseconds(flags.busy_poll_us);
  std::unique_ptr<http::Server> server = OrFail(http::Server::Start(
      http_options, [routes](auto request, auto responder) { routes->Handle(std::move(request), std::move(responder)); }));

  std::unique_ptr<http::Server> metrics_server;
  if (flags.metrics_port >= 0) {
    kserve::RoutesOptions metrics_only;
    metrics_only.serve_metrics = true;
    auto metrics_routes = std::make_shared<kserve::KServeRoutes>(models.get(), &registry, metrics_only);
    http::ServerOptions metrics_options = http_options;
    metrics_options.port = static_cast<uint16_t>(flags.metrics_port);
    metrics_options.threads = 1;
    metrics_server = OrFail(http::Server::Start(metrics_options, [metrics_routes](auto request, auto responder) {
      metrics_routes->Handle(std::move(request), std::move(responder));
    }));
  }

  std::printf("peregrine: serving %s on http://%s:%u", flags.repository.c_str(), flags.address.c_str(), server->port());
  if (metrics_server) std::printf(" (metrics on port %u)", metrics_server->port());
  std::printf("\n");
  std::fflush(stdout);
  if (!flags.port_file.empty()) WritePortFile(flags.port_file, server->port());

  if (absl::Status status = models->StartLoading(); !status.ok()) throw CommandError{std::string(status.message())};

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "peregrine: %s received, finishing in-flight requests\n", strsignal(signal_number));
  server->Shutdown(std::chrono::seconds(flags.exit_timeout_secs));
  if (metrics_server) metrics_server->Shutdown(std::chrono::seconds(1));
  models->Shutdown();
  std::fprintf(stderr, "peregrine: stopped\n");
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model repository over HTTP (KServe V2 / Triton protocol)");
  cmd->add_option("--model-repository", flags->repository, "Model repository folder (Triton layout)")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->envname("PEREGRINE_MODEL_REPOSITORY");
  cmd->add_option("--http-address", flags->address, "Address to listen on")
      ->capture_default_str()
      ->envname("PEREGRINE_HTTP_ADDRESS");
  cmd->add_option("--http-port", flags->http_port, "HTTP port (0: any free port; see --port-file)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535))
      ->envname("PEREGRINE_HTTP_PORT");
  cmd->add_option("--http-threads", flags->http_threads, "HTTP I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256))
      ->envname("PEREGRINE_HTTP_THREADS");
  cmd->add_option("--metrics-port", flags->metrics_port, "Serve /metrics on this port instead of the HTTP port")
      ->check(CLI::Range(0, 65535))
      ->envname("PEREGRINE_METRICS_PORT");
  cmd->add_option("--model-control-mode", flags->control_mode,
                  "none: load everything at start; explicit: load/unload on request; poll: follow the repository")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "explicit", "poll"}))
      ->envname("PEREGRINE_MODEL_CONTROL_MODE");
  cmd->add_option("--load-model", flags->load_models, "Model to load at start (explicit mode; repeatable)")
      ->envname("PEREGRINE_LOAD_MODEL");
  cmd->add_option("--repository-poll-secs", flags->poll_secs, "Poll interval of --model-control-mode=poll")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400))
      ->envname("PEREGRINE_REPOSITORY_POLL_SECS");
  cmd->add_option("--threads-per-instance", flags->threads_per_instance,
                  "Intra-op threads of each model instance (0: cores / instances)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024))
      ->envname("PEREGRINE_THREADS_PER_INSTANCE");
  cmd->add_option("--max-queue-size", flags->max_queue_size,
                  "Requests that may wait per model version when its config leaves max_queue_size at 0")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->envname("PEREGRINE_MAX_QUEUE_SIZE");
  cmd->add_option("--inline-max-compute-us", flags->inline_max_compute_us,
                  "Run a request on the I/O thread that received it, saving two thread hand-offs, when an "
                  "instance is idle and the model (without dynamic batching) computes in at most this many "
                  "microseconds on average (0: always hand off to the instance's worker)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1'000'000))
      ->envname("PEREGRINE_INLINE_MAX_COMPUTE_US");
  cmd->add_option("--busy-poll-us", flags->busy_poll_us,
                  "After an event, HTTP I/O threads and generation step threads keep polling for new work "
                  "this many microseconds before they sleep: no wake-up delay for request-response traffic, "
                  "at the cost of up to a core per polling thread while it polls (0: sleep at once)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100'000))
      ->envname("PEREGRINE_BUSY_POLL_US");
  cmd->add_option("--default-max-batch-size", flags->default_max_batch_size,
                  "max_batch_size given to batchable models that have no config.pbtxt")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 16))
      ->envname("PEREGRINE_DEFAULT_MAX_BATCH_SIZE");
  cmd->add_option("--max-request-size", flags->max_request_bytes, "Largest request body in bytes (larger: 413)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 34))
      ->envname("PEREGRINE_MAX_REQUEST_SIZE");
  cmd->add_option("--header-timeout-ms", flags->header_timeout_ms,
                  "Close connections that do not send a complete request header in time")
      ->capture_default_str()
      ->check(CLI::Range(10, 3'600'000))
      ->envname("PEREGRINE_HEADER_TIMEOUT_MS");
  cmd->add_option("--request-timeout-ms", flags->request_timeout_ms, "Close connections whose request body is this slow")
      ->capture_default_str()
      ->check(CLI::Range(10, 3'600'000))
      ->envname("PEREGRINE_REQUEST_TIMEOUT_MS");
  cmd->add_option("--exit-timeout-secs", flags->exit_timeout_secs,
                  "On SIGTERM, how long in-flight requests may take to finish")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600))
      ->envname("PEREGRINE_EXIT_TIMEOUT_SECS");
  cmd->add_option("--server-name", flags->server_name, "Name reported by GET /v2 (Triton's clients expect triton)")
      ->capture_default_str()
      ->envname("PEREGRINE_SERVER_NAME");
  cmd->add_option("--port-file", flags->port_file, "Write the HTTP port to this file once listening")
      ->envname("PEREGRINE_PORT_FILE");
  cmd->add_flag("--access-log", flags->access_log, "Log one JSON line per request on stderr")
      ->envname("PEREGRINE_ACCESS_LOG");
  cmd->callback([flags] { RunServe(*flags); });
}

}  // namespace peregrine::cli
