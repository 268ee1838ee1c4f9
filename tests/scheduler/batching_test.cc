// The dynamic batcher's mechanics with real threads. BatchInstance, a test double, records every engine
// call (its input shape and each row's first value) and can hold calls on a gate, so that "queued behind
// a running batch" is a state the test creates, not a race it hopes for. A blocker request of
// max_batch_size rows runs at once (a full batch never waits) and holds the only instance while the test
// queues what it wants batched. Every wait is bounded; no sleep is used as synchronization. The last
// tests run the real voice-verification-small model and compare batched answers with unbatched ones.
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
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/session.h"
#include "serving/derived_outputs.h"
#include "serving/model_instance.h"
#include "serving/scheduler.h"
#include "gated_log.h"
#include "results.h"

namespace peregrine::serving {
namespace {

using std::chrono::milliseconds;
using test_support::kWait;
using test_support::Results;

constexpr float kFailValue = -1000;               // BatchInstance fails a call whose input holds this
constexpr auto kForever = std::chrono::hours(1);  // a max_queue_delay no test outlives

// One engine call as BatchInstance saw it.
struct Call {
  Shape shape;                     // of input x
  std::vector<float> first_values;  // x[r][0] for every row r
};

// Every engine call BatchInstance made, held on the gate while it is closed.
class Probe : public test_support::GatedLog<Call> {
 public:
  void Enter(Call call) { Record(std::move(call)); }
  bool WaitForCalls(size_t n) { return WaitForCount(n); }
  std::vector<Call> calls() const { return entries(); }
  // Rows of each call, in call order.
  std::vector<int64_t> rows() const {
    std::vector<int64_t> rows;
    for (const Call& call : entries()) rows.push_back(call.shape[0]);
    return rows;
  }
};

// Input "x" FP32 [rows, k] (k any); outputs "double" = 2x [rows, k] and "row_sum" [rows, 1], per row -
// rows are independent, as a batchable model's must be.
class BatchInstance final : public ModelInstance {
 public:
  explicit BatchInstance(Probe* probe) : probe_(probe) {
    inputs_ = {{"x", DataType::kFloat32, {-1, -1}, {"batch", "k"}}};
    outputs_ = {{"double", DataType::kFloat32, {-1, -1}, {"batch", "k"}},
                {"row_sum", DataType::kFloat32, {-1, 1}, {"batch", ""}}};
  }

  absl::Status Run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) override {
    if (inputs.size() != 1 || inputs[0].rank() != 2) return absl::InvalidArgumentError("want one [rows, k] input");
    const Tensor& x = inputs[0];
    const int64_t rows = x.shape()[0], k = x.shape()[1];
    const auto v = x.values<float>();
    Call call{x.shape(), {}};
    for (int64_t r = 0; r < rows; ++r) call.first_values.push_back(k > 0 ? v[r * k] : 0);
    probe_->Enter(std::move(call));
    if (std::find(v.begin(), v.end(), kFailValue) != v.end()) return absl::InvalidArgumentError("bad value in x");
    Tensor doubled = Tensor::Zeros(DataType::kFloat32, x.shape());
    Tensor sums = Tensor::Zeros(DataType::kFloat32, {rows, 1});
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < k; ++c) {
        doubled.mutable_values<float>()[r * k + c] = 2 * v[r * k + c];
        sums.mutable_values<float>()[r] += v[r * k + c];
      }
    }
    outputs = {doubled, sums};
    return absl::OkStatus();
  }
  const std::vector<engine::TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<engine::TensorInfo>& outputs() const override { return outputs_; }

 private:
  Probe* probe_;
  std::vector<engine::TensorInfo> inputs_, outputs_;
};

// x[r][c] = base + r + c / 1000: every row of every request is recognisable.
float Element(float base, int64_t r, int64_t c) { return base + static_cast<float>(r) + static_cast<float>(c) / 1000; }

InferenceRequest MakeRequest(const std::string& id, int64_t rows, int64_t k, float base) {
  InferenceRequest request;
  request.id = id;
  request.model = "fake";
  request.version = 1;
  std::vector<float> values;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < k; ++c) values.push_back(Element(base, r, c));
  }
  request.inputs.push_back({"x", Tensor::FromVector<float>({rows, k}, values)});
  return request;
}

// The answer of a request made by MakeRequest(id, rows, k, base) is exactly its own rows.
void ExpectOwnAnswer(const InferenceResult& r, int64_t rows, int64_t k, float base) {
  ASSERT_TRUE(r.status.ok()) << r.response.id << ": " << r.status;
  ASSERT_EQ(r.response.outputs.size(), 2u) << r.response.id;
  const Tensor& doubled = r.response.outputs[0].tensor;
  const Tensor& sums = r.response.outputs[1].tensor;
  ASSERT_EQ(doubled.shape(), (Shape{rows, k})) << r.response.id;
  ASSERT_EQ(sums.shape(), (Shape{rows, 1})) << r.response.id;
  for (int64_t row = 0; row < rows; ++row) {
    float sum = 0;
    for (int64_t c = 0; c < k; ++c) {
      ASSERT_EQ(doubled.values<float>()[row * k + c], 2 * Element(base, row, c)) << r.response.id;
      sum += Element(base, row, c);
    }
    ASSERT_FLOAT_EQ(sums.values<float>()[row], sum) << r.response.id;
  }
}

class BatchingTest : public ::testing::Test {
 protected:
  void TearDown() override {
    probe.OpenGate();
    scheduler.reset();
  }

  bool Start(int instances, SchedulerOptions options) {
    std::vector<std::unique_ptr<ModelInstance>> list;
    for (int i = 0; i < instances; ++i) list.push_back(std::make_unique<BatchInstance>(&probe));
    auto created = Scheduler::Create(std::move(list), std::move(options));
    EXPECT_TRUE(created.ok()) << created.status();
    if (created.ok()) scheduler = std::move(*created);
    return scheduler != nullptr;
  }

  static SchedulerOptions Batching(int max_batch, std::vector<int> preferred, std::chrono::microseconds delay) {
    SchedulerOptions options;
    options.batching.max_batch_size = max_batch;
    options.batching.preferred_batch_sizes = std::move(preferred);
    options.batching.max_queue_delay = delay;
    return options;
  }

  // Closes the gate and starts a full batch (max_batch rows of width 1, a shape no test batches, so that
  // its size does not count as compiled for theirs), which runs at once and then holds the only instance
  // until the gate opens.
  void HoldInstance(int max_batch) {
    constexpr int64_t k = 1;
    probe.CloseGate();
    const size_t before = probe.calls().size();
    InferenceRequest blocker = MakeRequest("blocker", max_batch, k, 1000);
    blocker.deadline = Clock::now() + kForever;  // immune to a short default timeout
    ASSERT_TRUE(scheduler->Submit(std::move(blocker), results.Callback()).ok());
    ASSERT_TRUE(probe.WaitForCalls(before + 1));
  }

  void Submit(const std::string& id, int64_t rows, int64_t k, float base) {
    ASSERT_TRUE(scheduler->Submit(MakeRequest(id, rows, k, base), results.Callback()).ok()) << id;
  }

  Probe probe;
  Results results;
  std::unique_ptr<Scheduler> scheduler;
};

TEST_F(BatchingTest, QueuedCompatibleRequestsRunAsOneCall) {
  ASSERT_TRUE(Start(1, Batching(8, {}, std::chrono::microseconds(0))));
  HoldInstance(8);
  for (int i = 0; i < 5; ++i) Submit(absl::StrCat("r", i), 1, 2, 10.0f * i);
  EXPECT_EQ(scheduler->queue_depth(), 5u);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(6));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{8, 5}));
  // Concatenated in arrival order.
  EXPECT_EQ(probe.calls()[1].first_values, (std::vector<float>{0, 10, 20, 30, 40}));
  for (int i = 0; i < 5; ++i) {
    const InferenceResult r = results.Get(absl::StrCat("r", i));
    ExpectOwnAnswer(r, 1, 2, 10.0f * i);
    EXPECT_EQ(r.timings.batch_size, 5);
    EXPECT_EQ(r.timings.counts_execution, i == 0) << "one engine call counts one execution";
  }
}

TEST_F(BatchingTest, PreferredSizeDispatchesWithoutWaitingAndTheRestWaits) {
  ASSERT_TRUE(Start(1, Batching(8, {4}, kForever)));
  HoldInstance(8);
  for (int i = 0; i < 6; ++i) Submit(absl::StrCat("r", i), 1, 2, 10.0f * i);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(1 + 4));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{8, 4}));
  // r4 and r5 wait for partners (the delay is an hour); two more make the preferred size again.
  EXPECT_EQ(results.count("r4") + results.count("r5"), 0u);
  EXPECT_EQ(scheduler->queue_depth(), 2u);
  Submit("r6", 1, 2, 60);
  Submit("r7", 1, 2, 70);
  ASSERT_TRUE(results.WaitForTotal(1 + 8));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{8, 4, 4}));
  EXPECT_EQ(probe.calls()[2].first_values, (std::vector<float>{40, 50, 60, 70}));
  for (int i = 0; i < 8; ++i) ExpectOwnAnswer(results.Get(absl::StrCat("r", i)), 1, 2, 10.0f * i);
}

TEST_F(BatchingTest, MaxBatchSizeCapsEveryCallAndDrainDispatchesThePartialRest) {
  ASSERT_TRUE(Start(1, Batching(4, {}, kForever)));
  HoldInstance(4);
  for (int i = 0; i < 10; ++i) Submit(absl::StrCat("r", i), 1, 2, 10.0f * i);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(1 + 8));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{4, 4, 4}));
  EXPECT_EQ(results.count("r8") + results.count("r9"), 0u) << "a partial batch waits for the delay";
  scheduler->Shutdown(/*drain=*/true);  // no partner can come now: the rest runs at once
  EXPECT_EQ(results.total(), 11u);
  // The last 2 rows run padded to 4, a size already compiled for their shape (at most half padding).
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{4, 4, 4, 4}));
  EXPECT_EQ(probe.calls()[3].first_values, (std::vector<float>{80, 90, 0, 0}));
  for (int i = 0; i < 10; ++i) ExpectOwnAnswer(results.Get(absl::StrCat("r", i)), 1, 2, 10.0f * i);
}

TEST_F(BatchingTest, MultiRowRequestsFillBatchesByRowsNotRequests) {
  ASSERT_TRUE(Start(1, Batching(8, {}, std::chrono::microseconds(0))));
  HoldInstance(8);
  Submit("a", 3, 2, 100);
  Submit("b", 4, 2, 200);
  Submit("c", 2, 2, 300);  // 3 + 4 + 2 > 8: waits for the next call
  Submit("d", 1, 2, 400);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(5));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{8, 7, 3}));
  ExpectOwnAnswer(results.Get("a"), 3, 2, 100);
  ExpectOwnAnswer(results.Get("b"), 4, 2, 200);
  ExpectOwnAnswer(results.Get("c"), 2, 2, 300);
  ExpectOwnAnswer(results.Get("d"), 1, 2, 400);
  EXPECT_EQ(results.Get("b").timings.batch_size, 7);
}

TEST_F(BatchingTest, IncompatibleShapesAreNeverMixed) {
  ASSERT_TRUE(Start(1, Batching(8, {}, std::chrono::microseconds(0))));
  HoldInstance(8);
  Submit("a0", 1, 2, 0);
  Submit("b0", 1, 3, 10);
  Submit("a1", 2, 2, 20);
  Submit("b1", 1, 3, 30);
  Submit("a2", 1, 2, 40);
  // Same dims but another dtype: never batched with the FP32 ones either.
  InferenceRequest int_request;
  int_request.id = "i0";
  int_request.model = "fake";
  int_request.inputs.push_back({"x", Tensor::FromVector<int32_t>({1, 2}, {7, 8})});
  ASSERT_TRUE(scheduler->Submit(std::move(int_request), results.Callback()).ok());
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(7));
  const std::vector<Call> calls = probe.calls();
  ASSERT_EQ(calls.size(), 4u);
  // The oldest request's shape first, taking its compatible later requests past the other shape.
  EXPECT_EQ(calls[1].shape, (Shape{4, 2}));
  EXPECT_EQ(calls[1].first_values, (std::vector<float>{0, 20, 21, 40}));
  EXPECT_EQ(calls[2].shape, (Shape{2, 3}));
  EXPECT_EQ(calls[2].first_values, (std::vector<float>{10, 30}));
  EXPECT_EQ(calls[3].shape, (Shape{1, 2}));  // the INT32 request, alone (the fake reads it as FP32 bits)
  ExpectOwnAnswer(results.Get("a0"), 1, 2, 0);
  ExpectOwnAnswer(results.Get("b0"), 1, 3, 10);
  ExpectOwnAnswer(results.Get("a1"), 2, 2, 20);
  ExpectOwnAnswer(results.Get("b1"), 1, 3, 30);
  ExpectOwnAnswer(results.Get("a2"), 1, 2, 40);
  EXPECT_EQ(results.Get("i0").timings.batch_size, 1);
}

TEST_F(BatchingTest, EachRequestGetsItsOwnOutputSelectionAndBinaryFlags) {
  ASSERT_TRUE(Start(1, Batching(8, {}, std::chrono::microseconds(0))));
  HoldInstance(8);
  InferenceRequest all = MakeRequest("all", 1, 2, 0);
  all.binary_outputs = true;
  InferenceRequest sums = MakeRequest("sums", 3, 2, 10);
  sums.outputs = {{"row_sum", true}};
  InferenceRequest both = MakeRequest("both", 2, 2, 20);
  both.outputs = {{"row_sum", false}, {"double", true}};
  for (InferenceRequest* r : {&all, &sums, &both}) {
    ASSERT_TRUE(scheduler->Submit(std::move(*r), results.Callback()).ok());
  }
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(4));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{8, 6}));

  InferenceResult r = results.Get("all");
  ExpectOwnAnswer(r, 1, 2, 0);
  for (const auto& output : r.response.outputs) EXPECT_TRUE(output.binary) << output.name;

  r = results.Get("sums");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.response.outputs.size(), 1u);
  EXPECT_EQ(r.response.outputs[0].name, "row_sum");
  EXPECT_TRUE(r.response.outputs[0].binary);
  EXPECT_EQ(r.response.outputs[0].tensor.shape(), (Shape{3, 1}));
  EXPECT_FLOAT_EQ(r.response.outputs[0].tensor.values<float>()[2], Element(10, 2, 0) + Element(10, 2, 1));

  r = results.Get("both");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.response.outputs.size(), 2u);
  EXPECT_EQ(r.response.outputs[0].name, "row_sum");
  EXPECT_FALSE(r.response.outputs[0].binary);
  EXPECT_EQ(r.response.outputs[1].name, "double");
  EXPECT_TRUE(r.response.outputs[1].binary);
  EXPECT_EQ(r.response.outputs[1].tensor.shape(), (Shape{2, 2}));
  EXPECT_EQ(r.response.outputs[1].tensor.values<float>()[3], 2 * Element(20, 1, 1));
}

TEST_F(BatchingTest, LoneRequestWaitsAtLeastTheQueueDelay) {
  const auto delay = milliseconds(50);
  ASSERT_TRUE(Start(1, Batching(8, {}, delay)));
  const auto submitted = std::chrono::steady_clock::now();
  Submit("lone", 1, 2, 5);
  ASSERT_TRUE(results.WaitForTotal(1));
  const InferenceResult r = results.Get("lone");
  ExpectOwnAnswer(r, 1, 2, 5);
  EXPECT_EQ(r.timings.batch_size, 1);
  // A lower bound the rule guarantees (nothing else could have dispatched it earlier), not a timing.
  EXPECT_GE(r.timings.queue_ns, std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count());
  EXPECT_GE(std::chrono::steady_clock::now() - submitted, delay);
}

// Rule 6: after a gap longer than the delay, a lone request goes at once instead of waiting for partners
// that arrivals this sparse will not bring. Shown by a deadline shorter than the delay (by a second either
// way, so no timing decides the outcome): waiting would have expired it.
TEST_F(BatchingTest, SparseArrivalsDoNotWaitForPartners) {
  const auto delay = std::chrono::seconds(2);
  ASSERT_TRUE(Start(1, Batching(8, {}, delay)));
  Submit("first", 1, 2, 0);  // no arrival history yet: waits the whole delay (Triton's rule)
  ASSERT_TRUE(results.WaitForTotal(1));
  EXPECT_GE(results.Get("first").timings.queue_ns, std::chrono::nanoseconds(delay).count());
  InferenceRequest second = MakeRequest("second", 1, 2, 10);  // arrives more than the delay after "first"
  second.deadline = Clock::now() + std::chrono::seconds(1);
  ASSERT_TRUE(scheduler->Submit(std::move(second), results.Callback()).ok());
  ASSERT_TRUE(results.WaitForTotal(2));
  ExpectOwnAnswer(results.Get("second"), 1, 2, 10);
}

TEST_F(BatchingTest, ZeroDelayRunsALoneRequestWithoutWaitingForPartners) {
  ASSERT_TRUE(Start(1, Batching(8, {4, 8}, std::chrono::microseconds(0))));
  Submit("lone", 1, 2, 5);
  ASSERT_TRUE(results.WaitForTotal(1));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{1}));
  ExpectOwnAnswer(results.Get("lone"), 1, 2, 5);
}

TEST_F(BatchingTest, DeadlineExpiresWhileWaitingForBatchPartners) {
  SchedulerOptions options = Batching(8, {}, kForever);
  ASSERT_TRUE(Start(1, options));
  InferenceRequest late = MakeRequest("late", 1, 2, 0);
  late.deadline = Clock::now() + milliseconds(20);
  ASSERT_TRUE(scheduler->Submit(std::move(late), results.Callback()).ok());
  ASSERT_TRUE(results.WaitForTotal(1));  // only the deadline timer can complete it
  const InferenceResult r = results.Get("late");
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDeadlineExceeded) << r.status;
  EXPECT_FALSE(r.timings.counts_execution);
  EXPECT_TRUE(probe.calls().empty()) << "an expired request never runs";
  EXPECT_EQ(scheduler->queue_depth(), 0u);
}

TEST_F(BatchingTest, DefaultQueueTimeoutIsHonouredWhileBatching) {
  SchedulerOptions options = Batching(8, {}, kForever);
  options.default_timeout = std::chrono::microseconds(20'000);
  ASSERT_TRUE(Start(1, options));
  HoldInstance(8);
  Submit("timed", 1, 2, 0);
  InferenceRequest patient = MakeRequest("patient", 1, 2, 10);
  patient.deadline = Clock::now() + kForever;
  ASSERT_TRUE(scheduler->Submit(std::move(patient), results.Callback()).ok());
  ASSERT_TRUE(results.WaitForTotal(1));
  EXPECT_EQ(results.Get("timed").status.code(), absl::StatusCode::kDeadlineExceeded);
  probe.OpenGate();
  scheduler->Shutdown(/*drain=*/true);
  ExpectOwnAnswer(results.Get("patient"), 1, 2, 10);
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{8, 1}));
}

TEST_F(BatchingTest, CancelledRequestIsLeftOutOfTheBatch) {
  ASSERT_TRUE(Start(1, Batching(8, {}, std::chrono::microseconds(0))));
  HoldInstance(8);
  Submit("r0", 1, 2, 0);
  InferenceRequest doomed = MakeRequest("doomed", 1, 2, 10);
  auto flag = std::make_shared<CancellationFlag>();
  doomed.cancelled = flag;
  ASSERT_TRUE(scheduler->Submit(std::move(doomed), results.Callback()).ok());
  Submit("r2", 1, 2, 20);
  flag->Cancel();
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(4));
  EXPECT_EQ(results.Get("doomed").status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(probe.calls()[1].first_values, (std::vector<float>{0, 20}));
  ExpectOwnAnswer(results.Get("r2"), 1, 2, 20);
}

TEST_F(BatchingTest, FullQueueRejectsAndAFullQueueDispatchesAtOnce) {
  SchedulerOptions options = Batching(8, {}, kForever);
  options.max_queue_size = 3;
  ASSERT_TRUE(Start(1, options));
  HoldInstance(8);
  for (int i = 0; i < 3; ++i) Submit(absl::StrCat("r", i), 1, 2, 10.0f * i);
  const absl::Status rejected = scheduler->Submit(MakeRequest("r3", 1, 2, 30), results.Callback());
  EXPECT_EQ(rejected.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(rejected.message().find("is full (3 requests)"), absl::string_view::npos) << rejected;
  probe.OpenGate();
  // Nothing can join a full queue, so its 3 requests go without waiting the hour.
  ASSERT_TRUE(results.WaitForTotal(4));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{8, 3}));
  EXPECT_EQ(results.count("r3"), 0u);
}

TEST_F(BatchingTest, EngineErrorFailsEveryRequestOfTheCallOnly) {
  ASSERT_TRUE(Start(1, Batching(8, {}, std::chrono::microseconds(0))));
  HoldInstance(8);
  Submit("ok0", 1, 2, 0);
  Submit("bad", 1, 2, kFailValue);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(3));
  EXPECT_EQ(results.Get("ok0").status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(results.Get("bad").status.message(), "bad value in x");
  EXPECT_TRUE(results.Get("bad").response.outputs.empty());
  Submit("after", 1, 2, 50);
  ASSERT_TRUE(results.WaitForTotal(4));
  ExpectOwnAnswer(results.Get("after"), 1, 2, 50);
}

TEST_F(BatchingTest, WarmsBatchSizesAtCreateThenPadsToThemAndReturnsOnlyRealRows) {
  SchedulerOptions options = Batching(8, {4, 8}, std::chrono::microseconds(0));
  options.batching.warm_batch_sizes = {1, 4, 8};
  options.batching.warm_row = {Tensor::FromVector<float>({1, 2}, {7, 7.5f})};
  ASSERT_TRUE(Start(1, options));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{1, 4, 8})) << "warmed at Create, before any request";
  HoldInstance(8);
  for (int i = 0; i < 3; ++i) Submit(absl::StrCat("r", i), 1, 2, 10.0f * i);
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(4));
  ASSERT_EQ(probe.rows(), (std::vector<int64_t>{1, 4, 8, 8, 4})) << "3 rows run padded to the compiled 4";
  EXPECT_EQ(probe.calls()[4].first_values, (std::vector<float>{0, 10, 20, 0})) << "the padding row is zeros";
  for (int i = 0; i < 3; ++i) {
    const InferenceResult r = results.Get(absl::StrCat("r", i));
    ExpectOwnAnswer(r, 1, 2, 10.0f * i);
    EXPECT_EQ(r.timings.batch_size, 3) << "padding rows are not counted";
  }
  // A lone 3-row request is padded too; a 5-row one goes to 8 (at most half padding).
  Submit("three", 3, 2, 100);
  ASSERT_TRUE(results.WaitForTotal(5));
  Submit("five", 5, 2, 200);
  ASSERT_TRUE(results.WaitForTotal(6));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{1, 4, 8, 8, 4, 4, 8}));
  ExpectOwnAnswer(results.Get("three"), 3, 2, 100);
  ExpectOwnAnswer(results.Get("five"), 5, 2, 200);
}

TEST_F(BatchingTest, CompilesASizeWhenPaddingWouldBeMostlyWaste) {
  SchedulerOptions options = Batching(8, {}, std::chrono::microseconds(0));
  options.batching.warm_batch_sizes = {1, 8};
  options.batching.warm_row = {Tensor::FromVector<float>({1, 2}, {1, 2})};
  ASSERT_TRUE(Start(1, options));
  Submit("two", 2, 2, 0);
  ASSERT_TRUE(results.WaitForTotal(1));
  Submit("two_again", 2, 2, 10);
  ASSERT_TRUE(results.WaitForTotal(2));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{1, 8, 2, 2})) << "2 of 8 would be 75% padding: run (compile) 2";
}

TEST_F(BatchingTest, WarmUpFailureFailsCreate) {
  SchedulerOptions options = Batching(8, {}, std::chrono::microseconds(0));
  options.batching.warm_batch_sizes = {1, 4};
  options.batching.warm_row = {Tensor::FromVector<float>({1, 2}, {kFailValue, 0})};
  std::vector<std::unique_ptr<ModelInstance>> list;
  list.push_back(std::make_unique<BatchInstance>(&probe));
  auto created = Scheduler::Create(std::move(list), options);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(created.status().message().find("warming batch size 1"), absl::string_view::npos) << created.status();

  SchedulerOptions too_big = Batching(4, {8}, std::chrono::microseconds(0));
  list.push_back(std::make_unique<BatchInstance>(&probe));
  EXPECT_EQ(Scheduler::Create(std::move(list), too_big).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BatchingTest, DecisionOutputUsesEachRequestsOwnThreshold) {
  config::ModelConfig config;
  (*config.mutable_parameters())["decision_threshold"].set_string_value("5");
  (*config.mutable_parameters())["decision_source"].set_string_value("row_sum");
  BatchInstance shape_only(&probe);
  auto derived = DerivedOutputs::FromConfig(config, shape_only.outputs());
  ASSERT_TRUE(derived.ok()) << derived.status();
  SchedulerOptions options = Batching(8, {}, std::chrono::microseconds(0));
  options.derived_outputs = *derived;
  ASSERT_TRUE(Start(1, options));
  HoldInstance(8);
  // Row sums: base + (base + 0.001) for k = 2, i.e. about 2 * base.
  InferenceRequest by_default = MakeRequest("default", 2, 2, 2);  // sums 4.001, 6.003 vs 5
  InferenceRequest strict = MakeRequest("strict", 2, 2, 2);      // vs 100
  Parameter high;
  high.kind = Parameter::Kind::kDouble;
  high.double_value = 100;
  strict.parameters.emplace_back("decision_threshold", high);
  InferenceRequest lenient = MakeRequest("lenient", 1, 2, 2);  // vs 0 (an int parameter)
  Parameter zero;
  zero.kind = Parameter::Kind::kInt;
  zero.int_value = 0;
  lenient.parameters.emplace_back("decision_threshold", zero);
  lenient.outputs = {{"decision", false}};
  for (InferenceRequest* r : {&by_default, &strict, &lenient}) {
    ASSERT_TRUE(scheduler->Submit(std::move(*r), results.Callback()).ok());
  }
  probe.OpenGate();
  ASSERT_TRUE(results.WaitForTotal(4));
  EXPECT_EQ(probe.rows(), (std::vector<int64_t>{8, 5})) << "one engine call for all three";

  auto decisions = [&](const std::string& id) {
    const InferenceResult r = results.Get(id);
    EXPECT_TRUE(r.status.ok()) << id << ": " << r.status;
    std::vector<int> out;
    for (const auto& o : r.response.outputs) {
      if (o.name != "decision") continue;
      EXPECT_EQ(o.tensor.dtype(), DataType::kBool);
      for (uint8_t v : o.tensor.values<uint8_t>()) out.push_back(v);
    }
    return out;
  };
  EXPECT_EQ(decisions("default"), (std::vector<int>{0, 1}));
  EXPECT_EQ(decisions("strict"), (std::vector<int>{0, 0}));
  EXPECT_EQ(decisions("lenient"), (std::vector<int>{1}));
  EXPECT_EQ(results.Get("default").response.outputs.size(), 3u) << "double, row_sum, decision";
  EXPECT_EQ(results.Get("lenient").response.outputs.size(), 1u);
}

// Many submitters, two shapes, 1-3 rows, random deadlines and cancellations, a small queue, three
// instances: every accepted request completes exactly once with its own rows, no rejected one ever
// completes, no call mixes shapes or exceeds max_batch_size.
TEST_F(BatchingTest, StressEveryAcceptedRequestCompletesExactlyOnceWithItsOwnRows) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 400;
  constexpr int kMaxBatch = 8;
  constexpr float kWarmValue = -7;  // warm-up rows; padding rows are 0
  SchedulerOptions options = Batching(kMaxBatch, {4}, std::chrono::microseconds(200));
  options.max_queue_size = 32;
  options.batching.warm_batch_sizes = {1, 4, 8};  // width 2 pads, width 3 compiles
  options.batching.warm_row = {Tensor::FromVector<float>({1, 2}, {kWarmValue, kWarmValue})};
  ASSERT_TRUE(Start(3, options));

  struct Sent {
    int64_t rows, k;
    float base;
  };
  std::vector<std::map<std::string, Sent>> accepted(kThreads);
  std::vector<std::vector<std::string>> rejected(kThreads);
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      std::mt19937 rng(4321 + t);
      std::uniform_int_distribution<int> pick(0, 99), rows(1, 3), width(2, 3), micros(0, 2000);
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = absl::StrCat("t", t, "-", i);
        const Sent sent{rows(rng), width(rng), static_cast<float>((t * kPerThread + i + 1) * 8)};
        InferenceRequest request = MakeRequest(id, sent.rows, sent.k, sent.base);
        const int kind = pick(rng);
        std::shared_ptr<CancellationFlag> flag;
        if (kind < 20) request.deadline = Clock::now() + std::chrono::microseconds(micros(rng));
        if (kind >= 90) {
          flag = std::make_shared<CancellationFlag>();
          request.cancelled = flag;
        }
        if (scheduler->Submit(std::move(request), results.Callback()).ok()) {
          accepted[t].emplace(id, sent);
        } else {
          rejected[t].push_back(id);
          std::this_thread::yield();
        }
        if (flag) flag->Cancel();  // after submission: may or may not have run
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
  size_t ok = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (const auto& [id, sent] : accepted[t]) {
      auto it = all.find(id);
      ASSERT_TRUE(it != all.end()) << id << " was lost";
      ASSERT_EQ(it->second.size(), 1u) << id << " completed more than once";
      const InferenceResult& r = it->second.front();
      const auto code = r.status.code();
      ASSERT_TRUE(code == absl::StatusCode::kOk || code == absl::StatusCode::kDeadlineExceeded ||
                  code == absl::StatusCode::kCancelled)
          << id << ": " << r.status;
      if (r.status.ok()) {
        ExpectOwnAnswer(r, sent.rows, sent.k, sent.base);
        ++ok;
      }
    }
    for (const std::string& id : rejected[t]) EXPECT_EQ(all.count(id), 0u) << id << " was rejected yet completed";
  }
  // Each call holds one shape: every row's first value identifies its request, whose width must match.
  std::map<float, int64_t> width_of_row;
  for (const auto& sent_by_id : accepted) {
    for (const auto& [id, sent] : sent_by_id) {
      for (int64_t r = 0; r < sent.rows; ++r) width_of_row[Element(sent.base, r, 0)] = sent.k;
    }
  }
  size_t batched_calls = 0;
  for (const Call& call : probe.calls()) {
    EXPECT_LE(call.shape[0], kMaxBatch);
    batched_calls += call.first_values.size() > 3;
    for (float first : call.first_values) {
      if (first == kWarmValue || first == 0) continue;
      auto it = width_of_row.find(first);
      ASSERT_TRUE(it != width_of_row.end()) << "a row no request sent: " << first;
      EXPECT_EQ(it->second, call.shape[1]) << "a call mixed shapes";
    }
  }
  RecordProperty("accepted", static_cast<int>(accepted_total));
  RecordProperty("ok", static_cast<int>(ok));
  RecordProperty("calls", static_cast<int>(probe.calls().size()));
  RecordProperty("calls_over_3_rows", static_cast<int>(batched_calls));
  EXPECT_GT(ok, 0u);
}

// ---- The real model: batched answers equal unbatched ones ----

const char kVoiceModel[] = "/examples/models/voice-verification-small/1/model.onnx";

std::unique_ptr<engine::Session> VoiceSession() {
  engine::SessionOptions options;
  options.threads = 1;
  auto session = engine::Session::Create(std::string(PEREGRINE_SOURCE_DIR) + kVoiceModel, options);
  EXPECT_TRUE(session.ok()) << session.status();
  return session.ok() ? std::move(*session) : nullptr;
}

// Counts engine calls and their rows, around the real session.
class CountingInstance final : public ModelInstance {
 public:
  CountingInstance(std::unique_ptr<ModelInstance> inner, std::vector<int64_t>* rows, std::mutex* mu)
      : inner_(std::move(inner)), rows_(rows), mu_(mu) {}
  absl::Status Run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) override {
    {
      std::lock_guard lock(*mu_);
      rows_->push_back(inputs[0].shape()[0]);
    }
    return inner_->Run(inputs, outputs);
  }
  const std::vector<engine::TensorInfo>& inputs() const override { return inner_->inputs(); }
  const std::vector<engine::TensorInfo>& outputs() const override { return inner_->outputs(); }

 private:
  std::unique_ptr<ModelInstance> inner_;
  std::vector<int64_t>* rows_;
  std::mutex* mu_;
};

Tensor RandomMfcc(std::mt19937& rng) {
  std::normal_distribution<float> normal(0, 1);
  Tensor t = Tensor::Zeros(DataType::kFloat32, {1, 1, 40, 241});
  for (float& v : t.mutable_values<float>()) v = normal(rng);
  return t;
}

TEST(RealModelBatchingTest, EachRequestInABatchGetsItsOwnUnbatchedAnswer) {
  std::unique_ptr<engine::Session> direct = VoiceSession();
  std::unique_ptr<engine::Session> served = VoiceSession();
  ASSERT_TRUE(direct && served);
  std::mt19937 rng(11);
  constexpr int kRequests = 7;  // batches of 4 (preferred) and 3 (padded to the compiled 4)
  std::vector<Tensor> mfcc;
  std::vector<float> expected;
  for (int i = 0; i < kRequests; ++i) {
    mfcc.push_back(RandomMfcc(rng));
    std::vector<Tensor> out;
    const std::vector<Tensor> in = {mfcc.back()};
    ASSERT_TRUE(direct->Run(in, out).ok());
    ASSERT_EQ(out.size(), 1u);
    expected.push_back(out[0].values<float>()[0]);
  }

  std::vector<int64_t> rows;
  std::mutex rows_mu;
  std::vector<std::unique_ptr<ModelInstance>> instances;
  instances.push_back(std::make_unique<CountingInstance>(MakeSessionInstance(std::move(served)), &rows, &rows_mu));
  SchedulerOptions options;
  options.batching.max_batch_size = 8;
  options.batching.preferred_batch_sizes = {4, 8};
  options.batching.max_queue_delay = kForever;  // batches form by size only: deterministic
  options.batching.warm_batch_sizes = {1, 4, 8};
  options.batching.warm_row = {mfcc[0]};
  config::ModelConfig config;
  (*config.mutable_parameters())["decision_threshold"].set_string_value("0.5");
  auto derived = DerivedOutputs::FromConfig(config, instances[0]->outputs());
  ASSERT_TRUE(derived.ok()) << derived.status();
  options.derived_outputs = *derived;
  auto created = Scheduler::Create(std::move(instances), options);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<Scheduler> scheduler = std::move(*created);

  Results results;
  auto submit = [&](int i) {
    InferenceRequest request;
    request.id = absl::StrCat("v", i);
    request.model = "voice-verification-small";
    request.inputs.push_back({"mfcc", mfcc[i]});
    return scheduler->Submit(std::move(request), results.Callback()).ok();
  };
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(submit(i));  // the 4th makes the preferred size
  ASSERT_TRUE(results.WaitForTotal(4));
  for (int i = 4; i < kRequests; ++i) ASSERT_TRUE(submit(i));
  scheduler->Shutdown(/*drain=*/true);  // the last 3 go now, padded to 4
  ASSERT_EQ(results.total(), static_cast<size_t>(kRequests));
  {
    std::lock_guard lock(rows_mu);
    EXPECT_EQ(rows, (std::vector<int64_t>{1, 4, 8, 4, 4})) << "warm-up 1, 4, 8; then 4 and 3 padded to 4";
  }
  for (int i = 0; i < kRequests; ++i) {
    const InferenceResult r = results.Get(absl::StrCat("v", i));
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_EQ(r.response.outputs.size(), 2u);
    EXPECT_EQ(r.response.outputs[0].name, "score");
    ASSERT_EQ(r.response.outputs[0].tensor.shape(), (Shape{1, 1}));
    const float score = r.response.outputs[0].tensor.values<float>()[0];
    // Batch size changes oneDNN's blocking, hence the summation order: equal up to rounding.
    EXPECT_NEAR(score, expected[i], 1e-5) << "request " << i;
    EXPECT_EQ(r.response.outputs[1].name, "decision");
    EXPECT_EQ(r.response.outputs[1].tensor.values<uint8_t>()[0], score >= 0.5f ? 1 : 0) << "request " << i;
  }
  // The answers differ between requests: a mix-up would not go unnoticed.
  EXPECT_GT(*std::max_element(expected.begin(), expected.end()) - *std::min_element(expected.begin(), expected.end()),
            1e-3);
}

}  // namespace
}  // namespace peregrine::serving
