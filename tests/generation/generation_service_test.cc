// GenerationService: continuous batching over the example step model (examples/models/textgen-lstm).
// Every wait is bounded; the tests steer the service's threads through its callbacks (a callback that
// blocks holds its thread) and an injected clock, never through sleeps.
#include "serving/generation_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>

#include "generation/generator.h"
#include "metrics/metrics.h"
#include "serving/generation_config.h"
#include "serving/model_config.h"

namespace peregrine::serving {
namespace {

namespace fs = std::filesystem;
using generation::FinishReason;

const fs::path kModelDir = fs::path(PEREGRINE_SOURCE_DIR) / "examples/models/textgen-lstm";
const fs::path kModel = kModelDir / "1/model.onnx";
const fs::path kReference = fs::path(PEREGRINE_SOURCE_DIR) / "examples/textgen-lstm/reference/greedy.json";
constexpr auto kWait = std::chrono::seconds(60);

// Reads the integers of a JSON array field, enough for reference/greedy.json.
std::vector<int64_t> JsonInts(const std::string& json, const std::string& field) {
  std::vector<int64_t> out;
  size_t at = json.find("\"" + field + "\"");
  if (at == std::string::npos) return out;
  const size_t open = json.find('[', at);
  std::istringstream in(json.substr(open + 1, json.find(']', at) - open - 1));
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoll(item));
  return out;
}

std::string JsonString(const std::string& json, const std::string& field) {
  size_t at = json.find("\"" + field + "\"");
  size_t open = json.find('"', json.find(':', at)) + 1;
  return json.substr(open, json.find('"', open) - open);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A clock the test moves by hand.
struct FakeClock {
  std::atomic<int64_t> offset_ns{0};
  Clock::time_point start = Clock::now();
  Clock::time_point Now() const { return start + std::chrono::nanoseconds(offset_ns.load()); }
  void Advance(std::chrono::nanoseconds by) { offset_ns += by.count(); }
};

// A vocabulary, sessions and options for the example model, with a small batch capacity so that the
// service's warm-up (one plan per batch size) stays short.
struct ExampleService {
  GenerationServiceOptions options;
  metrics::Registry registry;

  explicit ExampleService(int capacity = 10, size_t max_queued = 64) {
    auto vocab = generation::Vocabulary::Load((kModelDir / "vocab.txt").string(), {"<pad>", "<unk>", "<eos>"}, "<unk>");
    EXPECT_TRUE(vocab.ok()) << vocab.status();
    options.model_name = "textgen-lstm";
    options.version = 1;
    options.vocabulary = std::make_shared<const generation::Vocabulary>(*std::move(vocab));
    options.end_id = 2;
    options.limits.max_sequences_per_step = capacity;
    options.limits.max_queued = max_queued;
    // Prompts of more than 3 tokens take several calls when alone; with company, one token per step.
    options.limits.prompt_chunk_tokens = 3;
    options.metrics = &registry;
  }

  std::unique_ptr<GenerationService> Start() {
    engine::SessionOptions session_options;
    session_options.threads = 1;
    session_options.max_cached_plans = 64;
    auto decode = engine::Session::Create(kModel.string(), session_options);
    auto chunk = engine::Session::Create(kModel.string(), session_options);
    EXPECT_TRUE(decode.ok() && chunk.ok());
    auto service = GenerationService::Create(options, *std::move(decode), *std::move(chunk));
    EXPECT_TRUE(service.ok()) << service.status();
    return service.ok() ? *std::move(service) : nullptr;
  }
};

// One submitted generation and what came back.
// `streamed` belongs to the service's threads until Get() returns; `events` may be read any time. The
// callbacks share ownership, so an Outcome outlives the service's last touch of it.
struct Outcome : std::enable_shared_from_this<Outcome> {
  std::promise<GenerationResult> promise;
  std::future<GenerationResult> future = promise.get_future();
  std::vector<int64_t> streamed;
  std::atomic<int> events{0};  // tokens and done

  GenerationCallbacks Callbacks(std::function<void(int64_t, size_t)> on_token = nullptr) {
    GenerationCallbacks callbacks;
    callbacks.on_token = [self = shared_from_this(), on_token](int64_t token) {
      self->streamed.push_back(token);
      ++self->events;
      if (on_token) on_token(token, self->streamed.size());
    };
    callbacks.done = [self = shared_from_this()](GenerationResult&& result) {
      ++self->events;
      self->promise.set_value(std::move(result));
    };
    return callbacks;
  }

  GenerationResult Get() {
    if (future.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "generation did not finish in time";
      GenerationResult timed_out;
      timed_out.status = absl::DeadlineExceededError("test wait");
      return timed_out;
    }
    return future.get();
  }
};

GenerationRequest Request(const generation::Vocabulary& vocab, const std::string& text, int max_tokens,
                          generation::SamplingParams sampling = {}) {
  GenerationRequest request;
  request.prompt = vocab.Encode(text);
  request.max_tokens = max_tokens;
  request.sampling = sampling;
  return request;
}

// Runs one request alone and returns its result.
GenerationResult RunAlone(GenerationService& service, GenerationRequest request) {
  auto outcome = std::make_shared<Outcome>();
  EXPECT_TRUE(service.Submit(std::move(request), outcome->Callbacks()).ok());
  GenerationResult result = outcome->Get();
  EXPECT_EQ(outcome->streamed, result.tokens) << "streamed tokens differ from the result";
  return result;
}

// A latch the service's callbacks wait on; bounded, so a broken test fails instead of hanging.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, kWait, [&] { return open_; })) << "gate never opened";
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Polls `condition` (the service's counters) until true, up to kWait.
bool Eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::yield();
  }
  return false;
}

TEST(GenerationServiceTest, GreedyMatchesPyTorchTokenForToken) {
  const std::string json = ReadFile(kReference);
  const std::vector<int64_t> expected = JsonInts(json, "generated_token_ids");
  ASSERT_EQ(expected.size(), 20u);

  // Built from the example's config.pbtxt, as the server builds it.
  auto config = ParseModelConfig(ReadFile(kModelDir / "config.pbtxt"), "config.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  auto session = engine::Session::Create(kModel.string(), {});
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE(CompleteModelConfig("textgen-lstm", (*session)->inputs(), (*session)->outputs(), true, {}, *config).ok());
  config->mutable_generation()->set_max_sequences_per_step(4);  // a short warm-up
  GenerationBuildOptions build;
  build.model_name = "textgen-lstm";
  build.version = 1;
  build.model_dir = kModelDir;
  build.model_path = kModel;
  auto service = BuildGenerationService(*config, build);
  ASSERT_TRUE(service.ok()) << service.status();

  GenerationRequest request;
  request.prompt = (*service)->vocabulary().Encode(JsonString(json, "prompt"));
  ASSERT_EQ(request.prompt, JsonInts(json, "prompt_token_ids"));
  for (int repeat = 0; repeat < 2; ++repeat) {
    GenerationResult result = RunAlone(**service, request);  // max_tokens from the config: 20
    ASSERT_TRUE(result.status.ok()) << result.status;
    EXPECT_EQ(result.tokens, expected) << "run " << repeat;
    EXPECT_EQ(result.finish_reason, FinishReason::kLength);
    EXPECT_EQ((*service)->vocabulary().Decode(result.tokens), JsonString(json, "generated_text"));
    EXPECT_EQ(result.prompt_tokens, 4);
    EXPECT_GT(result.total_ns, 0);
    EXPECT_LE(result.first_token_ns, result.total_ns);
  }
}

TEST(GenerationServiceTest, SeededSamplingIsReproducibleAndMatchesTheSingleSequenceLoop) {
  ExampleService setup;
  auto service = setup.Start();
  ASSERT_NE(service, nullptr);
  const generation::Vocabulary& vocab = *setup.options.vocabulary;
  const generation::SamplingParams sampling{0.9f, 40, 0.95f, 1234};
  GenerationResult a = RunAlone(*service, Request(vocab, "The acting is wonderful, and the", 30, sampling));
  GenerationResult b = RunAlone(*service, Request(vocab, "The acting is wonderful, and the", 30, sampling));
  ASSERT_TRUE(a.status.ok()) << a.status;
  EXPECT_EQ(a.tokens, b.tokens);
  generation::SamplingParams other = sampling;
  other.seed = 99;
  GenerationResult c = RunAlone(*service, Request(vocab, "The acting is wonderful, and the", 30, other));
  EXPECT_NE(a.tokens, c.tokens) << "a different seed should sample differently";

  // The in-process single-sequence loop (generation/generator.h) gives the same tokens.
  auto session = engine::Session::Create(kModel.string(), {});
  ASSERT_TRUE(session.ok());
  auto generator = generation::Generator::Create(session->get(), generation::StepModelSpec{});
  ASSERT_TRUE(generator.ok());
  generation::GenerateRequest plain;
  plain.prompt = vocab.Encode("The acting is wonderful, and the");
  plain.max_new_tokens = 30;
  plain.sampling = sampling;
  plain.stop_ids = {2};
  auto expected = (*generator)->Generate(plain);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(a.tokens, expected->tokens);
}

// From the batch-size histogram: the largest bucket bound that some step exceeded (0 if none did).
double LargestBatchExceeded(const metrics::Registry& registry) {
  const std::string text = registry.Exposition();
  std::string line;
  uint64_t count = 0;
  std::istringstream counts(text);
  while (std::getline(counts, line)) {
    if (line.rfind("peregrine_generate_batch_size_count", 0) == 0)
      count = std::stoull(line.substr(line.rfind(' ') + 1));
  }
  double exceeded = 0;
  std::istringstream buckets(text);
  while (std::getline(buckets, line)) {
    if (line.rfind("peregrine_generate_batch_size_bucket", 0) != 0 || line.find("+Inf") != std::string::npos) continue;
    const double bound = std::stod(line.substr(line.find("le=\"") + 4));
    if (std::stoull(line.substr(line.rfind(' ') + 1)) < count) exceeded = std::max(exceeded, bound);
  }
  return exceeded;
}

TEST(GenerationServiceTest, BatchedRunsGiveTheSameTokensAsRunsAlone) {
  ExampleService setup(/*capacity=*/10);
  auto service = setup.Start();
  ASSERT_NE(service, nullptr);
  const generation::Vocabulary& vocab = *setup.options.vocabulary;
  struct Case {
    std::string text;
    int max_tokens;
    generation::SamplingParams sampling;
  };
  const std::vector<Case> cases = {
      {"Movie is great.", 20, {}},
      {"What a dull remake!", 35, {}},
      {"Truly wonderful.", 7, {0.8f, 0, 1.f, 1}},
      {"The acting is wonderful, and the", 50, {1.0f, 20, 0.9f, 2}},
      {"I", 12, {}},
      {"The plot is a mess and the ending drags on forever", 28, {0.7f, 5, 1.f, 3}},
      {"zebra quantum", 16, {}},  // unknown words
      {"Movie is great.", 40, {1.2f, 0, 0.8f, 4}},
  };
  // Alone, each prompt goes in calls of up to 3 tokens; together, one token per batched step.
  std::vector<GenerationResult> alone;
  for (const Case& c : cases) alone.push_back(RunAlone(*service, Request(vocab, c.text, c.max_tokens, c.sampling)));

  // Together: an anchor sequence holds the step thread (its second token arrives there) while every case
  // is queued, so that all of them join the batch at once and are stepped together.
  Gate release;
  auto anchor = std::make_shared<Outcome>();
  std::atomic<bool> held{false};
  ASSERT_TRUE(service
                  ->Submit(Request(vocab, "Movie is great.", 200), anchor->Callbacks([&](int64_t, size_t n) {
                    if (n == 2 && !held.exchange(true)) release.Wait();
                  }))
                  .ok());
  ASSERT_TRUE(Eventually([&] { return held.load(); }));
  std::vector<std::shared_ptr<Outcome>> together;
  for (const Case& c : cases) {
    together.push_back(std::make_shared<Outcome>());
    ASSERT_TRUE(service->Submit(Request(vocab, c.text, c.max_tokens, c.sampling), together.back()->Callbacks()).ok());
  }
  EXPECT_EQ(service->queued(), cases.size());
  EXPECT_EQ(service->active(), 1u);
  for (const auto& o : together) EXPECT_EQ(o->events.load(), 0) << "a case ran while the step thread was held";
  release.Open();
  for (size_t i = 0; i < cases.size(); ++i) {
    GenerationResult result = together[i]->Get();
    ASSERT_TRUE(result.status.ok()) << result.status;
    EXPECT_EQ(result.tokens, alone[i].tokens) << "case " << i << ": " << cases[i].text;
    EXPECT_EQ(result.finish_reason, alone[i].finish_reason) << "case " << i;
    EXPECT_EQ(together[i]->streamed, result.tokens);
  }
  ASSERT_TRUE(anchor->Get().status.ok());
  EXPECT_GE(LargestBatchExceeded(setup.registry), 8) << "the cases were not stepped together";
  EXPECT_TRUE(Eventually([&] { return service->active() == 0; }));
}

// With idle_spin the step thread looks for work a while before it sleeps: requests that arrive while it
// looks and after it went to sleep both run, give the same tokens, and shutdown does not hang.
TEST(GenerationServiceTest, IdleSpinTakesWorkWhileLookingAndAfterSleeping) {
  ExampleService setup(/*capacity=*/2);
  setup.options.limits.idle_spin = std::chrono::milliseconds(30);
  auto service = setup.Start();
  ASSERT_NE(service, nullptr);
  const generation::Vocabulary& vocab = *setup.options.vocabulary;
  const GenerationResult first = RunAlone(*service, Request(vocab, "Movie is great.", 20));
  ASSERT_TRUE(first.status.ok()) << first.status;
  for (auto pause : {std::chrono::milliseconds(0), std::chrono::milliseconds(60)}) {  // looking, asleep
    std::this_thread::sleep_for(pause);
    const GenerationResult again = RunAlone(*service, Request(vocab, "Movie is great.", 20));
    ASSERT_TRUE(again.status.ok()) << again.status;
    EXPECT_EQ(again.tokens, first.tokens);
  }
  const auto start = std::chrono::steady_clock::now();
  service->Shutdown(/*drain=*/true);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(GenerationServiceTest, CancellationEndsTheSequenceAndFreesItsSlot) {
  ExampleService setup(/*capacity=*/1);
  auto service = setup.Start();
  ASSERT_NE(service, nullptr);
  const generation::Vocabulary& vocab = *setup.options.vocabulary;
  // With one slot, `waiting` can start only when the cancelled sequence has left.
  GenerationRequest cancelled = Request(vocab, "Movie is great.", 1000);
  cancelled.cancelled = std::make_shared<CancellationFlag>();
  auto flag = cancelled.cancelled;
  auto a = std::make_shared<Outcome>();
  ASSERT_TRUE(service
                  ->Submit(std::move(cancelled), a->Callbacks([&](int64_t, size_t n) {
                    if (n == 3) flag->Cancel();
                  }))
                  .ok());
  auto b = std::make_shared<Outcome>();
  ASSERT_TRUE(service->Submit(Request(vocab, "Movie is great.", 20), b->Callbacks()).ok());
  GenerationResult ra = a->Get();
  EXPECT_TRUE(absl::IsCancelled(ra.status)) << ra.status;
  EXPECT_LE(a->streamed.size(), 4u) << "the sequence ran on after its cancellation";
  GenerationResult rb = b->Get();
  EXPECT_TRUE(rb.status.ok()) << rb.status;
  EXPECT_EQ(rb.tokens.size(), 20u);
  EXPECT_TRUE(Eventually([&] { return service->active() == 0 && service->queued() == 0; }));
  EXPECT_NE(setup.registry.Exposition().find(
                "peregrine_generate_requests_total{model=\"textgen-lstm\",outcome=\"cancelled\",version=\"1\"} 1"),
            std::string::npos)
      << setup.registry.Exposition();
}

TEST(GenerationServiceTest, CancelledWhileQueuedNeverRuns) {
  ExampleService setup(/*capacity=*/1);
  auto service = setup.Start();
  ASSERT_NE(service, nullptr);
  const generation::Vocabulary& vocab = *setup.options.vocabulary;
  Gate release;
  auto holder = std::make_shared<Outcome>();
  ASSERT_TRUE(service
                  ->Submit(Request(vocab, "Movie is great.", 5), holder->Callbacks([&](int64_t, size_t n) {
                    if (n == 1) release.Wait();  // holds the step thread
                  }))
                  .ok());
  GenerationRequest queued = Request(vocab, "Movie is great.", 5);
  queued.cancelled = std::make_shared<CancellationFlag>();
  queued.cancelled->Cancel();
  auto q = std::make_shared<Outcome>();
  ASSERT_TRUE(service->Submit(std::move(queued), q->Callbacks()).ok());
  release.Open();
  EXPECT_TRUE(absl::IsCancelled(q->Get().status));
  EXPECT_TRUE(q->streamed.empty());
  EXPECT_TRUE(holder->Get().status.ok());
}

TEST(GenerationServiceTest, DeadlinesEndSequencesQueuedOrRunning) {
  ExampleService setup(/*capacity=*/4);
  FakeClock clock;
  setup.options.clock = [&clock] { return clock.Now(); };
  auto service = setup.Start();
  ASSERT_NE(service, nullptr);
  const generation::Vocabulary& vocab = *setup.options.vocabulary;

  // Running: time passes (by the injected clock) while it generates; it ends at the next step.
  GenerationRequest running = Request(vocab, "Movie is great.", 1000);
  running.received = clock.Now();
  running.deadline = clock.Now() + std::chrono::seconds(1);
  auto a = std::make_shared<Outcome>();
  ASSERT_TRUE(service
                  ->Submit(std::move(running), a->Callbacks([&](int64_t, size_t n) {
                    if (n == 5) clock.Advance(std::chrono::seconds(2));
                  }))
                  .ok());
  GenerationResult ra = a->Get();
  EXPECT_TRUE(absl::IsDeadlineExceeded(ra.status)) << ra.status;
  EXPECT_LE(a->streamed.size(), 6u);
  EXPECT_TRUE(ra.tokens.empty()) << "a failed generation returns no output";

  // Already late when it would join the batch: never runs.
  GenerationRequest late = Request(vocab, "Movie is great.", 10);
  late.received = clock.Now();
  late.deadline = clock.Now() - std::chrono::milliseconds(1);
  auto b = std::make_shared<Outcome>();
  ASSERT_TRUE(service->Submit(std::move(late), b->Callbacks()).ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(b->Get().status));
  EXPECT_TRUE(b->streamed.empty());
  EXPECT_TRUE(Eventually([&] { return service->active() == 0; }));
}

TEST(GenerationServiceTest, FullQueueRejectsAndShutdownRefuses) {
  ExampleService setup(/*capacity=*/1, /*max_queued=*/1);
  auto service = setup.Start();
  ASSERT_NE(service, nullptr);
  const generation::Vocabulary& vocab = *setup.options.vocabulary;
  Gate release;
  auto a = std::make_shared<Outcome>();
  std::atomic<bool> holding{false};
  ASSERT_TRUE(service
                  ->Submit(Request(vocab, "Movie is great.", 5), a->Callbacks([&](int64_t, size_t n) {
                    if (n == 1) {
                      holding = true;
                      release.Wait();  // holds the step thread: nothing else leaves the queue
                    }
                  }))
                  .ok());
  ASSERT_TRUE(Eventually([&] { return holding.load(); }));
  auto b = std::make_shared<Outcome>();
  ASSERT_TRUE(service->Submit(Request(vocab, "Movie is great.", 5), b->Callbacks()).ok());
  auto c = std::make_shared<Outcome>();
  absl::Status rejected = service->Submit(Request(vocab, "Movie is great.", 5), c->Callbacks());
  EXPECT_TRUE(absl::IsUnavailable(rejected)) << rejected;
  release.Open();
  EXPECT_TRUE(a->Get().status.ok());
  EXPECT_TRUE(b->Get().status.ok());
  service->Shutdown(/*drain=*/true);
  EXPECT_TRUE(absl::IsUnavailable(service->Submit(Request(vocab, "Movie is great.", 5), c->Callbacks())));
}

TEST(GenerationServiceTest, RejectsBadRequestsNamingTheParameter) {
  ExampleService setup(/*capacity=*/1);
  setup.options.limits.max_tokens_limit = 100;
  setup.options.limits.default_max_tokens = 10;
  setup.options.limits.max_prompt_tokens = 8;
  std::vector<std::shared_ptr<Outcome>> outcomes;
  auto service = setup.Start();
  ASSERT_NE(service, nullptr);
  const generation::Vocabulary& vocab = *setup.options.vocabulary;
  auto submit = [&](GenerationRequest request) {
    outcomes.push_back(std::make_shared<Outcome>());
    return service->Submit(std::move(request), outcomes.back()->Callbacks());
  };
  auto message = [](const absl::Status& s) { return std::string(s.message()); };
  EXPECT_NE(message(submit(Request(vocab, "Movie", 0))).find("max_tokens must be in 1..100"), std::string::npos);
  EXPECT_NE(message(submit(Request(vocab, "Movie", 101))).find("max_tokens"), std::string::npos);
  EXPECT_NE(message(submit(Request(vocab, "Movie", 5, {-1.f, 0, 1.f, 0}))).find("temperature"), std::string::npos);
  EXPECT_NE(message(submit(Request(vocab, "Movie", 5, {1.f, 0, 0.f, 0}))).find("top_p"), std::string::npos);
  EXPECT_NE(message(submit(Request(vocab, "a b c d e f g h i", 5))).find("at most 8"), std::string::npos);
  EXPECT_TRUE(absl::IsInvalidArgument(submit(Request(vocab, "", 5))));
  // Without max_tokens the default applies.
  GenerationRequest defaulted = Request(vocab, "Movie is great.", 1);
  defaulted.max_tokens.reset();
  GenerationResult result = RunAlone(*service, defaulted);
  EXPECT_EQ(result.sampled_tokens, 10);
}

TEST(GenerationServiceTest, StopSequencesEndTheOutputBeforeThem) {
  ExampleService setup(/*capacity=*/2);
  auto service = setup.Start();
  ASSERT_NE(service, nullptr);
  const generation::Vocabulary& vocab = *setup.options.vocabulary;
  // Greedy continuation: "the story is set in a small town in 2005. fans of ..."
  GenerationRequest request = Request(vocab, "Movie is great.", 20);
  request.stop_sequences = {vocab.EncodeKnown("small town"), vocab.EncodeKnown("never generated zzzz")};
  GenerationResult result = RunAlone(*service, request);
  ASSERT_TRUE(result.status.ok());
  EXPECT_EQ(vocab.Decode(result.tokens), "the story is set in a");
  EXPECT_EQ(result.finish_reason, FinishReason::kStopSequence);
}

}  // namespace
}  // namespace peregrine::serving
