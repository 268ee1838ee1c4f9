// The `generation` block of config.pbtxt: completion and checks (called from CompleteModelConfig), and
// building the GenerationService at load.
#include "serving/generation_config.h"

#include <algorithm>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "serving/config_checks.h"
#include "serving/model_config.h"

namespace peregrine::serving {
namespace {

constexpr uint32_t kMaxTokensCeiling = 1'000'000;
constexpr uint32_t kMaxPromptCeiling = 65'536;
constexpr uint32_t kMaxSequencesCeiling = 1024;

std::string Names(const std::vector<engine::TensorInfo>& infos) {
  std::vector<std::string> names;
  for (const auto& info : infos) names.push_back(info.name);
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

std::string Describe(const engine::TensorInfo& info) {
  return absl::StrCat(config::DataType_Name(ToConfigType(info.dtype)), " ", internal::DimsToString(info.shape));
}

// The model tensor `name` of `infos` ("input"/"output" for messages); InvalidArgument naming `field`.
absl::StatusOr<const engine::TensorInfo*> Find(const std::string& field, const char* kind, const std::string& name,
                                               const std::vector<engine::TensorInfo>& infos) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  for (const auto& info : infos) {
    if (info.name == name) return &info;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": the model has no ", kind, " '", name, "' (", kind, "s: ", Names(infos), ")"));
}

absl::Status CheckTokenAndLogits(const std::vector<engine::TensorInfo>& inputs,
                                 const std::vector<engine::TensorInfo>& outputs, const config::ModelGeneration& g) {
  ASSIGN_OR_RETURN(const engine::TensorInfo* tokens, Find("generation.token_input", "input", g.token_input(), inputs));
  if (tokens->dtype != DataType::kInt64 || (!internal::RankUnknown(*tokens) && tokens->shape.size() != 2)) {
    return absl::InvalidArgumentError(absl::StrCat("generation.token_input: model input '", tokens->name,
                                                   "' must be TYPE_INT64 [batch, seq], is ", Describe(*tokens)));
  }
  ASSIGN_OR_RETURN(const engine::TensorInfo* logits,
                   Find("generation.logits_output", "output", g.logits_output(), outputs));
  if (logits->dtype != DataType::kFloat32 || (!internal::RankUnknown(*logits) && logits->shape.size() != 2)) {
    return absl::InvalidArgumentError(absl::StrCat("generation.logits_output: model output '", logits->name,
                                                   "' must be TYPE_FP32 [batch, vocabulary], is ", Describe(*logits)));
  }
  return absl::OkStatus();
}

absl::Status CheckState(const std::vector<engine::TensorInfo>& inputs, const std::vector<engine::TensorInfo>& outputs,
                        const config::ModelGeneration& g) {
  std::set<std::string> covered = {g.token_input()};
  std::set<std::string> outputs_used = {g.logits_output()};
  for (int i = 0; i < g.state_size(); ++i) {
    const config::ModelGeneration::State& state = g.state(i);
    const std::string field = absl::StrCat("generation.state[", i, "]");
    ASSIGN_OR_RETURN(const engine::TensorInfo* in, Find(field + ".input", "input", state.input(), inputs));
    ASSIGN_OR_RETURN(const engine::TensorInfo* out, Find(field + ".output", "output", state.output(), outputs));
    if (!covered.insert(in->name).second) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".input: '", in->name, "' is already used"));
    }
    if (!outputs_used.insert(out->name).second) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".output: '", out->name, "' is already used"));
    }
    if (in->dtype != out->dtype || in->shape.size() != out->shape.size()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".output: model output '", out->name, "' is ",
                                                     Describe(*out), " but input '", in->name, "' is ", Describe(*in)));
    }
    const int axis = state.batch_axis();
    if (axis < 0 || axis >= static_cast<int>(in->shape.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".batch_axis: ", axis, " is not an axis of input '", in->name, "' ", Describe(*in)));
    }
    if (in->shape[axis] >= 0 && !(in->shape[axis] == 1 && g.max_sequences_per_step() == 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".batch_axis: dimension ", axis, " of input '", in->name, "' ", Describe(*in),
                       " is fixed, so sequences cannot be batched on it (a fixed 1 needs max_sequences_per_step: 1)"));
    }
    for (size_t d = 0; d < in->shape.size(); ++d) {
      if (static_cast<int>(d) == axis) continue;
      if (in->shape[d] < 0) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".input: dimension ", d, " of input '", in->name, "' ",
                                                       Describe(*in), " must be fixed (only the batch axis may vary)"));
      }
      if (out->shape[d] >= 0 && out->shape[d] != in->shape[d]) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".output: model output '", out->name, "' ",
                                                       Describe(*out), " differs from input '", in->name, "' ",
                                                       Describe(*in)));
      }
    }
  }
  for (const auto& info : inputs) {
    if (!covered.count(info.name)) {
      return absl::InvalidArgumentError(absl::StrCat("generation.state: model input '", info.name,
                                                     "' is neither token_input nor a state input; list it as a state"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTokens(const config::ModelGeneration& g) {
  const std::string& vocabulary = g.vocabulary();
  const std::filesystem::path path(vocabulary);
  bool inside = !vocabulary.empty() && path.is_relative();
  for (const auto& part : path) inside = inside && part != "..";
  if (vocabulary.empty())
    return absl::InvalidArgumentError("generation.vocabulary: required (a file in the model folder)");
  if (!inside) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation.vocabulary: '", vocabulary, "' must be a relative path inside the model folder"));
  }
  std::set<std::string> reserved;
  for (int i = 0; i < g.reserved_tokens_size(); ++i) {
    if (g.reserved_tokens(i).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("generation.reserved_tokens[", i, "]: empty"));
    }
    if (!reserved.insert(g.reserved_tokens(i)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("generation.reserved_tokens[", i, "]: '", g.reserved_tokens(i), "' is listed twice"));
    }
  }
  if (g.unknown_token().empty()) return absl::InvalidArgumentError("generation.unknown_token: required");
  if (!reserved.count(g.unknown_token())) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation.unknown_token: '", g.unknown_token(), "' must be one of reserved_tokens"));
  }
  if (!g.end_token().empty() && !reserved.count(g.end_token())) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation.end_token: '", g.end_token(), "' must be one of reserved_tokens"));
  }
  return absl::OkStatus();
}

absl::Status CompleteLimits(config::ModelGeneration& g) {
  if (g.max_tokens_limit() == 0) g.set_max_tokens_limit(kDefaultMaxTokensLimit);
  if (g.default_max_tokens() == 0) g.set_default_max_tokens(std::min(kDefaultMaxTokens, g.max_tokens_limit()));
  if (g.max_prompt_tokens() == 0) g.set_max_prompt_tokens(kDefaultMaxPromptTokens);
  if (g.max_sequences_per_step() == 0) g.set_max_sequences_per_step(kDefaultMaxSequencesPerStep);
  if (g.max_tokens_limit() > kMaxTokensCeiling) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation.max_tokens_limit: ", g.max_tokens_limit(), " is over ", kMaxTokensCeiling));
  }
  if (g.default_max_tokens() > g.max_tokens_limit()) {
    return absl::InvalidArgumentError(absl::StrCat("generation.default_max_tokens: ", g.default_max_tokens(),
                                                   " is over max_tokens_limit ", g.max_tokens_limit()));
  }
  if (g.max_prompt_tokens() > kMaxPromptCeiling) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation.max_prompt_tokens: ", g.max_prompt_tokens(), " is over ", kMaxPromptCeiling));
  }
  if (g.max_sequences_per_step() > kMaxSequencesCeiling) {
    return absl::InvalidArgumentError(absl::StrCat("generation.max_sequences_per_step: ", g.max_sequences_per_step(),
                                                   " is over ", kMaxSequencesCeiling));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CompleteGenerationConfig(const std::vector<engine::TensorInfo>& inputs,
                                      const std::vector<engine::TensorInfo>& outputs, config::ModelGeneration& g) {
  if (g.tokenizer().empty()) g.set_tokenizer("basic_english");
  if (g.tokenizer() != "basic_english") {
    return absl::InvalidArgumentError(
        absl::StrCat("generation.tokenizer: '", g.tokenizer(), "' is not supported (basic_english)"));
  }
  RETURN_IF_ERROR(CompleteLimits(g));
  RETURN_IF_ERROR(CheckTokenAndLogits(inputs, outputs, g));
  RETURN_IF_ERROR(CheckState(inputs, outputs, g));
  return CheckTokens(g);
}

generation::StepModelSpec StepModelSpecOf(const config::ModelGeneration& g) {
  generation::StepModelSpec spec;
  spec.token_input = g.token_input();
  spec.logits_output = g.logits_output();
  spec.state.clear();
  for (const auto& state : g.state()) spec.state.push_back({state.input(), state.output(), state.batch_axis()});
  return spec;
}

absl::StatusOr<std::unique_ptr<GenerationService>> BuildGenerationService(const config::ModelConfig& config,
                                                                          const GenerationBuildOptions& options) {
  const config::ModelGeneration& g = config.generation();
  // The vocabulary must stay inside the model folder, links included.
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::weakly_canonical(options.model_dir, ec);
  const std::filesystem::path file = std::filesystem::weakly_canonical(options.model_dir / g.vocabulary(), ec);
  const auto [dir_end, file_it] = std::mismatch(dir.begin(), dir.end(), file.begin(), file.end());
  if (ec || dir_end != dir.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation.vocabulary: '", g.vocabulary(), "' leads out of the model folder"));
  }
  std::vector<std::string> reserved(g.reserved_tokens().begin(), g.reserved_tokens().end());
  absl::StatusOr<generation::Vocabulary> vocabulary =
      generation::Vocabulary::Load(file.string(), reserved, g.unknown_token());
  if (!vocabulary.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("generation.vocabulary: ", vocabulary.status().message()));
  }

  GenerationServiceOptions service;
  service.model_name = options.model_name;
  service.version = options.version;
  service.spec = StepModelSpecOf(g);
  if (!g.end_token().empty()) {
    ASSIGN_OR_RETURN(service.end_id, vocabulary->IdOf(g.end_token()));
  }
  service.vocabulary = std::make_shared<const generation::Vocabulary>(*std::move(vocabulary));
  service.limits.default_max_tokens = static_cast<int>(g.default_max_tokens());
  service.limits.max_tokens_limit = static_cast<int>(g.max_tokens_limit());
  service.limits.max_prompt_tokens = static_cast<int>(g.max_prompt_tokens());
  service.limits.max_sequences_per_step = static_cast<int>(g.max_sequences_per_step());
  service.limits.max_queued = options.max_queued;
  service.limits.default_timeout = options.default_timeout;
  service.limits.idle_spin = options.idle_spin;
  service.metrics = options.metrics;

  // Two sessions: the decode one keeps a plan per batch size; the chunk one a plan per prompt chunk length
  // (a lone sequence's prompt, see generation_service.h).
  engine::SessionOptions decode_options = options.session_options;
  decode_options.max_cached_plans = static_cast<size_t>(service.limits.max_sequences_per_step) + 1;
  engine::SessionOptions chunk_options = options.session_options;
  chunk_options.max_cached_plans = static_cast<size_t>(service.limits.prompt_chunk_tokens) + 1;
  auto open = [&](const engine::SessionOptions& session_options) -> absl::StatusOr<std::unique_ptr<engine::Session>> {
    if (options.model_session != nullptr) return options.model_session->Fork(session_options);
    return engine::Session::Create(options.model_path.string(), session_options);
  };
  ASSIGN_OR_RETURN(std::unique_ptr<engine::Session> decode, open(decode_options));
  ASSIGN_OR_RETURN(std::unique_ptr<engine::Session> chunk, open(chunk_options));
  ASSIGN_OR_RETURN(generation::StepModelBinding binding,
                   generation::BindStepModel(decode->inputs(), decode->outputs(), service.spec));
  if (binding.vocab_size > 0 && binding.vocab_size != static_cast<int64_t>(service.vocabulary->size())) {
    return absl::InvalidArgumentError(absl::StrCat("generation.vocabulary: '", g.vocabulary(), "' has ",
                                                   service.vocabulary->size(), " tokens but the logits output '",
                                                   g.logits_output(), "' is ", binding.vocab_size, " wide"));
  }
  return GenerationService::Create(std::move(service), std::move(decode), std::move(chunk));
}

}  // namespace peregrine::serving
