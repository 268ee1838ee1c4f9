// Running tests in forked worker processes, so that a crash (segfault, abort) or a hang inside the
// engine fails that one test with a clear message instead of taking the whole run down.
//
// Each worker runs a share of the tests one after another in one process (engine start-up costs
// about 0.1 s; paying it per test would multiply the run time by ten) and streams each result back
// as it finishes. When a worker dies or stops answering, the test it was running is marked failed
// ("crashed: signal 11 ..." / "timed out") and a fresh worker continues with the rest of its share.
//
// The parent never touches the engine (no oneDNN, no OpenMP threads), which is what makes fork()
// safe here: each worker starts single-threaded.
#pragma once

#include <functional>
#include <vector>

#include "run_test.h"

namespace peregrine::conformance {

struct IsolateOptions {
  int jobs = 1;               // worker processes running at once
  int timeout_seconds = 120;  // per test; the worker is killed after this
};

// Runs every test and returns the results in `tests` order. `on_done` is called in the parent as each
// test finishes (in completion order), e.g. for progress output.
std::vector<TestResult> RunIsolated(const std::vector<TestCase>& tests, const RunOptions& options,
                                    const IsolateOptions& isolate,
                                    const std::function<void(const TestResult&)>& on_done);

}  // namespace peregrine::conformance
