#include "server/runner/walk_forward.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "server/engine/data/market_data.h"
#include "server/runner/result_conversion.h"
#include "server/runner/sweep_session.h"

namespace backtest::runner {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kMaxEquityPoints = 5000;

// The bars of kept bars [begin, end) of the first symbol (every symbol cut to the same times),
// as a single job with those start and end dates prepares them; *window gets that job's config.
absl::StatusOr<engine::MarketData> WindowData(const engine::RunConfig& config,
                                              const engine::MarketData& data, int64_t begin,
                                              int64_t end, engine::RunConfig* window) {
  const engine::SymbolData& first = data.symbols[0];
  const auto& time = first.bars->time;
  const size_t kept = first.kept();
  *window = config;
  window->start = time[first.first_kept + static_cast<size_t>(begin)];
  window->end = static_cast<size_t>(end) < kept ? time[first.first_kept + static_cast<size_t>(end)]
                                                : time.back() + 1;
  window->max_candles.reset();
  engine::MarketData out;
  for (const engine::SymbolData& s : data.symbols) {
    auto prepared = engine::PrepareSymbol(*window, s.symbol, engine::BarSeries(*s.bars));
    if (!prepared.ok()) return prepared.status();
    out.symbols.push_back(*std::move(prepared));
  }
  return out;
}

// Tells the job how far the walk-forward is: stage walk_forward, bars_done/bars_total counting
// its runs (each window's combinations and its test run), at most every 100 ms and at each
// window's end. Thread-safe (the combinations' rows come from the runner's threads).
class WalkForwardProgress {
 public:
  WalkForwardProgress(EventWriter& writer, int64_t total) : writer_(writer), total_(total) {}

  void Add(int64_t runs, bool now) {
    std::lock_guard lock(mu_);
    done_ += runs;
    const auto t = std::chrono::steady_clock::now();
    if (!now && t - sent_ < std::chrono::milliseconds(100)) return;
    sent_ = t;
    v1::RunnerEvent e;
    auto* p = e.mutable_progress();
    p->set_stage("walk_forward");
    p->set_bars_done(done_);
    p->set_bars_total(total_);
    p->set_fraction(total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0);
    writer_.Write(e, now);
  }

 private:
  EventWriter& writer_;
  const int64_t total_;
  std::mutex mu_;
  int64_t done_ = 0;
  std::chrono::steady_clock::time_point sent_{};
};

// The best row on `data`: the best defined objective, ties to the lower row; -1 when none is
// defined.
absl::StatusOr<int> BestOn(const v1::SweepSpec& sweep, const engine::MarketData& data,
                           CombinationRunner& runner, WalkForwardProgress& progress,
                           v1::Stats* best_stats) {
  std::vector<int> rows(static_cast<size_t>(sweep.combinations_size()));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int>(i);
  std::mutex mu;
  int best = -1;
  double best_value = 0;
  absl::Status ran = runner.ForEach(data, rows, [&](v1::SweepRow row) {
    progress.Add(1, false);
    if (!row.error().empty()) return;
    const double x = StatValue(row.stats(), sweep.objective());
    if (std::isnan(x)) return;
    const int i = row.row();
    std::lock_guard lock(mu);
    const bool better = best < 0 || (sweep.minimize() ? x < best_value : x > best_value) ||
                        (x == best_value && i < best);
    if (better) {
      best = i;
      best_value = x;
      *best_stats = row.stats();
    }
  });
  if (CancelRequested().load()) return absl::CancelledError("cancelled");
  if (!ran.ok()) return ran;
  return best;
}

}  // namespace

std::vector<WalkForwardWindow> WalkForwardWindows(int64_t bars, const v1::WalkForwardSpec& spec) {
  std::vector<WalkForwardWindow> windows;
  const int64_t train = spec.train_bars(), test = spec.test_bars();
  if (train < 1 || test < 1) return windows;
  for (int64_t i = 0; train + (i + 1) * test <= bars; ++i) {
    WalkForwardWindow w;
    w.train_begin = spec.anchored() ? 0 : i * test;
    w.train_end = train + i * test;
    w.test_begin = w.train_end;
    w.test_end = w.test_begin + test;
    windows.push_back(w);
  }
  return windows;
}

double StatValue(const v1::Stats& stats, const std::string& name) {
  const google::protobuf::Message* m = &stats;
  std::string field = name;
  if (const size_t dot = name.find('.'); dot != std::string::npos) {
    const auto* side = stats.GetDescriptor()->FindFieldByName(name.substr(0, dot));
    if (side == nullptr || side->message_type() == nullptr) return kNaN;
    m = &stats.GetReflection()->GetMessage(stats, side);
    field = name.substr(dot + 1);
  }
  const auto* f = m->GetDescriptor()->FindFieldByName(field);
  if (f == nullptr || f->is_repeated()) return kNaN;
  using FD = google::protobuf::FieldDescriptor;
  switch (f->cpp_type()) {
    case FD::CPPTYPE_DOUBLE: return m->GetReflection()->GetDouble(*m, f);
    case FD::CPPTYPE_INT64: return static_cast<double>(m->GetReflection()->GetInt64(*m, f));
    case FD::CPPTYPE_INT32: return m->GetReflection()->GetInt32(*m, f);
    default: return kNaN;
  }
}

absl::Status RunWalkForward(const v1::SweepSpec& sweep, const engine::RunConfig& config,
                            const engine::MarketData& data, CombinationRunner& runner,
                            EventWriter& writer, v1::WalkForwardEvent* out) {
  const int64_t bars = static_cast<int64_t>(data.symbols[0].kept());
  const std::vector<WalkForwardWindow> windows = WalkForwardWindows(bars, sweep.walk_forward());
  if (windows.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "walk_forward: train_bars + test_bars (", sweep.walk_forward().train_bars(), " + ",
        sweep.walk_forward().test_bars(), ") do not fit in the run's ", bars, " bars"));
  }
  auto log = [&](const std::string& line) {
    v1::RunnerEvent e;
    e.mutable_log()->set_level("info");
    e.mutable_log()->set_text(line);
    writer.Write(e);
  };
  const int64_t runs_per_window = sweep.combinations_size() + 1;  // the train runs and the test
  WalkForwardProgress progress(writer, runs_per_window * static_cast<int64_t>(windows.size()));
  progress.Add(0, true);
  std::vector<std::pair<int64_t, double>> equity;  // stitched
  std::vector<size_t> window_ends;                  // index of each window's last point
  double level = config.initial_equity;
  double efficiency_sum = 0;
  int efficiency_count = 0;
  for (size_t w = 0; w < windows.size(); ++w) {
    const WalkForwardWindow& win = windows[w];
    engine::RunConfig train_config, test_config;
    auto train = WindowData(config, data, win.train_begin, win.train_end, &train_config);
    if (!train.ok()) return train.status();
    auto test = WindowData(config, data, win.test_begin, win.test_end, &test_config);
    if (!test.ok()) return test.status();
    v1::WalkForwardWindowResult* r = out->add_windows();
    r->set_train_start(train_config.start);
    r->set_train_end(train_config.end);
    r->set_test_start(test_config.start);
    r->set_test_end(test_config.end);
    auto best = BestOn(sweep, *train, runner, progress, r->mutable_train_stats());
    if (!best.ok()) return best.status();
    r->set_best_row(*best);
    r->set_efficiency(kNaN);
    if (*best < 0) {  // no combination has a defined objective on this window
      progress.Add(1, true);
      log(absl::StrCat("walk-forward window ", w + 1, " of ", windows.size(),
                       ": no combination has a defined ", sweep.objective()));
      continue;
    }
    auto run = runner.RunWindow(*best, test_config, *test);
    if (!run.ok()) return run.status();
    progress.Add(1, true);
    ToStats(run->stats, r->mutable_test_stats());
    const double is = r->train_stats().return_ann_pct(), oos = r->test_stats().return_ann_pct();
    if (is > 0 && std::isfinite(is) && std::isfinite(oos)) {
      r->set_efficiency(oos / is);
      efficiency_sum += oos / is;
      ++efficiency_count;
    }
    const double factor = level / config.initial_equity;
    for (size_t k = 0; k < run->equity.size(); ++k) {
      const engine::LinePoint p = run->equity[k];
      equity.emplace_back(p.time, p.value * factor);
    }
    if (!equity.empty()) level = equity.back().second;
    log(absl::StrCat("walk-forward window ", w + 1, " of ", windows.size(), ": row ", *best, ", ",
                     sweep.objective(), " ", StatValue(r->train_stats(), sweep.objective()),
                     " in sample, ", StatValue(r->test_stats(), sweep.objective()),
                     " out of sample"));
    window_ends.push_back(equity.size());
    for (const engine::Trade& t : run->trades) {
      v1::WalkForwardTrade* trade = out->add_trades();
      trade->set_window(static_cast<int32_t>(w));
      trade->set_symbol(t.symbol);
      trade->set_side(t.side == engine::Side::kLong ? "long" : "short");
      trade->set_entry_time(t.entry_time);
      trade->set_exit_time(t.exit_time);
      trade->set_entry_price(t.entry_price);
      trade->set_exit_price(t.exit_price);
      trade->set_size(t.size);
      trade->set_pnl(t.pnl);
    }
  }
  const size_t stride = equity.size() / kMaxEquityPoints + 1;
  size_t next_end = 0;
  for (size_t k = 0; k < equity.size(); ++k) {
    const bool window_last = next_end < window_ends.size() && k + 1 == window_ends[next_end];
    if (window_last) ++next_end;
    if (k % stride != 0 && !window_last) continue;
    out->add_equity_times(equity[k].first);
    out->add_equity_values(equity[k].second);
  }
  out->set_efficiency(efficiency_count > 0 ? efficiency_sum / efficiency_count : kNaN);
  return absl::OkStatus();
}

}  // namespace backtest::runner
