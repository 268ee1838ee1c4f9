// KServeRoutes: the KServe V2 REST API and the Triton extensions its clients use, on top of the HTTP
// transport and the model manager.
//
//   GET  /v2/health/live | /v2/health/ready | /v2
//   GET  /v2/models/{m}[/versions/{v}]            metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready      200 when ready, 400 otherwise
//   GET  /v2/models/{m}[/versions/{v}]/config     model configuration extension
//   GET  /v2/models[/{m}[/versions/{v}]]/stats    statistics extension
//   POST /v2/models/{m}[/versions/{v}]/infer      JSON or binary tensor data
//   POST /v2/models/{m}[/versions/{v}]/generate[_stream]   generate extension (generate_routes.h)
//   POST /v2/repository/index                     model repository extension
//   POST /v2/repository/models/{m}/load|unload
//   GET  /v2/systemsharedmemory[/region/{r}]/status    system shared memory extension (shared_memory_http.h);
//   POST /v2/systemsharedmemory/region/{r}/register    infer resolves tensors' shared_memory_region parameters
//   POST /v2/systemsharedmemory[/region/{r}]/unregister
//        /v2/cudasharedmemory/...                      not supported (answered as Triton without GPUs does)
//   GET  /metrics                                 Prometheus text (when serve_metrics)
//
// Every error is answered with {"error": "..."} and the status of HttpStatusFor(). The handler never
// blocks: inference results and repository loads answer from other threads through the Responder.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "http/server.h"
#include "kserve/shared_memory.h"
#include "metrics/metrics.h"
#include "serving/model_manager.h"

namespace peregrine::kserve {

struct RoutesOptions {
  std::string server_name = "triton";  // what GET /v2 reports; Triton's clients check for "triton"
  std::string server_version = "0.1.0";
  bool serve_metrics = true;           // GET /metrics on this port
  bool access_log = false;             // one JSON line per request on stderr
};

// InvalidArgument/FailedPrecondition/OutOfRange 400, NotFound 404, Unavailable/ResourceExhausted 503,
// DeadlineExceeded 504, Unimplemented 501, Cancelled 499, everything else 500.
unsigned HttpStatusFor(const absl::Status& status);

class KServeRoutes {
 public:
  KServeRoutes(serving::ModelManager* models, metrics::Registry* metrics, RoutesOptions options);

  // An http::Handler.
  void Handle(std::shared_ptr<const http::Request> request, std::shared_ptr<http::Responder> responder);

 private:
  struct Call;
  void Route(Call& call);
  void ServerMetadata(Call& call);
  void Health(Call& call, const std::string& what);
  void ModelEndpoint(Call& call, const std::string& model, int64_t version, const std::string& action);
  void Infer(Call& call, const std::string& model, int64_t version);
  void Generate(Call& call, const std::string& model, int64_t version, bool stream);
  void Statistics(Call& call, const std::string& model, int64_t version);
  void RepositoryIndex(Call& call);
  void RepositoryControl(Call& call, const std::string& model, const std::string& action);

  serving::ModelManager* models_;
  metrics::Registry* metrics_;
  RoutesOptions options_;
  SharedMemoryRegistry shared_memory_;
};

}  // namespace peregrine::kserve
