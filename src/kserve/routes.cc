#include "kserve/routes.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "absl/strings/str_cat.h"
#include "kserve/codec.h"
#include "kserve/generate_routes.h"
#include "kserve/metadata_json.h"
#include "kserve/shared_memory_http.h"
#include "kserve/timeout.h"
#include "serving/model_config.h"

namespace peregrine::kserve {
namespace {

namespace beast_http = boost::beast::http;
using serving::Clock;

constexpr const char* kJson = "application/json";

std::string ToString(boost::beast::string_view s) { return std::string(s.data(), s.size()); }

// Splits "/v2/models/a%2Fb/infer?x=1" into {"v2", "models", "a/b", "infer"}; nullopt for bad escapes.
std::optional<std::vector<std::string>> PathSegments(boost::beast::string_view target) {
  std::string_view path(target.data(), target.size());
  path = path.substr(0, path.find('?'));
  std::vector<std::string> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view raw = path.substr(start, end - start);
    if (!raw.empty()) {
      std::string decoded;
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '%') {
          decoded += raw[i];
          continue;
        }
        int value = 0;
        if (i + 2 >= raw.size() ||
            std::from_chars(raw.data() + i + 1, raw.data() + i + 3, value, 16).ptr != raw.data() + i + 3) {
          return std::nullopt;
        }
        decoded += static_cast<char>(value);
        i += 2;
      }
      segments.push_back(std::move(decoded));
    }
    start = end + 1;
  }
  return segments;
}

absl::StatusOr<int64_t> ParseVersion(const std::string& text) {
  int64_t version = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || ptr != text.data() + text.size() || version <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid model version '", text, "' (a positive integer)"));
  }
  return version;
}

// The deadline of an inference: the Timeout header, else the "timeout" request parameter (microseconds).
absl::StatusOr<std::optional<Clock::time_point>> Deadline(const http::Request& request,
                                                          const serving::InferenceRequest& inference) {
  std::optional<std::chrono::microseconds> timeout;
  auto header = request.find("Timeout");
  if (header != request.end()) {
    ASSIGN_OR_RETURN(timeout, ParseTimeout(std::string_view(header->value().data(), header->value().size())));
  }
  for (const auto& [name, value] : inference.parameters) {
    if (name != "timeout" || timeout) continue;
    if (value.kind != serving::Parameter::Kind::kInt || value.int_value <= 0) {
      return absl::InvalidArgumentError("parameter 'timeout' must be a positive integer (microseconds)");
    }
    timeout = std::chrono::microseconds(value.int_value);
  }
  if (!timeout) return std::optional<Clock::time_point>();
  return std::optional<Clock::time_point>(inference.received + *timeout);
}

}  // namespace

unsigned HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists: return 400;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kCancelled: return 499;
    default: return 500;
  }
}

// One request being handled: the way back, and the access-log facts.
struct KServeRoutes::Call {
  std::shared_ptr<const http::Request> request;
  std::shared_ptr<http::Responder> responder;
  Clock::time_point start = Clock::now();
  bool access_log = false;

  const http::Request& req() const { return *request; }

  void Reply(unsigned status, std::string body, const char* content_type = kJson,
             std::optional<size_t> inference_header_length = std::nullopt) const {
    http::Response response{static_cast<beast_http::status>(status), request->version()};
    response.set(beast_http::field::content_type, content_type);
    if (inference_header_length) response.set("Inference-Header-Content-Length", std::to_string(*inference_header_length));
    if (status == 503) response.set(beast_http::field::retry_after, "1");
    response.body() = std::move(body);
    const size_t bytes_out = response.body().size();
    responder->Send(std::move(response));
    if (access_log) Log(status, bytes_out);
  }

  void Fail(const absl::Status& status) const { Reply(HttpStatusFor(status), ErrorBody(std::string(status.message()))); }

  void Log(unsigned status, size_t bytes_out) const {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    rapidjson::StringBuffer line;
    rapidjson::Writer<rapidjson::StringBuffer> w(line);
    const std::string method = ToString(request->method_string());
    const std::string target = ToString(request->target());
    w.StartObject();
    w.Key("method");
    w.String(method.c_str(), static_cast<rapidjson::SizeType>(method.size()));
    w.Key("target");
    w.String(target.c_str(), static_cast<rapidjson::SizeType>(target.size()));
    w.Key("status");
    w.Uint(status);
    w.Key("duration_us");
    w.Int64(us);
    w.Key("bytes_in");
    w.Uint64(request->body().size());
    w.Key("bytes_out");
    w.Uint64(bytes_out);
    w.EndObject();
    std::fprintf(stderr, "%s\n", line.GetString());
  }
};

KServeRoutes::KServeRoutes(serving::ModelManager* models, metrics::Registry* metrics, RoutesOptions options)
    : models_(models), metrics_(metrics), options_(std::move(options)) {}

void KServeRoutes::Handle(std::shared_ptr<const http::Request> request, std::shared_ptr<http::Responder> responder) {
  Call call{std::move(request), std::move(responder)};
  call.access_log = options_.access_log;
  Route(call);
}

void KServeRoutes::Route(Call& call) {
  const auto segments_or = PathSegments(call.req().target());
  if (!segments_or) return call.Fail(absl::InvalidArgumentError("malformed percent-escape in the URL"));
  const std::vector<std::string>& s = *segments_or;
  const beast_http::verb verb = call.req().method();
  const bool get = verb == beast_http::verb::get;
  const bool post = verb == beast_http::verb::post;
  auto method_not_allowed = [&](const char* allowed) {
    call.Fail(absl::InvalidArgumentError(absl::StrCat("method ", ToString(call.req().method_string()), " not allowed on ",
                                                      ToString(call.req().target()), " (use ", allowed, ")")));
  };

  if (s.size() == 1 && s[0] == "metrics" && options_.serve_metrics) {
    if (!get) return method_not_allowed("GET");
    return call.Reply(200, metrics_->Exposition(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (s.empty() || s[0] != "v2") {
    return call.Fail(absl::NotFoundError(absl::StrCat("no such endpoint: ", ToString(call.req().target()))));
  }
  if (s.size() == 1) return get ? ServerMetadata(call) : method_not_allowed("GET");
  if (s[1] == "health" && s.size() == 3 && (s[2] == "live" || s[2] == "ready")) {
    return get ? Health(call, s[2]) : method_not_allowed("GET");
  }
  if (s[1] == "models") {
    if (s.size() == 3 && s[2] == "stats") return get ? Statistics(call, "", 0) : method_not_allowed("GET");
    if (s.size() >= 3) {
      const std::string& model = s[2];
      int64_t version = 0;
      size_t next = 3;
      if (s.size() >= 5 && s[3] == "versions") {
        absl::StatusOr<int64_t> v = ParseVersion(s[4]);
        if (!v.ok()) return call.Fail(v.status());
        version = *v;
        next = 5;
      }
      if (s.size() == next) return get ? ModelEndpoint(call, model, version, "") : method_not_allowed("GET");
      if (s.size() == next + 1) {
        const std::string& action = s[next];
        if (action == "infer") return post ? Infer(call, model, version) : method_not_allowed("POST");
        if (action == "generate" || action == "generate_stream") {
          return post ? Generate(call, model, version, action == "generate_stream") : method_not_allowed("POST");
        }
        if (action == "ready" || action == "config" || action == "stats") {
          return get ? ModelEndpoint(call, model, version, action) : method_not_allowed("GET");
        }
      }
    }
  }
  if (s[1] == "systemsharedmemory" || s[1] == "cudasharedmemory") {
    absl::StatusOr<std::string> reply =
        SharedMemoryEndpoint(shared_memory_, ToString(call.req().method_string()), s, call.req().body());
    return reply.ok() ? call.Reply(200, *std::move(reply)) : call.Fail(reply.status());
  }
  if (s[1] == "repository") {
    if (s.size() == 3 && s[2] == "index") return post ? RepositoryIndex(call) : method_not_allowed("POST");
    if (s.size() == 5 && s[2] == "models" && (s[4] == "load" || s[4] == "unload")) {
      return post ? RepositoryControl(call, s[3], s[4]) : method_not_allowed("POST");
    }
  }
  call.Fail(absl::NotFoundError(absl::StrCat("no such endpoint: ", ToString(call.req().target()))));
}

void KServeRoutes::ServerMetadata(Call& call) {
  static const std::vector<std::string> kExtensions = {"binary_tensor_data", "generate", "model_configuration",
                                                       "model_repository", "model_repository(unload_dependents)",
                                                       "statistics", "system_shared_memory"};
  call.Reply(200, ServerMetadataJson(options_.server_name, options_.server_version, kExtensions));
}

void KServeRoutes::Health(Call& call, const std::string& what) {
  if (what == "live") return call.Reply(200, "");
  if (models_->Ready()) return call.Reply(200, "");
  call.Reply(400, ErrorBody("server is not ready: models are still loading or failed to load (see /v2/repository/index)"));
}

void KServeRoutes::ModelEndpoint(Call& call, const std::string& name, int64_t version, const std::string& action) {
  if (action == "stats") return Statistics(call, name, version);
  absl::StatusOr<std::shared_ptr<serving::Model>> model = models_->Find(name, version);
  if (action == "ready") {
    if (model.ok()) return call.Reply(200, "");
    return call.Reply(model.status().code() == absl::StatusCode::kNotFound ? 404 : 400, ErrorBody(std::string(model.status().message())));
  }
  if (!model.ok()) return call.Fail(model.status());
  if (action == "config") return call.Reply(200, serving::ModelConfigToJson((*model)->config()));
  call.Reply(200, ModelMetadataJson(**model, models_->ReadyVersions(name)));
}

void KServeRoutes::Statistics(Call& call, const std::string& name, int64_t version) {
  std::vector<std::shared_ptr<serving::Model>> selected;
  if (name.empty()) {
    for (const serving::ModelIndexEntry& entry : models_->Index()) {
      if (entry.state != "READY") continue;
      absl::StatusOr<std::shared_ptr<serving::Model>> model = models_->Find(entry.name, entry.version);
      if (model.ok()) selected.push_back(*std::move(model));
    }
  } else {
    std::vector<int64_t> versions = version > 0 ? std::vector<int64_t>{version} : models_->ReadyVersions(name);
    if (versions.empty()) versions.push_back(0);  // lets Find() say why
    for (int64_t v : versions) {
      absl::StatusOr<std::shared_ptr<serving::Model>> model = models_->Find(name, v);
      if (!model.ok()) return call.Fail(model.status());
      selected.push_back(*std::move(model));
    }
  }
  call.Reply(200, ModelStatisticsJson(selected));
}

void KServeRoutes::Infer(Call& call, const std::string& name, int64_t version) {
  absl::StatusOr<std::shared_ptr<serving::Model>> model = models_->Find(name, version);
  if (!model.ok()) return call.Fail(model.status());

  std::optional<size_t> json_length;
  auto header = call.req().find("Inference-Header-Content-Length");
  if (header != call.req().end()) {
    size_t value = 0;
    const std::string text = ToString(header->value());
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return call.Fail(absl::InvalidArgumentError(
          absl::StrCat("Inference-Header-Content-Length '", text, "' is not a non-negative integer")));
    }
    if (value > call.req().body().size()) {
      return call.Fail(absl::InvalidArgumentError(absl::StrCat("Inference-Header-Content-Length ", value,
                                                               " is larger than the body (", call.req().body().size(),
                                                               " bytes)")));
    }
    json_length = value;
  }
  // The body lives as long as the HTTP request; binary input tensors borrow from it.
  std::shared_ptr<const std::string> body(call.request, &call.request->body());
  SharedMemoryOutputs shm_outputs;
  absl::StatusOr<serving::InferenceRequest> inference =
      DecodeInferRequest(body, json_length, &shared_memory_, &shm_outputs);
  if (!inference.ok()) return call.Fail(inference.status());
  inference->received = call.start;
  absl::StatusOr<std::optional<Clock::time_point>> deadline = Deadline(call.req(), *inference);
  if (!deadline.ok()) return call.Fail(deadline.status());
  inference->deadline = *deadline;
  inference->cancelled = call.responder->cancellation();

  // The completion runs on a scheduler thread: it encodes there, keeping the I/O thread free. The captured
  // shm_outputs keep the output regions mapped until the outputs are written into them.
  auto done = [call, shm_outputs = std::move(shm_outputs)](serving::InferenceResult&& result) {
    if (!result.status.ok()) return call.Fail(result.status);
    if (!shm_outputs.empty()) {
      absl::Status written = WriteSharedMemoryOutputs(shm_outputs, result.response);
      if (!written.ok()) return call.Fail(written);
    }
    EncodedResponse encoded = EncodeInferResponse(result.response, &shm_outputs);
    if (encoded.json_length) {
      return call.Reply(200, std::move(encoded.body), "application/octet-stream", encoded.json_length);
    }
    call.Reply(200, std::move(encoded.body));
  };
  absl::Status submitted = (*model)->Infer(*std::move(inference), std::move(done));
  if (!submitted.ok()) call.Fail(submitted);
}

void KServeRoutes::Generate(Call& call, const std::string& name, int64_t version, bool stream) {
  absl::StatusOr<std::shared_ptr<serving::Model>> model = models_->Find(name, version);
  if (!model.ok()) return call.Fail(model.status());
  GenerateCall generate{call.request, call.responder, call.start, nullptr};
  if (call.access_log) generate.log = [call](unsigned status, size_t bytes_out) { call.Log(status, bytes_out); };
  HandleGenerate(*std::move(model), std::move(generate), stream);
}

void KServeRoutes::RepositoryIndex(Call& call) {
  bool ready_only = false;
  const std::string& body = call.req().body();
  // The optional body is {"ready": true|false}; anything else is refused rather than ignored.
  if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    const bool valid = !doc.HasParseError() && doc.IsObject() &&
                       std::all_of(doc.MemberBegin(), doc.MemberEnd(), [](const auto& member) {
                         return std::string_view(member.name.GetString()) == "ready" && member.value.IsBool();
                       });
    if (!valid) {
      return call.Fail(absl::InvalidArgumentError(R"(repository index body must be {} or {"ready": true|false})"));
    }
    ready_only = doc.HasMember("ready") && doc["ready"].GetBool();
  }
  call.Reply(200, RepositoryIndexJson(models_->Index(), ready_only));
}

void KServeRoutes::RepositoryControl(Call& call, const std::string& name, const std::string& action) {
  auto done = [call](absl::Status status) {
    if (status.ok()) return call.Reply(200, "");
    // Triton answers a failed load with 400 and the reason.
    call.Reply(status.code() == absl::StatusCode::kNotFound ? 404 : 400, ErrorBody(std::string(status.message())));
  };
  if (action == "load") {
    models_->LoadAsync(name, std::move(done));
  } else {
    models_->UnloadAsync(name, std::move(done));
  }
}

}  // namespace peregrine::kserve
