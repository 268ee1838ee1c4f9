#include "serving/model_manager.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "serving/execution_provider.h"
#include "serving/generation_config.h"
#include "serving/model_instance.h"
#include "serving/repository.h"
#include "serving/scheduling_config.h"
#include "serving/warmup.h"

namespace peregrine::serving {
namespace {

constexpr ModelState kAllStates[] = {ModelState::kLoading, ModelState::kReady, ModelState::kUnavailable,
                                     ModelState::kUnloading};

int InstanceCount(const config::ModelConfig& config) {
  int count = 0;
  for (const auto& group : config.instance_group()) count += std::max(1, group.count());
  return std::max(1, count);
}

absl::Status WarmUp(engine::Session& session, const std::vector<WarmupSample>& samples) {
  std::vector<Tensor> outputs;
  for (const WarmupSample& sample : samples) {
    for (uint32_t i = 0; i < std::max<uint32_t>(1, sample.count); ++i) {
      absl::Status status = session.Run(sample.inputs, outputs);
      if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat("warm-up '", sample.name, "' failed: ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ControlMode> ParseControlMode(const std::string& name) {
  if (name == "none") return ControlMode::kNone;
  if (name == "explicit") return ControlMode::kExplicit;
  if (name == "poll") return ControlMode::kPoll;
  return absl::InvalidArgumentError(absl::StrCat("unknown model control mode '", name, "' (none, explicit, poll)"));
}

const char* ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading: return "LOADING";
    case ModelState::kReady: return "READY";
    case ModelState::kUnavailable: return "UNAVAILABLE";
    case ModelState::kUnloading: return "UNLOADING";
  }
  return "UNAVAILABLE";
}

struct ModelManager::Impl {
  ManagerOptions options;

  struct Entry {
    ModelState state = ModelState::kUnavailable;
    std::string reason;
    bool wanted = false;  // should be served: counts towards Ready()
    std::string fingerprint;
    std::map<int64_t, std::shared_ptr<Model>> versions;
  };

  mutable std::mutex mu;
  std::map<std::string, Entry> models;
  bool startup_done = false;
  bool stopping = false;

  std::condition_variable tasks_cv;
  std::deque<std::function<void()>> tasks;
  std::thread loader;

  // ---- state (under mu) ----

  void SetState(const std::string& name, Entry& entry, ModelState state, std::string reason) {
    entry.state = state;
    entry.reason = std::move(reason);
    for (ModelState s : kAllStates) {
      options.metrics
          ->GetGauge("peregrine_model_state", "1 for the current load state of each model, 0 for the others.",
                     {{"model", name}, {"state", ModelStateName(s)}})
          .Set(s == state ? 1 : 0);
    }
  }

  // ---- loading (loader thread only) ----

  absl::StatusOr<std::shared_ptr<Model>> LoadVersion(const ModelDirectory& dir, int64_t version,
                                                     config::ModelConfig config, bool from_file) {
    const std::string file = config.default_model_filename().empty() ? "model.onnx" : config.default_model_filename();
    const std::filesystem::path path = dir.path / std::to_string(version) / file;
    if (!std::filesystem::is_regular_file(path)) {
      return absl::NotFoundError(absl::StrCat("model file ", path.string(), " does not exist"));
    }
    ASSIGN_OR_RETURN(std::vector<std::string> preference,
                     ProviderPreference(config, options.provider_override.empty() ? nullptr
                                                                                   : options.provider_override.c_str()));
    ASSIGN_OR_RETURN(std::string provider, ChooseProvider(preference));

    const int instances = InstanceCount(config);
    const int cores = AvailableCores();
    ASSIGN_OR_RETURN(InstanceThreads threads,
                     ChooseInstanceThreads(config, instances, options.threads_per_instance, cores));
    engine::SessionOptions session_options;
    session_options.threads = threads.threads;
    ASSIGN_OR_RETURN(session_options.precision, RequestedPrecision(config));
    std::vector<std::unique_ptr<engine::Session>> sessions;
    ASSIGN_OR_RETURN(std::unique_ptr<engine::Session> first, engine::Session::Create(path.string(), session_options));
    if (session_options.precision != engine::Precision::kFloat32) {
      const engine::Precision effective = first->options().precision;
      std::fprintf(stderr, "peregrine: model '%s' version %lld: precision %s%s\n", dir.name.c_str(),
                   static_cast<long long>(version), std::string(engine::PrecisionName(effective)).c_str(),
                   effective == session_options.precision ? "" : " (bf16 asked for; this CPU has no native bfloat16)");
    }
    // Derived outputs (derived_outputs.h) are listed after the model's own, in the config and metadata too.
    ASSIGN_OR_RETURN(std::shared_ptr<const DerivedOutputs> derived, DerivedOutputs::FromConfig(config, first->outputs()));
    const std::vector<engine::TensorInfo> outputs = DerivedOutputs::AllOutputs(first->outputs(), derived.get());
    RETURN_IF_ERROR(CompleteModelConfig(dir.name, first->inputs(), outputs, from_file, options.completion, config));
    sessions.push_back(std::move(first));
    // The other instances and the generation sessions fork the first: one parsed graph and one copy of
    // the reordered weights for all the version's sessions.
    for (int i = 1; i < instances; ++i) sessions.push_back(sessions[0]->Fork(session_options));

    ASSIGN_OR_RETURN(std::vector<WarmupSample> samples, BuildWarmupSamples(config, dir.path, sessions[0]->inputs()));
    for (auto& session : sessions) RETURN_IF_ERROR(WarmUp(*session, samples));

    ModelSpec spec;
    spec.name = dir.name;
    spec.version = version;
    spec.path = path;
    spec.provider = provider;
    spec.inputs = sessions[0]->inputs();
    spec.outputs = outputs;

    SchedulerOptions scheduler_options =
        SchedulerOptionsFromConfig(config, options.default_max_queue_size, samples, std::move(derived));
    scheduler_options.inline_max_compute = options.inline_max_compute;
    std::fprintf(stderr, "peregrine: %s\n",
                 DescribeScheduling(dir.name, version, instances, cores, threads, scheduler_options).c_str());
    spec.config = std::move(config);

    std::unique_ptr<GenerationService> generation;
    if (spec.config.has_generation()) {
      GenerationBuildOptions generation_options;
      generation_options.model_name = dir.name;
      generation_options.version = version;
      generation_options.model_dir = dir.path;
      generation_options.model_path = path;
      generation_options.model_session = sessions[0].get();
      generation_options.session_options = session_options;
      generation_options.max_queued = scheduler_options.max_queue_size;
      generation_options.default_timeout = scheduler_options.default_timeout;
      generation_options.idle_spin = options.busy_poll;
      generation_options.metrics = options.metrics;
      ASSIGN_OR_RETURN(generation, BuildGenerationService(spec.config, generation_options));
    }

    std::vector<std::unique_ptr<ModelInstance>> runnable;
    for (auto& session : sessions) runnable.push_back(MakeSessionInstance(std::move(session)));
    ASSIGN_OR_RETURN(std::unique_ptr<Scheduler> scheduler, Scheduler::Create(std::move(runnable), scheduler_options));
    return std::make_shared<Model>(std::move(spec), std::move(scheduler), options.metrics, std::move(generation));
  }

  absl::StatusOr<std::map<int64_t, std::shared_ptr<Model>>> LoadVersions(const ModelDirectory& dir) {
    config::ModelConfig config;
    const bool from_file = dir.config_text.has_value();
    if (from_file) {
      ASSIGN_OR_RETURN(config, ParseModelConfig(*dir.config_text, (dir.path / "config.pbtxt").string()));
    }
    const std::vector<int64_t> versions = SelectVersions(config.version_policy(), dir.versions);
    if (versions.empty()) {
      return absl::NotFoundError(absl::StrCat("model '", dir.name, "' has no version folder that its version policy serves",
                                              dir.versions.empty() ? " (no numeric folder such as 1/)" : ""));
    }
    std::map<int64_t, std::shared_ptr<Model>> loaded;
    for (int64_t version : versions) {
      absl::StatusOr<std::shared_ptr<Model>> model = LoadVersion(dir, version, config, from_file);
      if (!model.ok()) {
        return absl::Status(model.status().code(), absl::StrCat("version ", version, ": ", model.status().message()));
      }
      loaded.emplace(version, *std::move(model));
    }
    return loaded;
  }

  absl::Status Load(const std::string& name) {
    absl::StatusOr<ModelDirectory> dir = ReadModelDirectory(options.repository, name);
    {
      std::lock_guard lock(mu);
      Entry& entry = models[name];
      entry.wanted = true;
      if (entry.versions.empty()) SetState(name, entry, ModelState::kLoading, "");
    }
    absl::StatusOr<std::map<int64_t, std::shared_ptr<Model>>> loaded =
        dir.ok() ? LoadVersions(*dir) : absl::StatusOr<std::map<int64_t, std::shared_ptr<Model>>>(dir.status());
    std::map<int64_t, std::shared_ptr<Model>> retired;
    {
      std::lock_guard lock(mu);
      Entry& entry = models[name];
      if (!loaded.ok()) {
        // A failed reload keeps serving what was there. The operator reads why in the log as well as in the
        // repository index: a background load has no caller to return the error to.
        std::fprintf(stderr, "peregrine: model '%s' failed to load%s: %s\n", name.c_str(),
                     entry.versions.empty() ? "" : " (the loaded versions keep serving)",
                     std::string(loaded.status().message()).c_str());
        if (entry.versions.empty()) SetState(name, entry, ModelState::kUnavailable, std::string(loaded.status().message()));
        return loaded.status();
      }
      retired.swap(entry.versions);
      entry.versions = *std::move(loaded);
      entry.fingerprint = dir.ok() ? ModelFingerprint(dir->path) : "";
      SetState(name, entry, ModelState::kReady, "");
    }
    retired.clear();  // outside the lock: drains the old versions' queues
    return absl::OkStatus();
  }

  absl::Status Unload(const std::string& name, bool forget) {
    std::map<int64_t, std::shared_ptr<Model>> retired;
    {
      std::lock_guard lock(mu);
      auto it = models.find(name);
      if (it == models.end() || (it->second.versions.empty() && !it->second.wanted)) {
        return absl::NotFoundError(absl::StrCat("model '", name, "' is not loaded"));
      }
      it->second.wanted = false;
      retired.swap(it->second.versions);
      SetState(name, it->second, ModelState::kUnloading, "");
    }
    retired.clear();
    std::lock_guard lock(mu);
    if (forget) {
      models.erase(name);
    } else {
      SetState(name, models[name], ModelState::kUnavailable, "unloaded");
    }
    return absl::OkStatus();
  }

  // Poll mode: loads new and changed models, unloads removed ones.
  void Poll() {
    absl::StatusOr<std::vector<std::string>> names = ListModelNames(options.repository);
    if (!names.ok()) return;
    std::vector<std::string> removed;
    std::vector<std::string> changed;
    {
      std::lock_guard lock(mu);
      for (const auto& [name, entry] : models) {
        if (!std::binary_search(names->begin(), names->end(), name)) removed.push_back(name);
      }
      for (const std::string& name : *names) {
        auto it = models.find(name);
        if (it == models.end() || it->second.fingerprint != ModelFingerprint(options.repository / name)) {
          changed.push_back(name);
        }
      }
    }
    for (const std::string& name : removed) (void)Unload(name, /*forget=*/true);
    for (const std::string& name : changed) {
      absl::Status status = Load(name);
      if (!status.ok()) {
        // Remember the failing contents so that the same broken model is not retried every poll.
        std::lock_guard lock(mu);
        models[name].fingerprint = ModelFingerprint(options.repository / name);
      }
    }
  }

  // ---- loader thread ----

  void Post(std::function<void()> task) {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      tasks.push_back(std::move(task));
    }
    tasks_cv.notify_one();
  }

  void LoaderLoop() {
    auto next_poll = Clock::now() + options.poll_interval;
    std::unique_lock lock(mu);
    while (!stopping) {
      if (tasks.empty()) {
        if (options.control_mode == ControlMode::kPoll && startup_done) {
          tasks_cv.wait_until(lock, next_poll, [&] { return stopping || !tasks.empty(); });
          if (!stopping && tasks.empty() && Clock::now() >= next_poll) {
            lock.unlock();
            Poll();
            lock.lock();
            next_poll = Clock::now() + options.poll_interval;
          }
        } else {
          tasks_cv.wait(lock, [&] { return stopping || !tasks.empty(); });
        }
        continue;
      }
      std::function<void()> task = std::move(tasks.front());
      tasks.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }
};

ModelManager::ModelManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ModelManager::~ModelManager() { Shutdown(); }

absl::StatusOr<std::unique_ptr<ModelManager>> ModelManager::Create(ManagerOptions options) {
  if (options.metrics == nullptr) return absl::InvalidArgumentError("ModelManager needs a metrics registry");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  Impl* raw = impl.get();
  impl->loader = std::thread([raw] { raw->LoaderLoop(); });
  return std::unique_ptr<ModelManager>(new ModelManager(std::move(impl)));
}

absl::Status ModelManager::StartLoading() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListModelNames(impl_->options.repository));
  if (impl_->options.control_mode == ControlMode::kExplicit) names = impl_->options.startup_models;
  {
    std::lock_guard lock(impl_->mu);
    for (const std::string& name : names) {
      Impl::Entry& entry = impl_->models[name];
      entry.wanted = true;
      impl_->SetState(name, entry, ModelState::kLoading, "");
    }
  }
  Impl* impl = impl_.get();
  impl_->Post([impl, names] {
    for (const std::string& name : names) {
      absl::Status status = impl->Load(name);
      if (!status.ok()) {
        std::lock_guard lock(impl->mu);
        impl->models[name].fingerprint = ModelFingerprint(impl->options.repository / name);
      }
    }
    std::lock_guard lock(impl->mu);
    impl->startup_done = true;
  });
  return absl::OkStatus();
}

void ModelManager::LoadAsync(const std::string& name, std::function<void(absl::Status)> done) {
  if (impl_->options.control_mode != ControlMode::kExplicit) {
    done(absl::FailedPreconditionError("loading models on request needs --model-control-mode=explicit"));
    return;
  }
  Impl* impl = impl_.get();
  impl_->Post([impl, name, done = std::move(done)] { done(impl->Load(name)); });
}

void ModelManager::UnloadAsync(const std::string& name, std::function<void(absl::Status)> done) {
  if (impl_->options.control_mode != ControlMode::kExplicit) {
    done(absl::FailedPreconditionError("unloading models on request needs --model-control-mode=explicit"));
    return;
  }
  Impl* impl = impl_.get();
  impl_->Post([impl, name, done = std::move(done)] { done(impl->Unload(name, /*forget=*/false)); });
}

std::vector<ModelIndexEntry> ModelManager::Index() const {
  std::vector<ModelIndexEntry> index;
  absl::StatusOr<std::vector<std::string>> names = ListModelNames(impl_->options.repository);
  std::lock_guard lock(impl_->mu);
  for (const auto& [name, entry] : impl_->models) {
    if (entry.versions.empty()) {
      index.push_back({name, 0, ModelStateName(entry.state), entry.reason});
    }
    for (const auto& [version, model] : entry.versions) {
      index.push_back({name, version, ModelStateName(entry.state), entry.reason});
    }
  }
  if (names.ok()) {
    for (const std::string& name : *names) {
      if (!impl_->models.count(name)) index.push_back({name, 0, "", ""});
    }
  }
  std::sort(index.begin(), index.end(), [](const ModelIndexEntry& a, const ModelIndexEntry& b) {
    return std::tie(a.name, a.version) < std::tie(b.name, b.version);
  });
  return index;
}

absl::StatusOr<std::shared_ptr<Model>> ModelManager::Find(const std::string& name, int64_t version) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->models.find(name);
  if (it == impl_->models.end()) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  const Impl::Entry& entry = it->second;
  if (entry.state != ModelState::kReady || entry.versions.empty()) {
    return absl::UnavailableError(absl::StrCat("model '", name, "' is not ready (", ModelStateName(entry.state),
                                               entry.reason.empty() ? "" : ": ", entry.reason, ")"));
  }
  if (version == 0) return entry.versions.rbegin()->second;
  auto v = entry.versions.find(version);
  if (v == entry.versions.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no version ", version, " being served"));
  }
  return v->second;
}

std::vector<int64_t> ModelManager::ReadyVersions(const std::string& name) const {
  std::vector<int64_t> versions;
  std::lock_guard lock(impl_->mu);
  auto it = impl_->models.find(name);
  if (it == impl_->models.end() || it->second.state != ModelState::kReady) return versions;
  for (const auto& [version, model] : it->second.versions) versions.push_back(version);
  return versions;
}

bool ModelManager::Ready() const {
  std::lock_guard lock(impl_->mu);
  if (!impl_->startup_done) return false;
  for (const auto& [name, entry] : impl_->models) {
    if (entry.wanted && entry.state != ModelState::kReady) return false;
  }
  return true;
}

void ModelManager::Shutdown() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    impl_->tasks.clear();
  }
  impl_->tasks_cv.notify_all();
  if (impl_->loader.joinable()) impl_->loader.join();
  std::map<std::string, Impl::Entry> models;
  {
    std::lock_guard lock(impl_->mu);
    models.swap(impl_->models);
  }
  models.clear();  // drains every model's queue
}

}  // namespace peregrine::serving
