// peregrine_conformance: runs the ONNX backend tests (Debian's libonnx-testdata) through the engine,
// prints a summary per suite, optionally writes per-test JSON, and applies the regression gate
// (gate.h). Exit status: 0 gate passed, 1 gate failed, 2 usage or I/O error, 77 no test data (ctest
// treats it as "skipped").
//
// Examples:
//   peregrine_conformance --suite node --filter 'test_conv' --verbose
//   peregrine_conformance --json results.json --expected tests/conformance/expected_pass.txt
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gate.h"
#include "isolate.h"
#include "results_json.h"
#include "run_test.h"
#include "test_case.h"

namespace peregrine::conformance {
namespace {

constexpr int kExitGateFailed = 1;
constexpr int kExitError = 2;
constexpr int kExitNoData = 77;

struct Args {
  std::string root = "/usr/share/libonnx-testdata/data";
  std::vector<std::string> suites;
  bool real = false;
  std::string real_models;
  std::string filter;
  RunOptions run;
  bool no_optimize = false;
  bool no_isolate = false;
  IsolateOptions isolate;
  bool verbose = false;
  bool list = false;
  std::string json;
  std::string expected;
  bool update_expected = false;
  std::string known_failures;
  std::string precision = "fp32";
};

std::string DefaultRealModelsDir() {
  if (const char* models = std::getenv("ONNX_MODELS")) return models;
  if (const char* home = std::getenv("ONNX_HOME")) return std::string(home) + "/models";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.onnx/models";
}

void AddOptions(CLI::App& app, Args& a) {
  app.add_option("data_root", a.root, "ONNX backend test data root")->capture_default_str();
  app.add_option("--suite", a.suites, "suite to run (repeatable; default: node, pytorch-converted, pytorch-operator, simple)");
  app.add_flag("--real", a.real, "also run the `real` suite (models must be extracted under --real-models)");
  app.add_option("--real-models", a.real_models, "where the real suite's models are extracted ($ONNX_MODELS, ~/.onnx/models)");
  app.add_option("--filter", a.filter, "ECMAScript regex searched in the test name and in suite/test");
  app.add_option("--threads", a.run.threads, "intra-op threads per session")->capture_default_str();
  app.add_option("--precision", a.precision, "fp32, or bf16: sessions compute in bfloat16, comparisons allow its "
                 "rounding, and a test passes only if a step ran in bfloat16 (select tests with Conv, Gemm or MatMul)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app.add_option("--runs", a.run.runs, "times each data set runs on one session (later runs reuse the plan)")
      ->capture_default_str();
  app.add_option("--jobs,-j", a.isolate.jobs, "tests run at once (each in its own process)")->capture_default_str();
  app.add_option("--timeout", a.isolate.timeout_seconds, "seconds per test before it is killed")->capture_default_str();
  app.add_flag("--no-isolate", a.no_isolate, "run tests in this process (for debuggers; a crash ends the run)");
  app.add_flag("--no-optimize", a.no_optimize, "disable graph optimizations (SessionOptions::optimize)");
  app.add_flag("--verbose,-v", a.verbose, "print every test and why each non-passing test did not pass");
  app.add_flag("--list", a.list, "list the selected tests and exit");
  app.add_option("--json", a.json, "write per-test results to this JSON file");
  app.add_option("--expected", a.expected, "expected_pass.txt: tests that must keep passing");
  app.add_flag("--update-expected", a.update_expected, "rewrite --expected with this run's passes");
  app.add_option("--known-failures", a.known_failures, "known_failures.txt: failing tests that do not fail the gate");
}

// Command line as typed, for the JSON header (and so for docs/conformance.md).
std::string CommandLine(int argc, char** argv) {
  std::vector<std::string> words;
  for (int i = 0; i < argc; ++i) words.push_back(i == 0 ? "peregrine_conformance" : argv[i]);
  return absl::StrJoin(words, " ");
}

// --- crash reporting for --no-isolate: name the test that took the process down -----------------

char g_current_test[512];

void OnFatalSignal(int sig) {
  const char prefix[] = "\nperegrine_conformance: fatal signal while running ";
  ssize_t ignored = write(STDERR_FILENO, prefix, sizeof prefix - 1);
  ignored = write(STDERR_FILENO, g_current_test, strnlen(g_current_test, sizeof g_current_test));
  ignored = write(STDERR_FILENO, "\n", 1);
  (void)ignored;
  signal(sig, SIG_DFL);
  raise(sig);
}

void InstallCrashReporter() {
  for (int sig : {SIGSEGV, SIGABRT, SIGFPE, SIGBUS, SIGILL}) signal(sig, OnFatalSignal);
}

std::vector<TestResult> RunInProcess(const std::vector<TestCase>& tests, const RunOptions& options,
                                     const std::function<void(const TestResult&)>& on_done) {
  InstallCrashReporter();
  std::vector<TestResult> results;
  for (const TestCase& test : tests) {
    std::snprintf(g_current_test, sizeof g_current_test, "%s", test.id().c_str());
    results.push_back(RunTest(test, options));
    on_done(results.back());
  }
  return results;
}

// --- output ------------------------------------------------------------------------------------

void PrintProgress(const TestResult& r, bool verbose, size_t done, size_t total) {
  if (!verbose && r.outcome != Outcome::kFail) return;
  std::string line = absl::StrFormat("[%4d/%d] %-11s %s", done, total, absl::AsciiStrToUpper(std::string(OutcomeName(r.outcome))),
                                     r.id());
  if (verbose) line += absl::StrFormat(" (%.2f s)", r.seconds);
  if (verbose && !r.message.empty()) line += "\n           " + r.message;
  std::cout << line << std::endl;
}

void PrintSummary(const std::vector<std::string>& suites, const std::vector<TestResult>& results) {
  std::map<std::string, std::map<Outcome, int>> counts;
  double seconds = 0;
  for (const TestResult& r : results) counts[r.suite][r.outcome]++, seconds += r.seconds;
  std::cout << absl::StrFormat("\n%-20s %6s %6s %12s %8s %6s\n", "suite", "pass", "fail", "unsupported", "skipped",
                               "total");
  std::map<Outcome, int> all;
  for (const std::string& suite : suites) {
    auto& c = counts[suite];
    for (auto& [o, n] : c) all[o] += n;
    std::cout << absl::StrFormat("%-20s %6d %6d %12d %8d %6d\n", suite, c[Outcome::kPass], c[Outcome::kFail],
                                 c[Outcome::kUnsupported], c[Outcome::kSkipped],
                                 c[Outcome::kPass] + c[Outcome::kFail] + c[Outcome::kUnsupported] + c[Outcome::kSkipped]);
  }
  std::cout << absl::StrFormat("%-20s %6d %6d %12d %8d %6d   (%.1f s in tests)\n", "all", all[Outcome::kPass],
                               all[Outcome::kFail], all[Outcome::kUnsupported], all[Outcome::kSkipped], results.size(),
                               seconds);
}

void PrintList(const std::string& title, const std::vector<std::string>& items, size_t limit = SIZE_MAX) {
  if (items.empty()) return;
  std::cout << "\n" << title << " (" << items.size() << "):\n";
  for (size_t i = 0; i < items.size() && i < limit; ++i) std::cout << "  " << items[i] << "\n";
  if (items.size() > limit) std::cout << "  ... and " << items.size() - limit << " more\n";
}

void PrintGate(const GateReport& g, const Args& a) {
  PrintList("FAILED (wrong answer or error; fix, or as a last resort list in known_failures.txt)", g.failures);
  PrintList("REGRESSED (listed in expected_pass.txt, no longer passing)", g.regressions);
  PrintList("MISSING (listed in expected_pass.txt, not found in the test data)", g.missing);
  PrintList("Known failures (known_failures.txt, not gating)", g.known_failing);
  PrintList("Known failures that now pass (remove them from known_failures.txt)", g.known_passing);
  if (!a.expected.empty() && !a.update_expected) {
    PrintList("Newly passing (run with --update-expected to record them)", g.newly_passing, a.verbose ? SIZE_MAX : 20);
  }
  std::cout << "\nconformance gate: " << (g.ok() ? "PASSED" : "FAILED") << std::endl;
}

// --- main flow -----------------------------------------------------------------------------------

absl::StatusOr<std::vector<TestCase>> Discover(Args& a) {
  if (a.suites.empty()) a.suites = DefaultSuites();
  if (a.real && std::find(a.suites.begin(), a.suites.end(), "real") == a.suites.end()) a.suites.push_back("real");
  DiscoverOptions d;
  d.root = a.root;
  d.suites = a.suites;
  d.real_models_dir = a.real_models.empty() ? DefaultRealModelsDir() : a.real_models;
  if (!a.filter.empty()) d.filter = std::regex(a.filter);
  return DiscoverTests(d);
}

// Whether an expected_pass.txt entry is selected by this run's suites and filter.
bool InScope(const Args& a, const std::string& id) {
  const std::string suite = id.substr(0, id.find('/'));
  const std::string name = id.substr(id.find('/') + 1);
  if (std::find(a.suites.begin(), a.suites.end(), suite) == a.suites.end()) return false;
  if (a.filter.empty()) return true;
  const std::regex filter(a.filter);
  return std::regex_search(name, filter) || std::regex_search(id, filter);
}

// Applies the gate, writes the JSON and (with --update-expected) expected_pass.txt; the exit status.
int Conclude(const Args& a, const std::string& command, std::vector<TestResult>& results, const ExpectedPass& expected,
             const KnownFailures& known) {
  auto in_scope = [&a](const std::string& id) { return InScope(a, id); };
  GateReport gate = Evaluate(results, expected, known, in_scope);
  PrintSummary(a.suites, results);
  absl::Status written = absl::OkStatus();
  if (!a.json.empty()) written = WriteResultsJson(a.json, {command, a.root, a.suites}, results);
  if (written.ok() && a.update_expected && !a.expected.empty()) {
    written = WriteExpectedPass(a.expected, results, expected, in_scope);
    if (written.ok()) {
      std::cout << "\nwrote " << a.expected << "\n";
      gate = Evaluate(results, *ReadExpectedPass(a.expected), known, in_scope);
    }
  }
  if (!written.ok()) {
    std::cerr << "peregrine_conformance: " << written.message() << "\n";
    return kExitError;
  }
  PrintGate(gate, a);
  return gate.ok() ? 0 : kExitGateFailed;
}

int Run(Args& a, const std::string& command) {
  absl::StatusOr<std::vector<TestCase>> tests = Discover(a);
  if (!tests.ok()) {
    std::cerr << "peregrine_conformance: " << tests.status().message() << "\n";
    return absl::IsNotFound(tests.status()) ? kExitNoData : kExitError;
  }
  if (a.list) {
    for (const TestCase& t : *tests) std::cout << t.id() << (t.skip_reason.empty() ? "" : "  (skipped)") << "\n";
    return 0;
  }
  absl::StatusOr<ExpectedPass> expected = ReadExpectedPass(a.expected);
  absl::StatusOr<KnownFailures> known = ReadKnownFailures(a.known_failures);
  if (!expected.ok() || !known.ok()) {
    std::cerr << "peregrine_conformance: " << (expected.ok() ? known.status() : expected.status()).message() << "\n";
    return kExitError;
  }
  a.run.optimize = !a.no_optimize;
  a.run.precision = *engine::ParsePrecision(a.precision);  // validated by the option's check
  size_t done = 0;
  auto progress = [&](const TestResult& r) { PrintProgress(r, a.verbose, ++done, tests->size()); };
  std::vector<TestResult> results = a.no_isolate ? RunInProcess(*tests, a.run, progress)
                                                 : RunIsolated(*tests, a.run, a.isolate, progress);
  return Conclude(a, command, results, *expected, *known);
}

}  // namespace
}  // namespace peregrine::conformance

int main(int argc, char** argv) {
  using namespace peregrine::conformance;
  CLI::App app("Runs the ONNX backend tests through the Peregrine engine", "peregrine_conformance");
  Args args;
  AddOptions(app, args);
  CLI11_PARSE(app, argc, argv);
  try {
    return Run(args, CommandLine(argc, argv));
  } catch (const std::regex_error& e) {
    std::cerr << "peregrine_conformance: bad --filter regex: " << e.what() << "\n";
    return kExitError;
  }
}
