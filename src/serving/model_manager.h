// ModelManager: the models of one repository and their life cycle - load (config, provider, instances,
// warm-up), serve, reload, unload - in Triton's control modes:
//   none      every model in the repository is loaded at start; load/unload requests are refused
//   explicit  only the startup models (--load-model) are loaded at start; load/unload requests work
//   poll      like none, and the repository is re-read every poll interval: new or changed models are
//             (re)loaded, removed ones unloaded
//
// A model is READY only after every instance of every served version has run its warm-up. A model that
// fails to load is UNAVAILABLE with the reason; the other models are unaffected. A reload that fails
// keeps the versions already served. Loads run on the manager's own loader thread, one at a time, so
// the callers (HTTP I/O threads) never block on them. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "metrics/metrics.h"
#include "serving/model.h"
#include "serving/model_config.h"

namespace peregrine::serving {

enum class ControlMode { kNone, kExplicit, kPoll };
absl::StatusOr<ControlMode> ParseControlMode(const std::string& name);

enum class ModelState { kLoading, kReady, kUnavailable, kUnloading };
const char* ModelStateName(ModelState state);  // "LOADING", "READY", "UNAVAILABLE", "UNLOADING"

struct ManagerOptions {
  std::filesystem::path repository;
  ControlMode control_mode = ControlMode::kNone;
  std::vector<std::string> startup_models;  // explicit mode
  std::chrono::milliseconds poll_interval{15'000};
  int threads_per_instance = 0;             // 0: the machine's cores / the model's instances, at least 1
  size_t default_max_queue_size = 256;      // for queue policies that leave max_queue_size at 0
  // SchedulerOptions::inline_max_compute of every model; zero: requests always go to a worker.
  std::chrono::microseconds inline_max_compute{0};
  // GenerationLimits::idle_spin of every generation service (the server's --busy-poll-us).
  std::chrono::microseconds busy_poll{0};
  std::string provider_override;            // PEREGRINE_EXECUTION_PROVIDER; empty: none
  CompletionOptions completion;
  metrics::Registry* metrics = nullptr;     // required
};

struct ModelIndexEntry {
  std::string name;
  int64_t version = 0;  // 0 for a model with no loaded version (not loaded, failed)
  std::string state;    // ModelStateName, or "" for a model in the repository that was never loaded
  std::string reason;
};

class ModelManager {
 public:
  static absl::StatusOr<std::unique_ptr<ModelManager>> Create(ManagerOptions options);
  ~ModelManager();  // Shutdown()

  // Queues the loading of the startup models and returns at once; Ready() turns true when all of them
  // loaded. NotFound when the repository does not exist.
  absl::Status StartLoading();

  // Load (or reload) / unload a model, in explicit mode only (FailedPrecondition otherwise). `done` gets
  // the outcome on the loader thread.
  void LoadAsync(const std::string& name, std::function<void(absl::Status)> done);
  void UnloadAsync(const std::string& name, std::function<void(absl::Status)> done);

  // Every model folder in the repository and every loaded version, sorted by name then version.
  std::vector<ModelIndexEntry> Index() const;

  // The ready model version; version 0 means the highest ready one. NotFound for an unknown model or
  // version, Unavailable for one that exists but is not ready.
  absl::StatusOr<std::shared_ptr<Model>> Find(const std::string& name, int64_t version) const;

  // Versions of a model that are ready, ascending (empty when none).
  std::vector<int64_t> ReadyVersions(const std::string& name) const;

  // True once the startup loads finished and every model that should be served is ready.
  bool Ready() const;

  // Stops the loader and poller and drains every model's queue. Idempotent.
  void Shutdown();

 private:
  struct Impl;
  explicit ModelManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace peregrine::serving
