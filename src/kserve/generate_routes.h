// Triton's generate extension over a model's GenerationService (serving/generation_service.h):
//
//   POST /v2/models/{m}[/versions/{v}]/generate         one JSON response
//   POST /v2/models/{m}[/versions/{v}]/generate_stream  Server-Sent Events, one per token, then a final one
//
// Request: {"text_input": "...", "parameters": {"max_tokens": int, "temperature": number >= 0,
//   "top_k": int >= 0, "top_p": number in (0, 1], "seed": int >= 0, "stop": string | [string, ...]}}
//   Every parameter is optional; anything else (unknown fields or parameters, wrong JSON types) is a 400.
//   Words the vocabulary lacks map to its unknown token. A Timeout header (as for infer) sets a deadline:
//   504 when the generation has not finished by then.
//
// Response: {"model_name", "model_version" (string), "text_output" (the continuation, prompt excluded),
//   "finish_reason": "length" | "end_token" | "stop", "prompt_tokens", "output_tokens",
//   "timings": {"queue_ms", "first_token_ms", "total_ms", "per_output_token_ms"}}  (see docs/model_config.md)
//
// Stream (Content-Type: text/event-stream): per output token `data: {"model_name", "model_version",
//   "text_output": the token's text (with its leading space, so the events add up to the whole text),
//   "token_id", "index"}`, then `data: {... "text_output": "", "final": true, and the fields of the
//   response above but text_output}`. Errors before the first event are plain JSON errors with their HTTP
//   status (400, 503, 504); after it, an event `data: {"error": "..."}` ends the stream.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/server.h"
#include "serving/generation_service.h"
#include "serving/model.h"

namespace peregrine::kserve {

struct GenerateCall {
  std::shared_ptr<const http::Request> request;
  std::shared_ptr<http::Responder> responder;
  serving::Clock::time_point received = serving::Clock::now();
  std::function<void(unsigned status, size_t bytes_out)> log;  // the access log; may be empty
};

// Answers a generate (stream false) or generate_stream request for `model`, now or later from the
// service's threads. Never blocks.
void HandleGenerate(std::shared_ptr<serving::Model> model, GenerateCall call, bool stream);

// A generate request body as sent, checked for shape and types (not yet against the model).
struct GenerateBody {
  std::string text_input;
  std::optional<int64_t> max_tokens;
  generation::SamplingParams sampling;
  std::vector<std::string> stop;
};
absl::StatusOr<GenerateBody> ParseGenerateBody(const std::string& body);

// Byte offset of the first byte that is not part of valid UTF-8 (overlong forms, surrogates and code
// points over U+10FFFF included), or nullopt when all of `text` is valid.
std::optional<size_t> InvalidUtf8At(std::string_view text);

}  // namespace peregrine::kserve
