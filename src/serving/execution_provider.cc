// Execution providers: the preference list of a model and the choice among them (see the header's rule).
#include "serving/execution_provider.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace peregrine::serving {
namespace {

const ProviderInfo* FindProvider(const std::string& name) {
  for (const ProviderInfo& info : KnownProviders()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

std::string KnownNames() {
  std::vector<std::string> names;
  for (const ProviderInfo& info : KnownProviders()) names.push_back(info.name);
  return absl::StrJoin(names, ", ");
}

absl::Status CheckKnown(const std::string& where, const std::string& name) {
  if (FindProvider(name) != nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": unknown execution provider '", name, "' (known: ", KnownNames(), ")"));
}

// A list given explicitly (environment or execution_providers) must not name a provider twice: that is
// almost certainly a mistake in the intended fallback order.
absl::Status CheckNotListed(const std::vector<std::string>& list, const std::string& where, const std::string& name) {
  if (std::find(list.begin(), list.end(), name) == list.end()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(where, ": execution provider '", name, "' is listed twice"));
}

absl::StatusOr<std::vector<std::string>> FromEnvironment(const std::string& value) {
  constexpr const char* kWhere = "PEREGRINE_EXECUTION_PROVIDER";
  std::vector<std::string> list;
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    const std::string name(absl::StripAsciiWhitespace(part));
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(kWhere, ": empty provider name in '", value, "'"));
    RETURN_IF_ERROR(CheckKnown(kWhere, name));
    RETURN_IF_ERROR(CheckNotListed(list, kWhere, name));
    list.push_back(name);
  }
  return list;
}

absl::StatusOr<std::vector<std::string>> FromProviders(const config::ModelConfig& config) {
  std::vector<std::string> list;
  for (int i = 0; i < config.execution_providers_size(); ++i) {
    const std::string where = absl::StrCat("execution_providers[", i, "].name");
    const std::string& name = config.execution_providers(i).name();
    RETURN_IF_ERROR(CheckKnown(where, name));
    RETURN_IF_ERROR(CheckNotListed(list, where, name));
    list.push_back(name);
  }
  return list;
}

// Triton's way of saying it: accelerators, and GPU instance groups meaning CUDA.
absl::StatusOr<std::vector<std::string>> FromTritonFields(const config::ModelConfig& config) {
  std::vector<std::string> list;
  auto add = [&list](const std::string& name) {
    if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
  };
  const auto& accelerators = config.optimization().execution_accelerators();
  for (int i = 0; i < accelerators.gpu_execution_accelerator_size(); ++i) {
    const std::string& name = accelerators.gpu_execution_accelerator(i).name();
    RETURN_IF_ERROR(
        CheckKnown(absl::StrCat("optimization.execution_accelerators.gpu_execution_accelerator[", i, "].name"), name));
    add(name);
  }
  for (int i = 0; i < accelerators.cpu_execution_accelerator_size(); ++i) {
    const std::string& name = accelerators.cpu_execution_accelerator(i).name();
    RETURN_IF_ERROR(
        CheckKnown(absl::StrCat("optimization.execution_accelerators.cpu_execution_accelerator[", i, "].name"), name));
    add(name);
  }
  for (const auto& group : config.instance_group()) {
    if (group.kind() == config::ModelInstanceGroup::KIND_GPU) add("cuda");
  }
  return list;
}

}  // namespace

const std::vector<ProviderInfo>& KnownProviders() {
  static const std::vector<ProviderInfo> kProviders = {
      {"cpu", true},
      {"cuda", false},
      {"tensorrt", false},
  };
  return kProviders;
}

absl::StatusOr<std::vector<std::string>> ProviderPreference(const config::ModelConfig& config,
                                                            const char* env_override) {
  if (env_override != nullptr && !absl::StripAsciiWhitespace(env_override).empty()) {
    return FromEnvironment(env_override);
  }
  if (config.execution_providers_size() > 0) return FromProviders(config);
  ASSIGN_OR_RETURN(std::vector<std::string> list, FromTritonFields(config));
  if (list.empty()) list.push_back("cpu");
  return list;
}

absl::StatusOr<std::string> ChooseProvider(const std::vector<std::string>& preference) {
  if (preference.empty()) return absl::InvalidArgumentError("no execution provider to choose from");
  std::vector<std::string> missing;
  for (const std::string& name : preference) {
    const ProviderInfo* info = FindProvider(name);
    if (info == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown execution provider '", name, "' (known: ", KnownNames(), ")"));
    }
    if (info->built_in) return name;
    missing.push_back(name);  // skipped: something follows it, or the loop ends and we fail below
  }
  if (missing.size() == 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("execution provider '", missing[0],
                     "' is not built into this server; add a fallback (execution_providers: [{name: \"", missing[0],
                     "\"}, {name: \"cpu\"}])"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("none of the execution providers ", absl::StrJoin(missing, ", "),
                   " is built into this server; add a fallback that is (execution_providers: [..., {name: \"cpu\"}])"));
}

}  // namespace peregrine::serving
