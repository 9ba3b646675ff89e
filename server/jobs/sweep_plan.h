// A parameter sweep's request in domain terms and the plan it expands to: the combinations a sweep
// job runs, each a full, validated parameter set (docs/sweeps.md).
//
// PlanSweep is pure (no I/O): validation names the field at fault, grid and seeded random
// enumerate deterministically, constraints prune, a size limit refuses with the count.
#ifndef BACKTEST_SERVER_JOBS_SWEEP_PLAN_H_
#define BACKTEST_SERVER_JOBS_SWEEP_PLAN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/param_registry.h"

namespace backtest::jobs {

// The values one parameter takes: a list, or start/stop/step (stop included when on the step),
// or `count` values from start to stop spaced evenly on a log scale (`log`). Integer parameters
// take whole numbers (log values rounded, repeats dropped).
struct SweepRange {
  std::string name;
  std::vector<std::string> values;
  std::optional<double> start;
  std::optional<double> stop;
  std::optional<double> step;
  bool log = false;
  int64_t count = 0;
};

enum class SweepMethod { kGrid, kRandom };

struct SweepObjective {
  std::string stat = "sharpe";  // a name of SweepStatNames()
  bool maximize = true;
};

// Walk-forward windows over the run's kept bars (docs/sweeps.md, "Walk-forward").
struct SweepWalkForward {
  bool anchored = false;
  int64_t train_bars = 0;
  int64_t test_bars = 0;
};

struct SweepRequest {
  // The validated base parameter set (every parameter present, canonical).
  engine::ParamValues base;
  std::vector<SweepRange> ranges;
  SweepMethod method = SweepMethod::kGrid;
  int64_t count = 0;  // random: how many combinations
  uint64_t seed = 0;  // random: the seed (the same seed picks the same combinations)
  // "a < b" with a and b parameter names or numbers; op one of < <= > >= == !=.
  std::vector<std::string> constraints;
  SweepObjective objective;
  std::optional<SweepWalkForward> walk_forward;
};

struct SweepPlan {
  engine::ParamValues base;
  std::vector<std::string> names;                 // the varied parameters, in request order
  std::vector<std::vector<std::string>> combos;   // per combination, a canonical value per name
  int64_t grid_size = 0;                          // the grid's size before constraints
  SweepObjective objective;
  std::optional<SweepWalkForward> walk_forward;
};

// Grids larger than this are refused before they are enumerated, whatever the limit.
inline constexpr int64_t kMaxSweepGrid = 2'000'000;

// Expands and validates `request` with `registry` (the base's strategy's parameters).
// InvalidArgument naming the field: ranges[i].name (unknown, data or trace parameter, repeated),
// ranges[i].values / start / stop / step / count (bad values, each checked as the parameter
// would be), method, count, constraints[i] (does not parse, unknown name), objective.stat; a
// walk_forward.train_bars / test_bars (< 1); a
// combination the registry refuses as a whole (sma_cross's fast_period < slow_period) names it
// and asks for a constraint; more than `max_combinations` combinations (after constraints), or a
// grid past kMaxSweepGrid, is refused with the number the sweep would have run.
absl::StatusOr<SweepPlan> PlanSweep(const SweepRequest& request,
                                    const engine::ParamRegistry& registry, int64_t now_epoch,
                                    int64_t max_combinations);

// "a op b" with op one of < <= > >= == != (constraints, and ListSweepRows' filter): the two
// sides as written (trimmed, not empty) and the operator; nullopt when `text` is not one.
struct Comparison {
  std::string left;
  std::string op;
  std::string right;
};
std::optional<Comparison> ParseComparison(absl::string_view text);
// a op b.
bool Compare(double a, absl::string_view op, double b);

// The full parameter set of combination `i` of `plan`.
engine::ParamValues CombinationParams(const SweepPlan& plan, size_t i);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_SWEEP_PLAN_H_
