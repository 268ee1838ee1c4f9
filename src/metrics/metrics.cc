// Registry layout: one Family per metric name (type, help, histogram bounds) holding its series keyed by
// their label set, sorted by label name so {a,b} and {b,a} are the same series and the exposition is
// deterministic. Metrics are heap-allocated and never freed before the registry, which is what keeps the
// references returned by Get*() valid. Callback gauges live in the same family map; their handles remove
// them under the registry lock, so `read` is never called after its handle is gone.
#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace peregrine::metrics {

// --- Counter / Gauge / Histogram -----------------------------------------------------------------------

void Counter::Increment(double by) {
  if (!(by >= 0)) throw std::logic_error("Counter::Increment: a counter only goes up");
  value_.fetch_add(by, std::memory_order_relaxed);
}

double Counter::value() const { return value_.load(std::memory_order_relaxed); }

void Gauge::Set(double value) { value_.store(value, std::memory_order_relaxed); }
void Gauge::Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
double Gauge::value() const { return value_.load(std::memory_order_relaxed); }

namespace {

// Drops a trailing +Inf (it is implicit) and insists on strictly ascending finite bounds.
std::vector<double> CheckedBounds(std::vector<double> bounds) {
  if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) bounds.pop_back();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      throw std::logic_error("Histogram: bounds must be finite and strictly ascending");
    }
  }
  return bounds;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(CheckedBounds(std::move(bounds))),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  // Bucket i counts values <= bounds_[i] (Prometheus "le"); NaN lands in +Inf only.
  size_t bucket = std::isnan(value) ? bounds_.size()
                                    : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                                          bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative_counts.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative_counts[i] = running;
  }
  // Observations racing with the snapshot may be in the buckets but not yet in count_ (or the reverse);
  // the count is taken from the buckets so the +Inf bucket always equals _count, as Prometheus requires.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3,
          50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0, 10.0, 30.0};
}

// --- Registry ------------------------------------------------------------------------------------------

namespace {

enum class Type { kCounter, kGauge, kHistogram };

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

bool ValidMetricName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ValidLabelName(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Label sets are compared sorted by name; duplicate names are a programming error.
Labels Canonical(const std::string& metric, const Labels& labels, Type type) {
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& label = sorted[i].first;
    if (!ValidLabelName(label)) throw std::logic_error("metric " + metric + ": invalid label name '" + label + "'");
    if (i > 0 && sorted[i - 1].first == label) {
      throw std::logic_error("metric " + metric + ": label '" + label + "' given twice");
    }
    if (type == Type::kHistogram && label == "le") {
      throw std::logic_error("metric " + metric + ": 'le' is reserved for histogram buckets");
    }
  }
  return sorted;
}

void AppendEscaped(std::string& out, const std::string& text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// Shortest text that parses back to the same double; Prometheus spells the specials +Inf, -Inf, NaN.
void AppendDouble(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto result = std::to_chars(buf, buf + sizeof(buf), value);
    out.append(buf, result.ptr);
  }
}

void AppendLabels(std::string& out, const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr) return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    AppendEscaped(out, value, /*escape_quote=*/true);
    out += '"';
  }
  if (le != nullptr) {
    if (!first) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

struct CallbackGauge {
  uint64_t id;
  std::function<double()> read;
};

struct Family {
  Type type;
  std::string help;
  std::vector<double> bounds;  // histograms only
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<Histogram>> histograms;
  // Several callbacks may share a label set for a moment (a model reloading registers its new gauge
  // before the old handle dies); the newest one is reported.
  std::map<Labels, std::vector<CallbackGauge>> callbacks;

  bool empty() const { return counters.empty() && gauges.empty() && histograms.empty() && callbacks.empty(); }
};

}  // namespace

namespace {

// Shared with callback handles, which may outlive the registry.
struct State {
  mutable std::mutex mu;
  std::map<std::string, Family> families;
  uint64_t next_callback_id = 1;
};

}  // namespace

struct Registry::Impl {
  std::shared_ptr<State> state = std::make_shared<State>();

  // Returns the family for `name`, creating it; throws on a type mismatch. Caller holds the lock.
  Family& FamilyFor(const std::string& name, const std::string& help, Type type) {
    if (!ValidMetricName(name)) throw std::logic_error("invalid metric name '" + name + "'");
    auto [it, inserted] = state->families.try_emplace(name);
    Family& family = it->second;
    if (inserted) {
      family.type = type;
      family.help = help;
    } else if (family.type != type) {
      throw std::logic_error("metric " + name + " is a " + TypeName(family.type) + ", not a " + TypeName(type));
    }
    return family;
  }
};

namespace {

class CallbackHandleImpl : public Registry::CallbackHandle {
 public:
  CallbackHandleImpl(std::weak_ptr<State> state, std::string name, Labels labels, uint64_t id)
      : state_(std::move(state)), name_(std::move(name)), labels_(std::move(labels)), id_(id) {}

  ~CallbackHandleImpl() override {
    std::shared_ptr<State> state = state_.lock();
    if (!state) return;
    std::lock_guard<std::mutex> lock(state->mu);
    auto family = state->families.find(name_);
    if (family == state->families.end()) return;
    auto series = family->second.callbacks.find(labels_);
    if (series == family->second.callbacks.end()) return;
    auto& list = series->second;
    list.erase(std::remove_if(list.begin(), list.end(), [this](const CallbackGauge& g) { return g.id == id_; }),
               list.end());
    if (list.empty()) family->second.callbacks.erase(series);
  }

 private:
  std::weak_ptr<State> state_;
  std::string name_;
  Labels labels_;
  uint64_t id_;
};

}  // namespace

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

Counter& Registry::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
  Labels key = Canonical(name, labels, Type::kCounter);
  std::lock_guard<std::mutex> lock(impl_->state->mu);
  Family& family = impl_->FamilyFor(name, help, Type::kCounter);
  auto& slot = family.counters[std::move(key)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  Labels key = Canonical(name, labels, Type::kGauge);
  std::lock_guard<std::mutex> lock(impl_->state->mu);
  Family& family = impl_->FamilyFor(name, help, Type::kGauge);
  auto& slot = family.gauges[std::move(key)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help, const Labels& labels,
                                  const std::vector<double>& bounds) {
  Labels key = Canonical(name, labels, Type::kHistogram);
  std::vector<double> checked = CheckedBounds(bounds);
  std::lock_guard<std::mutex> lock(impl_->state->mu);
  bool new_family = impl_->state->families.count(name) == 0;
  Family& family = impl_->FamilyFor(name, help, Type::kHistogram);
  if (new_family) {
    family.bounds = checked;
  } else if (family.bounds != checked) {
    // One family, one set of buckets: otherwise its series could not be aggregated.
    throw std::logic_error("metric " + name + " was registered with other bucket bounds");
  }
  auto& slot = family.histograms[std::move(key)];
  if (!slot) slot = std::make_unique<Histogram>(family.bounds);
  return *slot;
}

std::unique_ptr<Registry::CallbackHandle> Registry::AddCallbackGauge(const std::string& name, const std::string& help,
                                                                     const Labels& labels,
                                                                     std::function<double()> read) {
  Labels key = Canonical(name, labels, Type::kGauge);
  std::lock_guard<std::mutex> lock(impl_->state->mu);
  Family& family = impl_->FamilyFor(name, help, Type::kGauge);
  uint64_t id = impl_->state->next_callback_id++;
  family.callbacks[key].push_back(CallbackGauge{id, std::move(read)});
  return std::make_unique<CallbackHandleImpl>(impl_->state, name, std::move(key), id);
}

namespace {

void AppendHistogram(std::string& out, const std::string& name, const Labels& labels, const Histogram& histogram) {
  Histogram::Snapshot snap = histogram.snapshot();
  for (size_t i = 0; i <= snap.bounds.size(); ++i) {
    std::string le;
    if (i < snap.bounds.size()) {
      AppendDouble(le, snap.bounds[i]);
    } else {
      le = "+Inf";
    }
    out += name;
    out += "_bucket";
    AppendLabels(out, labels, &le);
    out += ' ';
    out += std::to_string(snap.cumulative_counts[i]);
    out += '\n';
  }
  out += name;
  out += "_sum";
  AppendLabels(out, labels);
  out += ' ';
  AppendDouble(out, snap.sum);
  out += '\n';
  out += name;
  out += "_count";
  AppendLabels(out, labels);
  out += ' ';
  out += std::to_string(snap.count);
  out += '\n';
}

void AppendSample(std::string& out, const std::string& name, const Labels& labels, double value) {
  out += name;
  AppendLabels(out, labels);
  out += ' ';
  AppendDouble(out, value);
  out += '\n';
}

}  // namespace

std::string Registry::Exposition() const {
  std::string out;
  // Callbacks run under the lock so a handle being destroyed waits for a scrape in progress; they must
  // therefore not call back into the registry.
  std::lock_guard<std::mutex> lock(impl_->state->mu);
  for (const auto& [name, family] : impl_->state->families) {
    if (family.empty()) continue;
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendEscaped(out, family.help, /*escape_quote=*/false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += TypeName(family.type);
    out += '\n';
    switch (family.type) {
      case Type::kCounter:
        for (const auto& [labels, counter] : family.counters) AppendSample(out, name, labels, counter->value());
        break;
      case Type::kGauge: {
        // Static and callback gauges merged in label order; a callback shadows a static gauge with the
        // same labels so no series is printed twice.
        std::map<Labels, double> values;
        for (const auto& [labels, gauge] : family.gauges) values[labels] = gauge->value();
        for (const auto& [labels, list] : family.callbacks) values[labels] = list.back().read();
        for (const auto& [labels, value] : values) AppendSample(out, name, labels, value);
        break;
      }
      case Type::kHistogram:
        for (const auto& [labels, histogram] : family.histograms) AppendHistogram(out, name, labels, *histogram);
        break;
    }
  }
  return out;
}

}  // namespace peregrine::metrics
