#include "server/jobs/sweep_plan.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "server/jobs/sweep_stats.h"

namespace backtest::jobs {
namespace {

// Parameters a sweep may not vary: the data is loaded once for all its combinations, and its
// rows are stats only (no trace).
constexpr absl::string_view kFixed[] = {"strategy",  "symbols",     "timeframe", "start_date",
                                        "end_date",  "max_candles", "data_source", "market_type",
                                        "pip_size",  "mode",        "trace_enabled",
                                        "trace_sampling"};
// More values than this in one range is a mistake (the grid limit would refuse it anyway).
constexpr int64_t kMaxRangeValues = 100'000;

std::string Field(size_t i, absl::string_view what) {
  return absl::StrCat("ranges[", i, "].", what);
}

// The text of a number for the registry to canonicalise: integers as integers, others with 12
// significant digits (start + k*step's rounding noise, 0.30000000000000004, goes away).
std::string NumberText(double v, bool integer) {
  if (integer) return absl::StrCat(static_cast<int64_t>(std::llround(v)));
  return absl::StrFormat("%.12g", v);
}

absl::StatusOr<std::vector<std::string>> RangeTexts(const SweepRange& r, size_t i, bool integer) {
  std::vector<std::string> texts;
  const bool numeric_form = r.start || r.stop || r.step || r.log || r.count != 0;
  if (!r.values.empty()) {
    if (numeric_form) {
      return absl::InvalidArgumentError(
          absl::StrCat(Field(i, "values"), ": give either values or start/stop, not both"));
    }
    return r.values;
  }
  if (!r.start || !r.stop) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(i, r.start ? "stop" : "start"),
                     ": required (or give values)"));
  }
  const double start = *r.start, stop = *r.stop;
  if (!std::isfinite(start) || !std::isfinite(stop)) {
    return absl::InvalidArgumentError(absl::StrCat(Field(i, "start"), ": must be finite"));
  }
  if (r.log) {
    if (r.step) {
      return absl::InvalidArgumentError(
          absl::StrCat(Field(i, "step"), ": a log range takes count, not step"));
    }
    if (r.count < 2 || r.count > kMaxRangeValues) {
      return absl::InvalidArgumentError(absl::StrCat(Field(i, "count"), ": must be 2 to ",
                                                     kMaxRangeValues, " for a log range, got ",
                                                     r.count));
    }
    if (start <= 0 || stop <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(Field(i, start <= 0 ? "start" : "stop"), ": must be > 0 for a log range"));
    }
    for (int64_t k = 0; k < r.count; ++k) {
      const double v = k + 1 == r.count
                           ? stop
                           : start * std::pow(stop / start, static_cast<double>(k) /
                                                                static_cast<double>(r.count - 1));
      std::string text = NumberText(v, integer);
      if (texts.empty() || texts.back() != text) texts.push_back(std::move(text));
    }
    return texts;
  }
  if (r.count != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(i, "count"), ": only a log range takes count"));
  }
  const double step = r.step.value_or(1);
  if (!(step > 0) || !std::isfinite(step)) {
    return absl::InvalidArgumentError(absl::StrCat(Field(i, "step"), ": must be > 0, got ", step));
  }
  if (stop < start) {
    return absl::InvalidArgumentError(absl::StrCat(Field(i, "stop"), ": must be >= start (",
                                                   start, "), got ", stop));
  }
  if (integer && (start != std::floor(start) || step != std::floor(step))) {
    return absl::InvalidArgumentError(absl::StrCat(
        Field(i, start != std::floor(start) ? "start" : "step"), ": ", r.name,
        " takes whole numbers"));
  }
  const double n = std::floor((stop - start) / step * (1 + 1e-12)) + 1;
  if (n > kMaxRangeValues) {
    return absl::InvalidArgumentError(absl::StrCat(Field(i, "step"), ": the range has ", n,
                                                   " values, more than ", kMaxRangeValues));
  }
  for (int64_t k = 0; k < static_cast<int64_t>(n); ++k) {
    texts.push_back(NumberText(start + static_cast<double>(k) * step, integer));
  }
  return texts;
}

// One side of a constraint: a parameter (index into the plan's values) or a number.
struct Operand {
  std::string name;
  double number = 0;
};

struct Constraint {
  Operand left, right;
  std::string op;
};

absl::StatusOr<Constraint> ParseConstraint(absl::string_view text, size_t i,
                                           const engine::ParamRegistry& registry,
                                           absl::string_view strategy) {
  const std::string field = absl::StrCat("constraints[", i, "]");
  std::optional<Comparison> parsed = ParseComparison(text);
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": \"", text.substr(0, 100),
        "\" is not a comparison (a < b, with <, <=, >, >=, == or != between names or numbers)"));
  }
  Constraint c{.op = parsed->op};
  const std::string* sides[2] = {&parsed->left, &parsed->right};
  Operand* out[2] = {&c.left, &c.right};
  for (int s = 0; s < 2; ++s) {
    if (absl::SimpleAtod(*sides[s], &out[s]->number) && std::isfinite(out[s]->number)) continue;
    const engine::ParamDef* def = registry.Find(*sides[s], strategy);
    if (def == nullptr || (!def->strategy.empty() && def->strategy != strategy)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": unknown parameter \"",
                                                     sides[s]->substr(0, 64), "\" for ",
                                                     strategy));
    }
    if (def->type != engine::ParamType::kInt && def->type != engine::ParamType::kDouble) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", def->name, " is not a number"));
    }
    out[s]->name = std::string(def->name);
  }
  return c;
}

double ValueOf(const Operand& o, const engine::ParamValues& params) {
  if (o.name.empty()) return o.number;
  double v = 0;
  (void)absl::SimpleAtod(params.find(o.name)->second, &v);  // validated numbers
  return v;
}

bool Holds(const Constraint& c, const engine::ParamValues& params) {
  return Compare(ValueOf(c.left, params), c.op, ValueOf(c.right, params));
}

std::string Describe(const std::vector<std::string>& names, const std::vector<std::string>& v) {
  std::string out;
  for (size_t k = 0; k < names.size(); ++k) {
    absl::StrAppend(&out, k ? ", " : "", names[k], "=", v[k]);
  }
  return out;
}

}  // namespace

absl::StatusOr<SweepPlan> PlanSweep(const SweepRequest& request,
                                    const engine::ParamRegistry& registry, int64_t now_epoch,
                                    int64_t max_combinations) {
  SweepPlan plan;
  plan.base = request.base;
  plan.objective = request.objective;
  plan.walk_forward = request.walk_forward;
  if (request.walk_forward) {
    const SweepWalkForward& wf = *request.walk_forward;
    const std::pair<const char*, int64_t> bars[] = {{"train_bars", wf.train_bars},
                                                    {"test_bars", wf.test_bars}};
    for (const auto& [field, value] : bars) {
      if (value < 1 || value > 100'000'000) {
        return absl::InvalidArgumentError(absl::StrCat("walk_forward.", field,
                                                       ": must be 1 to 100000000, got ", value));
      }
    }
  }
  const std::string strategy = request.base.count("strategy") ? request.base.at("strategy") : "";
  if (request.ranges.empty()) {
    return absl::InvalidArgumentError("ranges: at least one parameter must vary");
  }
  if (SweepStatIndex(request.objective.stat) < 0) {
    return absl::InvalidArgumentError(absl::StrCat("objective.stat: \"",
                                                   request.objective.stat.substr(0, 64),
                                                   "\" is not a stat of a result"));
  }
  // Each range's values, canonical as the registry writes them.
  std::vector<std::vector<std::string>> values;
  for (size_t i = 0; i < request.ranges.size(); ++i) {
    const SweepRange& r = request.ranges[i];
    const engine::ParamDef* def = registry.Find(r.name, strategy);
    if (def == nullptr || (!def->strategy.empty() && def->strategy != strategy)) {
      return absl::InvalidArgumentError(absl::StrCat(Field(i, "name"), ": unknown parameter \"",
                                                     r.name.substr(0, 64), "\" for ", strategy));
    }
    if (std::find(std::begin(kFixed), std::end(kFixed), def->name) != std::end(kFixed)) {
      return absl::InvalidArgumentError(absl::StrCat(
          Field(i, "name"), ": ", def->name,
          " cannot vary in a sweep (the data is loaded once; rows have no trace)"));
    }
    if (std::find(plan.names.begin(), plan.names.end(), def->name) != plan.names.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Field(i, "name"), ": ", def->name, " has two ranges"));
    }
    const bool numeric = def->type == engine::ParamType::kInt ||
                         def->type == engine::ParamType::kDouble;
    if (r.values.empty() && !numeric) {
      return absl::InvalidArgumentError(absl::StrCat(Field(i, "values"), ": ", def->name,
                                                     " is not a number: list its values"));
    }
    ASSIGN_OR_RETURN(std::vector<std::string> texts,
                     RangeTexts(r, i, def->type == engine::ParamType::kInt));
    std::vector<std::string> canonical;
    for (const std::string& text : texts) {
      auto checked = registry.ValidatePartial({{"strategy", strategy}, {def->name.data(), text}});
      if (!checked.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Field(i, r.values.empty() ? "start" : "values"), ": ",
                         checked.status().message()));
      }
      std::string value = checked->at(std::string(def->name));
      if (std::find(canonical.begin(), canonical.end(), value) != canonical.end()) {
        return absl::InvalidArgumentError(absl::StrCat(Field(i, "values"), ": ", value,
                                                       " is given twice"));
      }
      canonical.push_back(std::move(value));
    }
    plan.names.push_back(std::string(def->name));
    values.push_back(std::move(canonical));
  }
  std::vector<Constraint> constraints;
  for (size_t i = 0; i < request.constraints.size(); ++i) {
    ASSIGN_OR_RETURN(Constraint c, ParseConstraint(request.constraints[i], i, registry, strategy));
    constraints.push_back(std::move(c));
  }
  if (request.method == SweepMethod::kRandom) {
    if (request.count < 1 || request.count > max_combinations) {
      return absl::InvalidArgumentError(absl::StrCat("count: a random sweep takes 1 to ",
                                                     max_combinations, " combinations, got ",
                                                     request.count));
    }
  } else if (request.count != 0 || request.seed != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(request.count != 0 ? "count" : "seed", ": only a random sweep takes it"));
  }
  double grid = 1;
  for (const auto& v : values) grid *= static_cast<double>(v.size());
  if (grid > static_cast<double>(kMaxSweepGrid)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ranges: the grid has %.0f combinations, more than %d can be enumerated", grid,
        kMaxSweepGrid));
  }
  plan.grid_size = static_cast<int64_t>(grid);
  // The grid in order, the last range varying fastest; constraints prune.
  // A grid sweep keeps no more combinations than it may run, and counts the rest.
  const size_t keep = request.method == SweepMethod::kGrid ? static_cast<size_t>(max_combinations)
                                                           : SIZE_MAX;
  int64_t passing = 0;
  std::vector<size_t> at(values.size(), 0);
  engine::ParamValues params = request.base;
  for (int64_t n = 0; n < plan.grid_size; ++n) {
    std::vector<std::string> combo(values.size());
    for (size_t k = 0; k < values.size(); ++k) {
      combo[k] = values[k][at[k]];
      params[plan.names[k]] = combo[k];
    }
    if (std::all_of(constraints.begin(), constraints.end(),
                    [&](const Constraint& c) { return Holds(c, params); })) {
      ++passing;
      if (plan.combos.size() < keep) plan.combos.push_back(std::move(combo));
    }
    for (size_t k = values.size(); k-- > 0;) {
      if (++at[k] < values[k].size()) break;
      at[k] = 0;
    }
  }
  if (request.method == SweepMethod::kRandom &&
      static_cast<int64_t>(plan.combos.size()) > request.count) {
    // A seeded partial Fisher-Yates over the grid's order, then back in grid order: the same
    // seed picks the same combinations (mt19937_64's sequence is fixed by the standard).
    std::mt19937_64 rng(request.seed);
    std::vector<size_t> index(plan.combos.size());
    for (size_t k = 0; k < index.size(); ++k) index[k] = k;
    for (size_t k = 0; k < static_cast<size_t>(request.count); ++k) {
      std::swap(index[k], index[k + rng() % (index.size() - k)]);
    }
    index.resize(static_cast<size_t>(request.count));
    std::sort(index.begin(), index.end());
    std::vector<std::vector<std::string>> picked;
    for (size_t k : index) picked.push_back(std::move(plan.combos[k]));
    plan.combos = std::move(picked);
  }
  if (plan.combos.empty()) {
    return absl::InvalidArgumentError("constraints: no combination satisfies them");
  }
  if (request.method == SweepMethod::kGrid && passing > max_combinations) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ranges: the sweep would run ", passing, " combinations, more than the limit of ",
        max_combinations, " (--max-sweep-combinations)"));
  }
  // Each combination as a whole, as a single job would be checked (rules across parameters).
  for (size_t i = 0; i < plan.combos.size(); ++i) {
    std::map<std::string, std::string> input(plan.base.begin(), plan.base.end());
    for (size_t k = 0; k < plan.names.size(); ++k) input[plan.names[k]] = plan.combos[i][k];
    auto checked = registry.Validate(input, now_epoch);
    if (!checked.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "constraints: the combination ", Describe(plan.names, plan.combos[i]), " is refused (",
          checked.status().message(), "); add a constraint that leaves it out"));
    }
  }
  return plan;
}

std::optional<Comparison> ParseComparison(absl::string_view text) {
  // Two-character operators first: "<=" is not "<" followed by "=".
  static constexpr absl::string_view kOps[] = {"<=", ">=", "==", "!=", "<", ">"};
  for (absl::string_view op : kOps) {
    const size_t at = text.find(op);
    if (at == absl::string_view::npos) continue;
    Comparison c{std::string(absl::StripAsciiWhitespace(text.substr(0, at))), std::string(op),
                 std::string(absl::StripAsciiWhitespace(text.substr(at + op.size())))};
    if (c.left.empty() || c.right.empty()) return std::nullopt;
    return c;
  }
  return std::nullopt;
}

bool Compare(double a, absl::string_view op, double b) {
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  if (op == ">=") return a >= b;
  if (op == "==") return a == b;
  return a != b;
}

engine::ParamValues CombinationParams(const SweepPlan& plan, size_t i) {
  engine::ParamValues params = plan.base;
  for (size_t k = 0; k < plan.names.size(); ++k) params[plan.names[k]] = plan.combos[i][k];
  return params;
}

}  // namespace backtest::jobs
