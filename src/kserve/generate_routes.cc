// The generate extension: request parsing, submission to the model's GenerationService, and the JSON
// and Server-Sent-Event answers (see the header for the formats).
#include "kserve/generate_routes.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <climits>
#include <set>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kserve/codec.h"
#include "kserve/routes.h"
#include "kserve/timeout.h"

namespace peregrine::kserve {
namespace {

namespace beast_http = boost::beast::http;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using serving::Clock;

constexpr size_t kMaxStopWords = 16;

std::string_view View(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

void Key(Writer& w, const char* key) { w.Key(key); }
void String(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

// A field name for an error message: as sent when printable UTF-8, else described.
std::string Quoted(std::string_view name) {
  if (InvalidUtf8At(name)) return "(a name that is not valid UTF-8)";
  return absl::StrCat("'", std::string(name), "'");
}

absl::Status ParseParameters(const rapidjson::Value& params, GenerateBody& out) {
  if (!params.IsObject()) return absl::InvalidArgumentError("parameters must be a JSON object");
  std::set<std::string_view> seen;
  for (auto it = params.MemberBegin(); it != params.MemberEnd(); ++it) {
    const std::string_view name = View(it->name);
    const rapidjson::Value& v = it->value;
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("parameter ", Quoted(name), " is given twice"));
    }
    if (name == "max_tokens") {
      if (!v.IsInt64()) return absl::InvalidArgumentError("parameters.max_tokens must be an integer");
      out.max_tokens = v.GetInt64();
    } else if (name == "temperature") {
      if (!v.IsNumber()) return absl::InvalidArgumentError("parameters.temperature must be a number");
      out.sampling.temperature = static_cast<float>(v.GetDouble());
    } else if (name == "top_k") {
      if (!v.IsInt64()) return absl::InvalidArgumentError("parameters.top_k must be an integer");
      // Beyond the vocabulary every k means "all tokens"; clamp so the value fits.
      out.sampling.top_k = static_cast<int>(std::clamp<int64_t>(v.GetInt64(), -1, INT_MAX));
    } else if (name == "top_p") {
      if (!v.IsNumber()) return absl::InvalidArgumentError("parameters.top_p must be a number");
      out.sampling.top_p = static_cast<float>(v.GetDouble());
      // A float rounds values just above 1 (or above 0) into the range; judge the value as sent.
      if (!(v.GetDouble() > 0 && v.GetDouble() <= 1)) return absl::InvalidArgumentError("top_p must be in (0, 1]");
    } else if (name == "seed") {
      if (!v.IsUint64()) return absl::InvalidArgumentError("parameters.seed must be a non-negative integer");
      out.sampling.seed = v.GetUint64();
    } else if (name == "stop") {
      if (v.IsString()) {
        out.stop.emplace_back(View(v));
      } else if (v.IsArray()) {
        if (v.Size() > kMaxStopWords) {
          return absl::InvalidArgumentError(
              absl::StrCat("parameters.stop has ", v.Size(), " entries; at most ", kMaxStopWords));
        }
        for (const auto& item : v.GetArray()) {
          if (!item.IsString())
            return absl::InvalidArgumentError("parameters.stop must be a string or a list of strings");
          out.stop.emplace_back(View(item));
        }
      } else {
        return absl::InvalidArgumentError("parameters.stop must be a string or a list of strings");
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown parameter ", Quoted(name),
                                                     " (known: max_tokens, temperature, top_k, top_p, seed, stop)"));
    }
  }
  return absl::OkStatus();
}

// The fields every answer shares.
void WriteModel(Writer& w, const std::string& name, const std::string& version) {
  Key(w, "model_name");
  String(w, name);
  Key(w, "model_version");
  String(w, version);
}

double Ms(int64_t ns) { return static_cast<double>(ns) * 1e-6; }

// finish_reason, token counts and timings.
void WriteTotals(Writer& w, const serving::GenerationResult& result) {
  Key(w, "finish_reason");
  w.String(generation::FinishReasonName(result.finish_reason));
  Key(w, "prompt_tokens");
  w.Int(result.prompt_tokens);
  Key(w, "output_tokens");
  w.Uint64(result.tokens.size());
  Key(w, "timings");
  w.StartObject();
  Key(w, "queue_ms");
  w.Double(Ms(result.queue_ns));
  Key(w, "first_token_ms");
  w.Double(Ms(result.first_token_ns));
  Key(w, "total_ms");
  w.Double(Ms(result.total_ns));
  Key(w, "per_output_token_ms");
  w.Double(result.sampled_tokens > 1 ? Ms(result.total_ns - result.first_token_ns) / (result.sampled_tokens - 1) : 0.0);
  w.EndObject();
}

// One request on its way: the answer, written from the service's threads (one at a time, in order).
struct Answer {
  GenerateCall call;
  // Not the model: a sequence holds its answer, and must not hold the model that owns the service.
  std::string model_name;
  std::string model_version;
  std::shared_ptr<const generation::Vocabulary> vocabulary;
  bool stream = false;
  bool started = false;  // the stream's header went out
  int64_t previous = -1;
  size_t index = 0;
  size_t bytes_out = 0;

  void Reply(unsigned status, std::string body) {
    http::Response response{static_cast<beast_http::status>(status), call.request->version()};
    response.set(beast_http::field::content_type, "application/json");
    if (status == 503) response.set(beast_http::field::retry_after, "1");
    response.body() = std::move(body);
    const size_t bytes = response.body().size();
    call.responder->Send(std::move(response));
    if (call.log) call.log(status, bytes);
  }

  void Fail(const absl::Status& status) { Reply(HttpStatusFor(status), ErrorBody(std::string(status.message()))); }

  // One Server-Sent Event; the first one goes out with the stream's header.
  void Event(std::string_view json) {
    std::string event = absl::StrCat("data: ", std::string(json), "\n\n");
    bytes_out += event.size();
    if (started) return call.responder->WriteChunk(std::move(event));
    started = true;
    http::Response header{beast_http::status::ok, call.request->version()};
    header.set(beast_http::field::content_type, "text/event-stream");
    header.set(beast_http::field::cache_control, "no-cache");
    header.body() = std::move(event);
    call.responder->BeginStream(std::move(header));
  }

  void EndStream() {
    call.responder->EndStream();
    if (call.log) call.log(200, bytes_out);
  }

  void OnToken(int64_t token) {
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    WriteModel(w, model_name, model_version);
    Key(w, "text_output");
    String(w, vocabulary->Piece(previous, token));
    Key(w, "token_id");
    w.Int64(token);
    Key(w, "index");
    w.Uint64(index++);
    w.EndObject();
    previous = token;
    Event({buffer.GetString(), buffer.GetSize()});
  }

  void OnDone(serving::GenerationResult&& result) {
    if (!result.status.ok()) {
      if (!started) return Fail(result.status);
      Event(ErrorBody(std::string(result.status.message())));
      return EndStream();
    }
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    WriteModel(w, model_name, model_version);
    Key(w, "text_output");
    String(w, stream ? std::string() : vocabulary->Decode(result.tokens));
    if (stream) {
      Key(w, "final");
      w.Bool(true);
    }
    WriteTotals(w, result);
    w.EndObject();
    if (!stream) return Reply(200, std::string(buffer.GetString(), buffer.GetSize()));
    Event({buffer.GetString(), buffer.GetSize()});
    EndStream();
  }
};

// The request for the service, from a parsed body; InvalidArgument naming what is wrong.
absl::StatusOr<serving::GenerationRequest> BuildRequest(const GenerateBody& body,
                                                        const serving::GenerationService& service) {
  if (auto bad = InvalidUtf8At(body.text_input)) {
    return absl::InvalidArgumentError(absl::StrCat("text_input is not valid UTF-8 (at byte ", *bad, ")"));
  }
  if (generation::Tokenize(body.text_input).empty()) {
    return absl::InvalidArgumentError("text_input is empty or only whitespace");
  }
  serving::GenerationRequest request;
  request.prompt = service.vocabulary().Encode(body.text_input);
  request.max_tokens = body.max_tokens;
  request.sampling = body.sampling;
  for (size_t i = 0; i < body.stop.size(); ++i) {
    if (auto bad = InvalidUtf8At(body.stop[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameters.stop[", i, "] is not valid UTF-8 (at byte ", *bad, ")"));
    }
    std::vector<int64_t> ids = service.vocabulary().EncodeKnown(body.stop[i]);
    if (ids.empty())
      return absl::InvalidArgumentError(absl::StrCat("parameters.stop[", i, "] is empty or only whitespace"));
    request.stop_sequences.push_back(std::move(ids));
  }
  return request;
}

}  // namespace

std::optional<size_t> InvalidUtf8At(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code = 0;
    uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      length = 2, code = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, code = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, code = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (i + length > n) return i;
    for (size_t k = 1; k < length; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      code = (code << 6) | (s[i + k] & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += length;
  }
  return std::nullopt;
}

absl::StatusOr<GenerateBody> ParseGenerateBody(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request body is not valid JSON: ", rapidjson::GetParseError_En(doc.GetParseError()), " (at byte ",
                     doc.GetErrorOffset(), ")"));
  }
  if (!doc.IsObject()) return absl::InvalidArgumentError(R"(request body must be a JSON object {"text_input": ...})");
  GenerateBody out;
  bool has_text = false;
  std::set<std::string_view> seen;
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    const std::string_view name = View(it->name);
    if (!seen.insert(name).second)
      return absl::InvalidArgumentError(absl::StrCat("field ", Quoted(name), " is given twice"));
    if (name == "text_input") {
      if (!it->value.IsString()) return absl::InvalidArgumentError("text_input must be a string");
      out.text_input.assign(it->value.GetString(), it->value.GetStringLength());
      has_text = true;
    } else if (name == "parameters") {
      RETURN_IF_ERROR(ParseParameters(it->value, out));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field ", Quoted(name), " (a generate request has text_input and parameters)"));
    }
  }
  if (!has_text) return absl::InvalidArgumentError("text_input is required");
  return out;
}

void HandleGenerate(std::shared_ptr<serving::Model> model, GenerateCall call, bool stream) {
  auto answer = std::make_shared<Answer>();
  answer->call = std::move(call);
  answer->model_name = model->name();
  answer->model_version = std::to_string(model->version());
  answer->stream = stream;
  serving::GenerationService* service = model->generation();
  if (service == nullptr) {
    return answer->Fail(absl::InvalidArgumentError(
        absl::StrCat("model '", model->name(),
                     "' does not generate text: its config.pbtxt has no generation block (see docs/model_config.md)")));
  }
  answer->vocabulary = service->shared_vocabulary();
  const http::Request& http_request = *answer->call.request;
  absl::StatusOr<GenerateBody> body = ParseGenerateBody(http_request.body());
  absl::StatusOr<serving::GenerationRequest> request =
      body.ok() ? BuildRequest(*body, *service) : absl::StatusOr<serving::GenerationRequest>(body.status());
  if (request.ok()) {
    request->received = answer->call.received;
    request->cancelled = answer->call.responder->cancellation();
    auto header = http_request.find("Timeout");
    if (header != http_request.end()) {
      absl::StatusOr<std::chrono::microseconds> timeout =
          ParseTimeout(std::string_view(header->value().data(), header->value().size()));
      if (!timeout.ok()) {
        request = timeout.status();
      } else {
        request->deadline = request->received + *timeout;
      }
    }
  }
  if (!request.ok()) {
    model->CountInvalidGeneration(answer->call.received);
    return answer->Fail(request.status());
  }
  serving::GenerationCallbacks callbacks;
  if (stream) callbacks.on_token = [answer](int64_t token) { answer->OnToken(token); };
  callbacks.done = [answer](serving::GenerationResult&& result) { answer->OnDone(std::move(result)); };
  absl::Status submitted = model->Generate(*std::move(request), std::move(callbacks));
  if (!submitted.ok()) answer->Fail(submitted);
}

}  // namespace peregrine::kserve
