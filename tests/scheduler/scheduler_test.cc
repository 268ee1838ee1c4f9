// Scheduler tests. Most run over FakeInstance, a test double whose Run the test can hold on a gate, so
// that "running", "queued" and "expired while queued" are states the test creates, not races it hopes
// for. Every wait is bounded; no sleep is used as synchronization.
#include "serving/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/session.h"
#include "serving/model_instance.h"
#include "gated_log.h"
#include "results.h"

namespace peregrine::serving {
namespace {

using std::chrono::milliseconds;
using test_support::kWait;
using test_support::Results;

constexpr float kFailValue = -1;                  // FakeInstance returns an engine error for this input
constexpr float kThrowValue = -2;                 // FakeInstance throws for this input

// What the fake instances saw: the inputs they ran, in order, and how many ran at once. The gate
// holds every Run until the test opens it.
class Probe : public test_support::GatedLog<float> {
 public:
  // Every Run takes at least this long (models a slow model; never used to synchronize).
  void SetRunTime(std::chrono::microseconds t) {
    std::lock_guard lock(mu_);
    run_time_ = t;
  }

  // Counted as running before it waits at the gate, so a test can see runs held there.
  void Enter(float x) {
    std::chrono::microseconds run_time;
    {
      std::lock_guard lock(mu_);
      max_running_ = std::max(max_running_, ++running_);
      run_time = run_time_;
    }
    Record(x);
    if (run_time.count() > 0) std::this_thread::sleep_for(run_time);
  }
  void Exit() {
    std::lock_guard lock(mu_);
    --running_;
  }

  // True once `n` runs have started (bounded wait).
  bool WaitForStarted(size_t n) { return WaitForCount(n); }
  std::vector<float> ran() const { return entries(); }
  int max_running() const {
    std::lock_guard lock(mu_);
    return max_running_;
  }

 private:
  mutable std::mutex mu_;  // guards the fields below
  std::chrono::microseconds run_time_{0};
  int running_ = 0;
  int max_running_ = 0;
};

// Input "x" float32 [n]; outputs "double" = 2x, "negate" = -x, "plus_one" = x + 1.
class FakeInstance final : public ModelInstance {
 public:
  explicit FakeInstance(Probe* probe) : probe_(probe) {
    inputs_ = {{"x", DataType::kFloat32, {-1}, {"n"}}};
    for (const char* name : {"double", "negate", "plus_one"})
      outputs_.push_back({name, DataType::kFloat32, {-1}, {"n"}});
  }

  absl::Status Run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) override {
    if (inputs.size() != 1) return absl::InvalidArgumentError("want one input");
    const float x = inputs[0].data_as<float>()[0];
    probe_->Enter(x);
    struct ExitGuard {
      Probe* probe;
      ~ExitGuard() { probe->Exit(); }
    } guard{probe_};
    if (x == kFailValue) return absl::InvalidArgumentError("bad value for x");
    if (x == kThrowValue) throw std::runtime_error("boom");
    outputs.assign(3, Tensor());
    const auto values = inputs[0].values<float>();
    std::vector<float> a, b, c;
    for (float v : values) {
      a.push_back(2 * v);
      b.push_back(-v);
      c.push_back(v + 1);
    }
    outputs[0] = Tensor::FromVector<float>(inputs[0].shape(), a);
    outputs[1] = Tensor::FromVector<float>(inputs[0].shape(), b);
    outputs[2] = Tensor::FromVector<float>(inputs[0].shape(), c);
    return absl::OkStatus();
  }
  const std::vector<engine::TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<engine::TensorInfo>& outputs() const override { return outputs_; }

 private:
  Probe* probe_;
  std::vector<engine::TensorInfo> inputs_, outputs_;
};

InferenceRequest MakeRequest(const std::string& id, float x) {
  InferenceRequest request;
  request.id = id;
  request.model = "fake";
  request.version = 3;
  request.inputs.push_back({"x", Tensor::FromVector<float>({1}, {x})});
  return request;
}

// Owns the probe, the results and the scheduler. TearDown opens the gate before the scheduler drains,
// so a failed assertion in a test that closed it ends the test instead of hanging it.
class SchedulerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    probe.OpenGate();
    scheduler.reset();
  }

  bool Start(int instances, SchedulerOptions options = {}) {
    std::vector<std::unique_ptr<ModelInstance>> list;
    for (int i = 0; i < instances; ++i) list.push_back(std::make_unique<FakeInstance>(&probe));
    auto created = Scheduler::Create(std::move(list), options);
    EXPECT_TRUE(created.ok()) << created.status();
    if (created.ok()) scheduler = std::move(*created);
    return scheduler != nullptr;
  }

  void Stress(bool inline_execution);

  Probe probe;
  Results results;
  std::unique_ptr<Scheduler> scheduler;
};

float Value(const InferenceOutput& output) { return output.tensor.data_as<float>()[0]; }

TEST_F(SchedulerTest, CreateRejectsBadArguments) {
  EXPECT_EQ(Scheduler::Create({}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::unique_ptr<ModelInstance>> one;
  one.push_back(std::make_unique<FakeInstance>(&probe));
  SchedulerOptions options;
  options.max_queue_size = 0;
  EXPECT_EQ(Scheduler::Create(std::move(one), options).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::unique_ptr<ModelInstance>> with_null;
  with_null.push_back(nullptr);
  EXPECT_EQ(Scheduler::Create(std::move(with_null), {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, OneInstanceRunsRequestsInArrivalOrder) {
  ASSERT_TRUE(Start(1));
  EXPECT_EQ(scheduler->instance_count(), 1u);
  probe.CloseGate();
  ASSERT_TRUE(scheduler->Submit(MakeRequest("r0", 0), results.Callback()).ok());
  ASSERT_TRUE(probe.WaitForStarted(1));
  for (int i = 1; i < 10; ++i)
    ASSERT_TRUE(scheduler->Submit(MakeRequest(absl::StrCat("r", i), i), results.Callback()).ok());
  EXPECT_EQ(scheduler->queue_depth(), 9u);
  EXPECT_EQ(scheduler->busy_instances(), 1u);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(10));
  EXPECT_EQ(probe.ran(), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(probe.max_running(), 1);
  for (int i = 0; i < 10; ++i) {
    InferenceResult r = results.Get(absl::StrCat("r", i));
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(Value(r.response.outputs[0]), 2 * i);
  }
  EXPECT_EQ(scheduler->queue_depth(), 0u);
}

TEST_F(SchedulerTest, InstancesRunConcurrently) {
  ASSERT_TRUE(Start(3));
  probe.CloseGate();
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(scheduler->Submit(MakeRequest(absl::StrCat("r", i), i), results.Callback()).ok());
  ASSERT_TRUE(probe.WaitForStarted(3)) << "three instances should be running at once";
  EXPECT_EQ(scheduler->busy_instances(), 3u);
  EXPECT_EQ(scheduler->queue_depth(), 3u);
  EXPECT_EQ(probe.max_running(), 3);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(6));
  EXPECT_EQ(probe.max_running(), 3) << "never more than one request per instance";
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(results.Get(absl::StrCat("r", i)).status.ok());
}

TEST_F(SchedulerTest, FullQueueRejectsWithoutCallingDone) {
  SchedulerOptions options;
  options.max_queue_size = 2;
  ASSERT_TRUE(Start(1, options));
  probe.CloseGate();
  ASSERT_TRUE(scheduler->Submit(MakeRequest("running", 0), results.Callback()).ok());
  ASSERT_TRUE(probe.WaitForStarted(1));  // running, so not counted against the queue
  ASSERT_TRUE(scheduler->Submit(MakeRequest("q1", 1), results.Callback()).ok());
  ASSERT_TRUE(scheduler->Submit(MakeRequest("q2", 2), results.Callback()).ok());
  absl::Status rejected = scheduler->Submit(MakeRequest("q3", 3), results.Callback());
  EXPECT_EQ(rejected.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(rejected.message().find("queue of model fake is full (2 requests)"), absl::string_view::npos) << rejected;
  EXPECT_EQ(scheduler->queue_depth(), 2u);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(3));
  scheduler->Shutdown(/*drain=*/true);  // joins the workers: no late callback can follow
  EXPECT_EQ(results.count("q3"), 0u);
  EXPECT_EQ(results.total(), 3u);
  EXPECT_EQ(probe.ran(), (std::vector<float>{0, 1, 2}));
}

TEST_F(SchedulerTest, DeadlineExpiresWhileQueuedAndTheRequestNeverRuns) {
  ASSERT_TRUE(Start(1));
  probe.CloseGate();
  ASSERT_TRUE(scheduler->Submit(MakeRequest("blocker", 0), results.Callback()).ok());
  ASSERT_TRUE(probe.WaitForStarted(1));
  InferenceRequest late = MakeRequest("late", 1);
  late.deadline = Clock::now() + milliseconds(20);
  ASSERT_TRUE(scheduler->Submit(std::move(late), results.Callback()).ok());
  ASSERT_TRUE(scheduler->Submit(MakeRequest("after", 2), results.Callback()).ok());
  // The only instance is still blocked: only the deadline timer can complete "late".
  ASSERT_TRUE(results.WaitFor("late"));
  InferenceResult r = results.Get("late");
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDeadlineExceeded) << r.status;
  EXPECT_NE(r.status.message().find("timed out after"), absl::string_view::npos) << r.status;
  EXPECT_NE(r.status.message().find("in the queue of model fake"), absl::string_view::npos) << r.status;
  EXPECT_FALSE(r.timings.counts_execution) << "a request that never ran is no engine execution";
  EXPECT_GE(r.timings.queue_ns, 0);
  EXPECT_EQ(scheduler->queue_depth(), 1u);
  EXPECT_EQ(results.count("blocker"), 0u);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(3));
  EXPECT_TRUE(results.Get("blocker").status.ok());
  EXPECT_TRUE(results.Get("after").status.ok());
  EXPECT_EQ(probe.ran(), (std::vector<float>{0, 2}));
  EXPECT_EQ(results.count("late"), 1u);
}

TEST_F(SchedulerTest, DefaultTimeoutAppliesOnlyToRequestsWithoutDeadline) {
  SchedulerOptions options;
  options.default_timeout = std::chrono::microseconds(20000);
  ASSERT_TRUE(Start(1, options));
  probe.CloseGate();
  ASSERT_TRUE(scheduler->Submit(MakeRequest("blocker", 0), results.Callback()).ok());
  ASSERT_TRUE(probe.WaitForStarted(1));
  InferenceRequest patient = MakeRequest("patient", 1);
  patient.deadline = Clock::now() + std::chrono::hours(1);
  ASSERT_TRUE(scheduler->Submit(std::move(patient), results.Callback()).ok());
  ASSERT_TRUE(scheduler->Submit(MakeRequest("default", 2), results.Callback()).ok());
  ASSERT_TRUE(results.WaitFor("default"));
  EXPECT_EQ(results.Get("default").status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(results.count("patient"), 0u) << "an explicit deadline is not replaced by the default";
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(3));
  EXPECT_TRUE(results.Get("patient").status.ok());
  EXPECT_EQ(probe.ran(), (std::vector<float>{0, 1}));
}

TEST_F(SchedulerTest, CancelledRequestIsDroppedAndNeverRuns) {
  ASSERT_TRUE(Start(1));
  probe.CloseGate();
  ASSERT_TRUE(scheduler->Submit(MakeRequest("blocker", 0), results.Callback()).ok());
  ASSERT_TRUE(probe.WaitForStarted(1));
  InferenceRequest doomed = MakeRequest("doomed", 1);
  auto flag = std::make_shared<CancellationFlag>();
  doomed.cancelled = flag;
  ASSERT_TRUE(scheduler->Submit(std::move(doomed), results.Callback()).ok());
  InferenceRequest kept = MakeRequest("kept", 2);
  kept.cancelled = std::make_shared<CancellationFlag>();  // a flag that is never set
  ASSERT_TRUE(scheduler->Submit(std::move(kept), results.Callback()).ok());
  flag->Cancel();
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(3));
  EXPECT_EQ(results.Get("doomed").status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(results.Get("kept").status.ok());
  EXPECT_EQ(probe.ran(), (std::vector<float>{0, 2}));
}

TEST_F(SchedulerTest, OutputsAreFilteredOrderedAndFlaggedAsRequested) {
  ASSERT_TRUE(Start(1));

  InferenceRequest all = MakeRequest("all", 5);
  all.binary_outputs = true;
  ASSERT_TRUE(scheduler->Submit(std::move(all), results.Callback()).ok());
  InferenceRequest some = MakeRequest("some", 7);
  some.binary_outputs = true;  // ignored when outputs are named: each carries its own flag
  some.outputs = {{"plus_one", true}, {"double", false}};
  ASSERT_TRUE(scheduler->Submit(std::move(some), results.Callback()).ok());
  ASSERT_TRUE(results.WaitForTotal(2));

  InferenceResult r = results.Get("all");
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.response.id, "all");
  EXPECT_EQ(r.response.model, "fake");
  EXPECT_EQ(r.response.version, 3);
  ASSERT_EQ(r.response.outputs.size(), 3u);
  EXPECT_EQ(r.response.outputs[0].name, "double");
  EXPECT_EQ(r.response.outputs[1].name, "negate");
  EXPECT_EQ(r.response.outputs[2].name, "plus_one");
  for (const auto& output : r.response.outputs) EXPECT_TRUE(output.binary) << output.name;
  EXPECT_EQ(Value(r.response.outputs[0]), 10);
  EXPECT_EQ(Value(r.response.outputs[1]), -5);
  EXPECT_EQ(Value(r.response.outputs[2]), 6);
  EXPECT_EQ(r.timings.batch_size, 1);
  EXPECT_TRUE(r.timings.counts_execution);
  EXPECT_GE(r.timings.queue_ns, 0);
  EXPECT_GE(r.timings.compute_input_ns, 0);
  EXPECT_GE(r.timings.compute_infer_ns, 0);
  EXPECT_GE(r.timings.compute_output_ns, 0);

  r = results.Get("some");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.response.outputs.size(), 2u);
  EXPECT_EQ(r.response.outputs[0].name, "plus_one");
  EXPECT_TRUE(r.response.outputs[0].binary);
  EXPECT_EQ(Value(r.response.outputs[0]), 8);
  EXPECT_EQ(r.response.outputs[1].name, "double");
  EXPECT_FALSE(r.response.outputs[1].binary);
  EXPECT_EQ(Value(r.response.outputs[1]), 14);

  // Without binary_outputs every output is JSON.
  ASSERT_TRUE(scheduler->Submit(MakeRequest("json", 1), results.Callback()).ok());
  ASSERT_TRUE(results.WaitFor("json"));
  r = results.Get("json");
  ASSERT_EQ(r.response.outputs.size(), 3u);
  for (const auto& output : r.response.outputs) EXPECT_FALSE(output.binary) << output.name;
}

TEST_F(SchedulerTest, EngineErrorIsReturnedAndTheWorkerKeepsServing) {
  ASSERT_TRUE(Start(1));
  ASSERT_TRUE(scheduler->Submit(MakeRequest("bad", kFailValue), results.Callback()).ok());
  ASSERT_TRUE(scheduler->Submit(MakeRequest("good", 4), results.Callback()).ok());
  ASSERT_TRUE(results.WaitForTotal(2));
  InferenceResult bad = results.Get("bad");
  EXPECT_EQ(bad.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status.message(), "bad value for x");
  EXPECT_TRUE(bad.response.outputs.empty());
  EXPECT_EQ(bad.response.id, "bad");
  InferenceResult good = results.Get("good");
  ASSERT_TRUE(good.status.ok()) << good.status;
  EXPECT_EQ(Value(good.response.outputs[0]), 8);
}

TEST_F(SchedulerTest, ExceptionFromAnInstanceBecomesInternal) {
  ASSERT_TRUE(Start(1));
  ASSERT_TRUE(scheduler->Submit(MakeRequest("throws", kThrowValue), results.Callback()).ok());
  ASSERT_TRUE(scheduler->Submit(MakeRequest("good", 4), results.Callback()).ok());
  ASSERT_TRUE(results.WaitForTotal(2));
  InferenceResult thrown = results.Get("throws");
  EXPECT_EQ(thrown.status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(thrown.status.message().find("boom"), absl::string_view::npos) << thrown.status;
  EXPECT_TRUE(results.Get("good").status.ok());
}

TEST_F(SchedulerTest, ShutdownWithDrainRunsEverythingQueued) {
  SchedulerOptions options;
  options.max_queue_size = 1 << 20;  // room for the probes below
  ASSERT_TRUE(Start(1, options));
  probe.CloseGate();
  ASSERT_TRUE(scheduler->Submit(MakeRequest("r0", 0), results.Callback()).ok());
  ASSERT_TRUE(probe.WaitForStarted(1));
  for (int i = 1; i < 5; ++i)
    ASSERT_TRUE(scheduler->Submit(MakeRequest(absl::StrCat("r", i), i), results.Callback()).ok());

  std::thread stopper([&] { scheduler->Shutdown(/*drain=*/true); });
  // Shutdown has begun once a submission is refused; until then, probes join the queue (and must run).
  size_t probes = 0;
  absl::Status refused;
  const auto give_up = Clock::now() + kWait;
  while ((refused = scheduler->Submit(MakeRequest(absl::StrCat("probe", probes), 100), results.Callback())).ok() &&
         Clock::now() < give_up) {
    ++probes;
    std::this_thread::yield();
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("shutting down"), absl::string_view::npos) << refused;
  EXPECT_EQ(results.total(), 0u) << "the gate is closed: nothing has finished yet";
  probe.OpenGate();
  stopper.join();
  EXPECT_EQ(results.total(), 5 + probes);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(results.Get(absl::StrCat("r", i)).status.ok()) << i;
  const std::vector<float> ran = probe.ran();
  ASSERT_GE(ran.size(), 5u);
  EXPECT_EQ(std::vector<float>(ran.begin(), ran.begin() + 5), (std::vector<float>{0, 1, 2, 3, 4}));
}

TEST_F(SchedulerTest, ShutdownWithoutDrainFailsQueuedRequestsAndFinishesTheRunningOne) {
  ASSERT_TRUE(Start(1));
  probe.CloseGate();
  ASSERT_TRUE(scheduler->Submit(MakeRequest("running", 0), results.Callback()).ok());
  ASSERT_TRUE(probe.WaitForStarted(1));
  for (int i = 1; i < 4; ++i)
    ASSERT_TRUE(scheduler->Submit(MakeRequest(absl::StrCat("q", i), i), results.Callback()).ok());

  std::thread stopper([&] { scheduler->Shutdown(/*drain=*/false); });
  // The queued requests fail while the running one is still held at the gate. (No ASSERT until the
  // stopper is joined: a joinable thread must not be destroyed.)
  EXPECT_TRUE(results.WaitForTotal(3));
  for (int i = 1; i < 4; ++i) {
    InferenceResult r = results.Get(absl::StrCat("q", i));
    EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  }
  EXPECT_EQ(results.count("running"), 0u);
  EXPECT_EQ(scheduler->Submit(MakeRequest("late", 9), results.Callback()).code(), absl::StatusCode::kUnavailable);
  probe.OpenGate();
  stopper.join();
  EXPECT_TRUE(results.Get("running").status.ok());
  EXPECT_EQ(results.total(), 4u);
  EXPECT_EQ(probe.ran(), (std::vector<float>{0}));
}

TEST_F(SchedulerTest, SubmitAfterShutdownIsRejectedWithoutCallingDone) {
  ASSERT_TRUE(Start(2));
  scheduler->Shutdown(/*drain=*/true);
  scheduler->Shutdown(/*drain=*/false);  // a second call is harmless
  absl::Status status = scheduler->Submit(MakeRequest("late", 1), results.Callback());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  scheduler.reset();
  EXPECT_EQ(results.total(), 0u);
  EXPECT_TRUE(probe.ran().empty());
}

TEST_F(SchedulerTest, DestructorDrains) {
  ASSERT_TRUE(Start(2));
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(scheduler->Submit(MakeRequest(absl::StrCat("r", i), i), results.Callback()).ok());
  scheduler.reset();
  EXPECT_EQ(results.total(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(results.Get(absl::StrCat("r", i)).status.ok());
}

// Submits `count` requests one after another from this thread, each after the previous one completed,
// and says how many completed before their Submit returned, on this thread (ran inline).
int SubmitOneByOne(Scheduler& scheduler, Results& results, const std::string& prefix, int count,
                   size_t elements = 1) {
  int inline_runs = 0;
  for (int i = 0; i < count; ++i) {
    const std::string id = absl::StrCat(prefix, i);
    InferenceRequest request = MakeRequest(id, static_cast<float>(i));
    request.inputs[0].tensor = Tensor::FromVector<float>({static_cast<int64_t>(elements)},
                                                         std::vector<float>(elements, static_cast<float>(i)));
    const std::thread::id caller = std::this_thread::get_id();
    auto ran_here = std::make_shared<std::atomic<bool>>(false);
    InferenceCallback collect = results.Callback();
    EXPECT_TRUE(scheduler
                    .Submit(std::move(request),
                            [&, caller, ran_here, collect](InferenceResult&& result) {
                              ran_here->store(std::this_thread::get_id() == caller);
                              collect(std::move(result));
                            })
                    .ok());
    // A request that ran here completed before Submit returned (a worker may be that quick too).
    const bool done_before_return = results.count(id) > 0;
    if (!results.WaitFor(id)) return -1;
    EXPECT_TRUE(!ran_here->load() || done_before_return) << id;
    inline_runs += ran_here->load() ? 1 : 0;
    InferenceResult r = results.Get(id);
    EXPECT_TRUE(r.status.ok()) << r.status;
    if (r.status.ok()) {
      EXPECT_EQ(Value(r.response.outputs[0]), 2.0f * i) << id;
    }
  }
  return inline_runs;
}

// A model that computes in microseconds runs on the submitting thread once its compute time is known
// (after a few runs on the workers); with inline execution off it never does.
TEST_F(SchedulerTest, FastModelRunsInlineOnTheSubmittingThread) {
  SchedulerOptions options;
  options.inline_max_compute = std::chrono::seconds(1);
  ASSERT_TRUE(Start(1, options));
  const int inline_runs = SubmitOneByOne(*scheduler, results, "r", 200);
  // The first runs always go to the worker; after that a request runs inline whenever the worker is
  // back asleep when it arrives, which is almost always (each request waits for the previous result).
  EXPECT_GT(inline_runs, 0);
  EXPECT_LE(inline_runs, 192);
  EXPECT_EQ(probe.max_running(), 1);
}

TEST_F(SchedulerTest, InlineExecutionOffNeverRunsOnTheSubmittingThread) {
  ASSERT_TRUE(Start(1));
  EXPECT_EQ(SubmitOneByOne(*scheduler, results, "r", 50), 0);
}

TEST_F(SchedulerTest, SlowModelNeverRunsInline) {
  SchedulerOptions options;
  options.inline_max_compute = std::chrono::microseconds(100);
  ASSERT_TRUE(Start(1, options));
  probe.SetRunTime(std::chrono::microseconds(500));
  EXPECT_EQ(SubmitOneByOne(*scheduler, results, "r", 30), 0);
}

TEST_F(SchedulerTest, RequestMuchLargerThanRecentOnesIsNotRunInline) {
  SchedulerOptions options;
  options.inline_max_compute = std::chrono::seconds(1);
  ASSERT_TRUE(Start(1, options));
  ASSERT_GT(SubmitOneByOne(*scheduler, results, "small", 200), 0);
  EXPECT_EQ(SubmitOneByOne(*scheduler, results, "large", 5, /*elements=*/100'000), 0);
}

// Many submitters, random deadlines and cancellations, a small queue: every accepted request completes
// exactly once, no rejected one ever completes, nothing cancelled before submission runs, and no
// instance ever runs two requests at once - with inline execution on, too.
void SchedulerTest::Stress(bool inline_execution) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  SchedulerOptions options;
  options.max_queue_size = 32;
  if (inline_execution) options.inline_max_compute = std::chrono::seconds(1);
  ASSERT_TRUE(Start(3, options));

  std::vector<std::vector<std::string>> accepted(kThreads), rejected(kThreads);
  std::vector<std::set<float>> cancelled_first(kThreads);
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      std::mt19937 rng(1234 + t);
      std::uniform_int_distribution<int> pick(0, 99);
      std::uniform_int_distribution<int> micros(0, 2000);
      for (int i = 0; i < kPerThread; ++i) {
        const float x = static_cast<float>(t * kPerThread + i);
        const std::string id = absl::StrCat("t", t, "-", i);
        InferenceRequest request = MakeRequest(id, x);
        const int kind = pick(rng);
        std::shared_ptr<CancellationFlag> flag;
        if (kind < 30) request.deadline = Clock::now() + std::chrono::microseconds(micros(rng));
        if (kind >= 80) {
          flag = std::make_shared<CancellationFlag>();
          request.cancelled = flag;
          if (kind >= 90) {
            flag->Cancel();
            cancelled_first[t].insert(x);
          }
        }
        if (scheduler->Submit(std::move(request), results.Callback()).ok()) {
          accepted[t].push_back(id);
        } else {
          rejected[t].push_back(id);
          std::this_thread::yield();  // let the workers catch up, so most requests are accepted
        }
        if (flag && kind < 90) flag->Cancel();  // cancel after submission: may or may not have run
      }
    });
  }
  for (auto& s : submitters) s.join();

  size_t accepted_total = 0;
  for (const auto& ids : accepted) accepted_total += ids.size();
  ASSERT_TRUE(results.WaitForTotal(accepted_total)) << results.total() << " of " << accepted_total;
  scheduler->Shutdown(/*drain=*/true);
  EXPECT_EQ(results.total(), accepted_total);

  const auto all = results.all();
  for (int t = 0; t < kThreads; ++t) {
    for (const std::string& id : accepted[t]) {
      auto it = all.find(id);
      ASSERT_TRUE(it != all.end()) << id << " was lost";
      ASSERT_EQ(it->second.size(), 1u) << id << " completed more than once";
      const InferenceResult& r = it->second.front();
      const auto code = r.status.code();
      EXPECT_TRUE(code == absl::StatusCode::kOk || code == absl::StatusCode::kDeadlineExceeded ||
                  code == absl::StatusCode::kCancelled)
          << id << ": " << r.status;
      if (r.status.ok()) {
        ASSERT_EQ(r.response.outputs.size(), 3u);
        int thread = 0, index = 0;
        ASSERT_EQ(std::sscanf(id.c_str(), "t%d-%d", &thread, &index), 2);
        EXPECT_EQ(Value(r.response.outputs[0]), 2.0f * static_cast<float>(thread * kPerThread + index)) << id;
      }
    }
    for (const std::string& id : rejected[t]) EXPECT_EQ(all.count(id), 0u) << id << " was rejected yet completed";
  }
  for (float x : probe.ran()) {
    const int t = static_cast<int>(x) / kPerThread;
    EXPECT_EQ(cancelled_first[t].count(x), 0u) << "request " << x << " ran although cancelled before submission";
  }
  // The rejections this test means to exercise really happened, and so did successes.
  size_t rejected_total = 0;
  for (const auto& ids : rejected) rejected_total += ids.size();
  std::map<absl::StatusCode, int> outcomes;
  for (const auto& [id, list] : all) ++outcomes[list.front().status.code()];
  RecordProperty("accepted", static_cast<int>(accepted_total));
  RecordProperty("rejected", static_cast<int>(rejected_total));
  RecordProperty("ok", outcomes[absl::StatusCode::kOk]);
  RecordProperty("deadline_exceeded", outcomes[absl::StatusCode::kDeadlineExceeded]);
  RecordProperty("cancelled", outcomes[absl::StatusCode::kCancelled]);
  EXPECT_GT(accepted_total, 0u);
  EXPECT_LE(probe.max_running(), 3) << "an instance ran two requests at once";
}

TEST_F(SchedulerTest, StressEveryAcceptedRequestCompletesExactlyOnce) { Stress(/*inline_execution=*/false); }

TEST_F(SchedulerTest, StressWithInlineExecution) { Stress(/*inline_execution=*/true); }

// The real engine behind the scheduler gives exactly what a direct Session::Run gives.
TEST_F(SchedulerTest, SessionInstanceMatchesDirectRun) {
  const std::string model =
      std::string(PEREGRINE_SOURCE_DIR) + "/examples/models/voice-verification-small/1/model.onnx";
  engine::SessionOptions session_options;
  session_options.threads = 1;
  auto served = engine::Session::Create(model, session_options);
  ASSERT_TRUE(served.ok()) << served.status();
  auto direct = engine::Session::Create(model, session_options);
  ASSERT_TRUE(direct.ok()) << direct.status();

  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0, 1);
  InferenceRequest request;
  request.id = "voice";
  request.model = "voice-verification-small";
  request.version = 1;
  std::vector<Tensor> inputs;
  for (const auto& info : (*direct)->inputs()) {
    ASSERT_EQ(info.dtype, DataType::kFloat32) << info.name;
    Shape shape;
    for (int64_t d : info.shape) shape.push_back(d < 0 ? 1 : d);  // batch 1
    Tensor t = Tensor::Zeros(DataType::kFloat32, shape);
    for (float& v : t.mutable_values<float>()) v = normal(rng);
    inputs.push_back(t);
    request.inputs.push_back({info.name, t});
  }
  std::vector<Tensor> expected;
  ASSERT_TRUE((*direct)->Run(inputs, expected).ok());

  std::vector<std::unique_ptr<ModelInstance>> instances;
  instances.push_back(MakeSessionInstance(std::move(*served)));
  ASSERT_EQ(instances[0]->outputs().size(), expected.size());
  auto created = Scheduler::Create(std::move(instances), {});
  ASSERT_TRUE(created.ok()) << created.status();
  scheduler = std::move(*created);
  ASSERT_TRUE(scheduler->Submit(std::move(request), results.Callback()).ok());
  ASSERT_TRUE(results.WaitFor("voice"));
  InferenceResult r = results.Get("voice");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.response.outputs.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const InferenceOutput& out = r.response.outputs[i];
    EXPECT_EQ(out.name, (*direct)->outputs()[i].name);
    ASSERT_EQ(out.tensor.shape(), expected[i].shape()) << out.name;
    ASSERT_EQ(out.tensor.dtype(), DataType::kFloat32);
    const auto got = out.tensor.values<float>();
    const auto want = expected[i].values<float>();
    ASSERT_FALSE(got.empty());
    for (size_t k = 0; k < got.size(); ++k) ASSERT_EQ(got[k], want[k]) << out.name << "[" << k << "]";
  }

  // A wrong input reaches the engine's own check and comes back as its error, not a crash.
  InferenceRequest wrong;
  wrong.id = "wrong";
  wrong.model = "voice-verification-small";
  for (const auto& info : (*direct)->inputs())
    wrong.inputs.push_back({info.name, Tensor::Zeros(DataType::kFloat32, {1})});
  ASSERT_TRUE(scheduler->Submit(std::move(wrong), results.Callback()).ok());
  ASSERT_TRUE(results.WaitFor("wrong"));
  EXPECT_EQ(results.Get("wrong").status.code(), absl::StatusCode::kInvalidArgument) << results.Get("wrong").status;
}

}  // namespace
}  // namespace peregrine::serving
