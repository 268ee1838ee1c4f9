#include "isolate.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace peregrine::conformance {
namespace {

using Clock = std::chrono::steady_clock;

// Wire format worker -> parent: one frame per test, each a length-prefixed field "<len>:<bytes>"
// holding the result's fields in the same form.
void Put(std::string& out, const std::string& field) { out += std::to_string(field.size()) + ":" + field; }

// Reads one field at `pos`; false (pos unchanged) when the buffer does not hold a whole field yet.
bool Take(const std::string& in, size_t& pos, std::string& field) {
  const size_t colon = in.find(':', pos);
  if (colon == std::string::npos || colon == pos || colon - pos > 12) return false;
  size_t len = 0;
  for (size_t i = pos; i < colon; ++i) {
    if (in[i] < '0' || in[i] > '9') return false;
    len = len * 10 + static_cast<size_t>(in[i] - '0');
  }
  if (colon + 1 + len > in.size()) return false;
  field = in.substr(colon + 1, len);
  pos = colon + 1 + len;
  return true;
}

std::string Encode(const TestResult& r) {
  std::string fields;
  Put(fields, std::to_string(static_cast<int>(r.outcome)));
  Put(fields, r.message);
  Put(fields, r.blocking_op);
  Put(fields, std::to_string(r.seconds));
  Put(fields, std::to_string(r.ops.size()));
  for (const std::string& op : r.ops) Put(fields, op);
  std::string frame;
  Put(frame, fields);
  return frame;
}

bool Decode(const std::string& in, TestResult& r) {
  size_t pos = 0;
  std::string outcome, seconds, count;
  if (!Take(in, pos, outcome) || !Take(in, pos, r.message) || !Take(in, pos, r.blocking_op) ||
      !Take(in, pos, seconds) || !Take(in, pos, count)) {
    return false;
  }
  r.outcome = static_cast<Outcome>(std::atoi(outcome.c_str()));
  r.seconds = std::strtod(seconds.c_str(), nullptr);
  const size_t num_ops = std::strtoul(count.c_str(), nullptr, 10);
  if (num_ops > in.size()) return false;  // garbled: every op takes at least one byte
  r.ops.resize(num_ops);
  for (std::string& op : r.ops) {
    if (!Take(in, pos, op)) return false;
  }
  return true;
}

// One worker process and its share of the tests.
struct Worker {
  std::vector<size_t> share;  // indices into the test list, run in order
  size_t next = 0;            // first test of `share` not reported yet (the one running now)
  pid_t pid = -1;
  int fd = -1;
  std::string buffer;
  Clock::time_point started;   // of the current test
  bool running() const { return pid > 0; }
  bool finished() const { return next >= share.size() && !running(); }
};

[[noreturn]] void WorkerMain(const std::vector<TestCase>& tests, const Worker& w, const RunOptions& options, int fd) {
  for (size_t k = w.next; k < w.share.size(); ++k) {
    const std::string frame = Encode(RunTest(tests[w.share[k]], options));
    for (size_t written = 0; written < frame.size();) {
      const ssize_t n = write(fd, frame.data() + written, frame.size() - written);
      if (n <= 0) _exit(3);
      written += static_cast<size_t>(n);
    }
  }
  _exit(0);  // no static destructors: the worker's only job was its tests
}

bool Spawn(const std::vector<TestCase>& tests, const RunOptions& options, Worker& w) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  std::cout.flush();
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) {
    close(fds[0]);
    WorkerMain(tests, w, options, fds[1]);
  }
  close(fds[1]);
  w.pid = pid;
  w.fd = fds[0];
  w.buffer.clear();
  w.started = Clock::now();
  return true;
}

// A result the parent writes itself when no worker delivered one (crash, timeout, fork failure).
TestResult ParentResult(const TestCase& test, const std::string& message, double seconds) {
  TestResult r;
  r.suite = test.suite;
  r.name = test.name;
  r.outcome = Outcome::kFail;
  r.message = message;
  r.seconds = seconds;
  if (absl::StatusOr<ModelInfo> info = ReadModelInfo(test.model_path); info.ok()) r.ops = info->op_types;
  return r;
}

class Pool {
 public:
  Pool(const std::vector<TestCase>& tests, const RunOptions& options, const IsolateOptions& isolate,
       const std::function<void(const TestResult&)>& on_done)
      : tests_(tests), options_(options), isolate_(isolate), on_done_(on_done), results_(tests.size()) {
    workers_.resize(static_cast<size_t>(std::clamp<int64_t>(isolate.jobs, 1, std::max<int64_t>(1, tests.size()))));
    for (size_t i = 0; i < tests.size(); ++i) workers_[i % workers_.size()].share.push_back(i);
  }

  std::vector<TestResult> Run() {
    for (Worker& w : workers_) Start(w);
    while (std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.running(); })) Step();
    return std::move(results_);
  }

 private:
  void Finish(size_t index, TestResult r) {
    on_done_(r);
    results_[index] = std::move(r);
  }

  // Starts a worker for the rest of its share; tests that need no engine are reported right here.
  void Start(Worker& w) {
    while (w.next < w.share.size() && !tests_[w.share[w.next]].skip_reason.empty()) {
      Finish(w.share[w.next], RunTest(tests_[w.share[w.next]], options_));
      ++w.next;
    }
    if (w.next >= w.share.size()) return;
    if (Spawn(tests_, options_, w)) return;
    Finish(w.share[w.next], ParentResult(tests_[w.share[w.next]], "could not start a test process", 0));
    ++w.next;
    Start(w);
  }

  // Moves complete frames from the worker's buffer to results.
  void Deliver(Worker& w) {
    size_t pos = 0;
    std::string frame;
    while (w.next < w.share.size() && Take(w.buffer, pos, frame)) {
      TestResult r;
      r.suite = tests_[w.share[w.next]].suite;
      r.name = tests_[w.share[w.next]].name;
      if (!Decode(frame, r)) r = ParentResult(tests_[w.share[w.next]], "garbled result from the test process", 0);
      Finish(w.share[w.next], std::move(r));
      ++w.next;
      w.started = Clock::now();
    }
    w.buffer.erase(0, pos);
  }

  // The worker ended (EOF) or hung: reap it, blame the test it was running, start the next one.
  void Reap(Worker& w, bool timed_out) {
    const double seconds = std::chrono::duration<double>(Clock::now() - w.started).count();
    if (timed_out) kill(w.pid, SIGKILL);
    int status = 0;
    waitpid(w.pid, &status, 0);
    char chunk[65536];
    for (ssize_t n; (n = read(w.fd, chunk, sizeof chunk)) > 0;) w.buffer.append(chunk, static_cast<size_t>(n));
    close(w.fd);
    w.pid = -1;
    Deliver(w);
    if (w.next >= w.share.size()) return;
    std::string why = "test process exited with status " + std::to_string(WEXITSTATUS(status)) + " without a result";
    if (timed_out) why = "timed out after " + std::to_string(isolate_.timeout_seconds) + " s";
    else if (WIFSIGNALED(status)) why = "crashed: signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    Finish(w.share[w.next], ParentResult(tests_[w.share[w.next]], why, seconds));
    ++w.next;
    Start(w);
  }

  void Step() {
    std::vector<Worker*> running;
    std::vector<pollfd> fds;
    for (Worker& w : workers_) {
      if (w.running()) running.push_back(&w), fds.push_back({w.fd, POLLIN, 0});
    }
    poll(fds.data(), fds.size(), 200);
    for (size_t i = 0; i < running.size(); ++i) {
      Worker& w = *running[i];
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char chunk[65536];
        const ssize_t n = read(w.fd, chunk, sizeof chunk);
        if (n > 0) {
          w.buffer.append(chunk, static_cast<size_t>(n));
          Deliver(w);
        } else if (n == 0 || errno != EINTR) {
          Reap(w, false);
          continue;
        }
      }
      if (Clock::now() - w.started > std::chrono::seconds(isolate_.timeout_seconds)) Reap(w, true);
    }
  }

  const std::vector<TestCase>& tests_;
  const RunOptions& options_;
  const IsolateOptions& isolate_;
  const std::function<void(const TestResult&)>& on_done_;
  std::vector<TestResult> results_;
  std::vector<Worker> workers_;
};

}  // namespace

std::vector<TestResult> RunIsolated(const std::vector<TestCase>& tests, const RunOptions& options,
                                    const IsolateOptions& isolate,
                                    const std::function<void(const TestResult&)>& on_done) {
  return Pool(tests, options, isolate, on_done).Run();
}

}  // namespace peregrine::conformance
