// A small Prometheus registry and text-exposition writer (format 0.0.4): counters, gauges and
// histograms in labelled families, and gauges read by a function at scrape time. Families are
// created once and live as long as the registry; every operation is thread-safe: finding the
// metric of a label set takes a short lock, updating it is atomic (keep the reference to skip the
// lock).
#ifndef BACKTEST_SERVER_METRICS_REGISTRY_H_
#define BACKTEST_SERVER_METRICS_REGISTRY_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace backtest::metrics {

class Counter {
 public:
  void Inc(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending (+Inf is implied).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; last: +Inf
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// The metrics of one name, one per set of label values.
template <typename Metric>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}
  // The metric of these label values (as many as the family has names), made at first use.
  Metric& With(const std::vector<std::string>& label_values) {
    std::lock_guard<std::mutex> lock(mu_);
    std::unique_ptr<Metric>& metric = children_[label_values];
    if (metric == nullptr) metric = make_();
    return *metric;
  }
  template <typename Visit>
  void ForEach(Visit visit) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [values, metric] : children_) visit(values, *metric);
  }
  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<Metric>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

class Registry {
 public:
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds,
                                  std::vector<std::string> label_names = {});
  // A gauge whose value `read` gives at each scrape; registering a name again replaces the
  // function, and SetGaugeFunction(name, nullptr) removes it (the owner of what it reads goes).
  void SetGaugeFunction(const std::string& name, const std::string& help,
                        std::function<double()> read);

  // Every metric in the text exposition format, families in the order they were added.
  std::string Render() const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    std::string type;
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
    std::function<double()> read;
  };
  Entry& Add(const std::string& name, const std::string& help, const std::string& type);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Bounds growing by `factor` from `start`, `count` of them.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

}  // namespace backtest::metrics

#endif  // BACKTEST_SERVER_METRICS_REGISTRY_H_
