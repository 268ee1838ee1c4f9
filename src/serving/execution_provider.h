// Execution providers: which engine runs a model's instances. This build has "cpu" (the oneDNN engine);
// "cuda" and "tensorrt" are known names reserved for builds that have them, so configs can name them
// today and fall back.
//
// Rule: a model has a list of providers in order of preference; the first that is built in is used. A
// provider that is not built in may be skipped only when another one follows it in the list - listing a
// fallback is how a config allows falling back. Unknown names are errors.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "proto/model_config.pb.h"

namespace peregrine::serving {

struct ProviderInfo {
  std::string name;
  bool built_in = false;
};

// Every provider name Peregrine knows, built in or not.
const std::vector<ProviderInfo>& KnownProviders();

// The preference list of a model. `env_override` (PEREGRINE_EXECUTION_PROVIDER, may be null or empty)
// is a comma-separated list that replaces the config's. Otherwise config.execution_providers; else
// optimization.execution_accelerators (gpu ones, then cpu ones) followed by "cuda" when an instance
// group is KIND_GPU; else {"cpu"}. InvalidArgument for an unknown name, naming where it came from
// ("execution_providers[0].name: unknown execution provider 'foo' (known: cpu, cuda, tensorrt)").
absl::StatusOr<std::vector<std::string>> ProviderPreference(const config::ModelConfig& config, const char* env_override);

// Applies the rule above. FailedPrecondition when the first provider that is not built in has no
// fallback after it: "execution provider 'cuda' is not built into this server; add a fallback
// (execution_providers: [{name: "cuda"}, {name: "cpu"}])".
absl::StatusOr<std::string> ChooseProvider(const std::vector<std::string>& preference);

}  // namespace peregrine::serving
