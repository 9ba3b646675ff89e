#include "server/metrics/registry.h"

#include <cmath>
#include <sstream>

namespace backtest::metrics {
namespace {

void AtomicAdd(std::atomic<double>& target, double amount) {
  double old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, old + amount, std::memory_order_relaxed)) {
  }
}

// A label value with \, " and newline escaped, as the format wants.
std::string Escape(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

// {a="1",b="2"} with an extra pair at the end (a histogram's le), or "" when there are none.
std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const std::string& extra_name = "", const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out += (out.empty() ? "{" : ",") + names[i] + "=\"" + Escape(values[i]) + "\"";
  }
  if (!extra_name.empty()) out += (out.empty() ? "{" : ",") + extra_name + "=\"" + extra_value + "\"";
  return out.empty() ? out : out + "}";
}

}  // namespace

void Counter::Inc(double amount) { AtomicAdd(value_, amount); }

void Gauge::Add(double amount) { AtomicAdd(value_, amount); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::Observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  s.count = running;  // the buckets' total, so +Inf and _count agree in one scrape
  return s;
}

Registry::Entry& Registry::Add(const std::string& name, const std::string& help,
                               const std::string& type) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.push_back(std::make_unique<Entry>());
  Entry& entry = *entries_.back();
  entry.name = name;
  entry.help = help;
  entry.type = type;
  return entry;
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  Entry& entry = Add(name, help, "counter");
  entry.counters = std::make_unique<Family<Counter>>(std::move(label_names),
                                                     [] { return std::make_unique<Counter>(); });
  return *entry.counters;
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  Entry& entry = Add(name, help, "gauge");
  entry.gauges = std::make_unique<Family<Gauge>>(std::move(label_names),
                                                 [] { return std::make_unique<Gauge>(); });
  return *entry.gauges;
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<double> bounds,
                                          std::vector<std::string> label_names) {
  Entry& entry = Add(name, help, "histogram");
  entry.histograms = std::make_unique<Family<Histogram>>(
      std::move(label_names), [bounds] { return std::make_unique<Histogram>(bounds); });
  return *entry.histograms;
}

void Registry::SetGaugeFunction(const std::string& name, const std::string& help,
                                std::function<double()> read) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& entry : entries_) {
      if (entry->name == name && entry->type == "gauge" && entry->gauges == nullptr) {
        entry->read = std::move(read);
        return;
      }
    }
  }
  if (read) Add(name, help, "gauge").read = std::move(read);
}

std::string Registry::Render() const {
  std::ostringstream out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& entry : entries_) {
    const std::string& name = entry->name;
    if (entry->gauges == nullptr && entry->counters == nullptr && entry->histograms == nullptr &&
        !entry->read) {
      continue;  // a gauge function removed
    }
    out << "# HELP " << name << " " << entry->help << "\n# TYPE " << name << " " << entry->type
        << "\n";
    if (entry->read) out << name << " " << Number(entry->read()) << "\n";
    if (entry->counters) {
      const auto& names = entry->counters->label_names();
      entry->counters->ForEach([&](const std::vector<std::string>& values, const Counter& c) {
        out << name << Labels(names, values) << " " << Number(c.value()) << "\n";
      });
    }
    if (entry->gauges) {
      const auto& names = entry->gauges->label_names();
      entry->gauges->ForEach([&](const std::vector<std::string>& values, const Gauge& g) {
        out << name << Labels(names, values) << " " << Number(g.value()) << "\n";
      });
    }
    if (entry->histograms) {
      const auto& names = entry->histograms->label_names();
      entry->histograms->ForEach([&](const std::vector<std::string>& values, const Histogram& h) {
        Histogram::Snapshot s = h.snapshot();
        for (size_t i = 0; i < s.cumulative.size(); ++i) {
          std::string le = i < h.bounds().size() ? Number(h.bounds()[i]) : "+Inf";
          out << name << "_bucket" << Labels(names, values, "le", le) << " " << s.cumulative[i]
              << "\n";
        }
        out << name << "_sum" << Labels(names, values) << " " << Number(s.sum) << "\n";
        out << name << "_count" << Labels(names, values) << " " << s.count << "\n";
      });
    }
  }
  return out.str();
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  for (double b = start; static_cast<int>(bounds.size()) < count; b *= factor) bounds.push_back(b);
  return bounds;
}

}  // namespace backtest::metrics
