#include "server/runner/walk_forward.h"

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

engine::ParamValues Combination(const v1::SweepSpec& sweep, const engine::ParamValues& base,
                                int row) {
  engine::ParamValues params = base;
  const v1::SweepCombination& combo = sweep.combinations(row);
  for (int n = 0; n < sweep.names_size() && n < combo.values_size(); ++n) {
    params[sweep.names(n)] = combo.values(n);
  }
  return params;
}

// The best row on `data`: the best defined objective, ties to the lower row; -1 when none is
// defined.
absl::StatusOr<int> BestOn(const v1::SweepSpec& sweep, const engine::ParamValues& base,
                           const engine::MarketData& data, const engine::RunOptions& options,
                           int threads, v1::Stats* best_stats) {
  std::vector<int> rows(static_cast<size_t>(sweep.combinations_size()));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int>(i);
  std::mutex mu;
  int best = -1;
  double best_value = 0;
  ForEachCombination(sweep, base, data, options, threads, rows,
                     [&](int i, const absl::StatusOr<engine::RunResult>& result) {
                       if (!result.ok()) return;
                       v1::Stats stats;
                       ToStats(result->stats, &stats);
                       const double x = StatValue(stats, sweep.objective());
                       if (std::isnan(x)) return;
                       std::lock_guard lock(mu);
                       const bool better =
                           best < 0 || (sweep.minimize() ? x < best_value : x > best_value) ||
                           (x == best_value && i < best);
                       if (better) {
                         best = i;
                         best_value = x;
                         *best_stats = stats;
                       }
                     });
  if (CancelRequested().load()) return absl::CancelledError("cancelled");
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

absl::Status RunWalkForward(const v1::SweepSpec& sweep, const engine::ParamValues& base,
                            const engine::RunConfig& config, const engine::MarketData& data,
                            const engine::RunOptions& options, int threads,
                            const std::function<void(const std::string&)>& log,
                            v1::WalkForwardEvent* out) {
  const int64_t bars = static_cast<int64_t>(data.symbols[0].kept());
  const std::vector<WalkForwardWindow> windows = WalkForwardWindows(bars, sweep.walk_forward());
  if (windows.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "walk_forward: train_bars + test_bars (", sweep.walk_forward().train_bars(), " + ",
        sweep.walk_forward().test_bars(), ") do not fit in the run's ", bars, " bars"));
  }
  std::vector<std::pair<int64_t, double>> equity;  // stitched
  std::vector<size_t> window_ends;                  // index of each window's last point
  double level = config.initial_equity;
  double efficiency_sum = 0;
  int efficiency_count = 0;
  engine::NullObserver quiet;
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
    auto best = BestOn(sweep, base, *train, options, threads, r->mutable_train_stats());
    if (!best.ok()) return best.status();
    r->set_best_row(*best);
    r->set_efficiency(kNaN);
    if (*best < 0) {  // no combination has a defined objective on this window
      log(absl::StrCat("walk-forward window ", w + 1, " of ", windows.size(),
                       ": no combination has a defined ", sweep.objective()));
      continue;
    }
    auto params = Combination(sweep, base, *best);
    auto c = engine::RunConfigFromParams(params);
    if (!c.ok()) return c.status();
    c->start = test_config.start;
    c->end = test_config.end;
    c->max_candles.reset();
    auto run = engine::RunBacktest(*c, *test, options, quiet);
    if (!run.ok()) return run.status();
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
