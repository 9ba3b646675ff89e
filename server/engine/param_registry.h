// The one parameter registry of backtestd: every run parameter, its type, default, bounds, group, help
// and seed alias. It drives validation in the server, ListParams, the dashboard form and the docs.
//
// The built-in parameters are static data (AllParams, FindParam, ValidateParams). A ParamRegistry
// joins them with the parameters of strategies that are not built in (a strategy folder's, issue
// 14): immutable once made, so thread-safe; the server swaps in a new one when the folder changes.
#ifndef BACKTEST_SERVER_ENGINE_PARAM_REGISTRY_H_
#define BACKTEST_SERVER_ENGINE_PARAM_REGISTRY_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace backtest::engine {

enum class ParamType {
  kString,      // free text (bounded length)
  kInt,         // integer, optionally bounded
  kDouble,      // finite real number, optionally bounded
  kBool,        // true/false (also 1/0, yes/no, on/off)
  kChoice,      // one of `choices`
  kDateTime,    // epoch seconds or ISO 8601 ("2021-11-26", "2021-11-26 13:10", "2021-11-26T13:10:00Z")
  kSymbolList,  // comma-separated symbols, upper-cased
  kUrl,         // sample://, file:///dir, http(s)://host/…
};

absl::string_view ParamTypeName(ParamType type);

// One bound of a numeric parameter.
struct Bound {
  double value = 0;
  bool exclusive = false;
};

// One parameter definition. All strings are static.
struct ParamDef {
  absl::string_view name;           // canonical snake_case name
  absl::string_view alias;          // the seed's environment name, or empty
  ParamType type = ParamType::kString;
  absl::string_view group;          // run, risk, signal, sma_cross, trace
  absl::string_view default_value;  // canonical text; empty means "not set"
  bool optional = false;           // an empty value is allowed (and means "not set")
  std::optional<Bound> min;
  std::optional<Bound> max;
  std::span<const absl::string_view> choices;
  absl::string_view strategy;       // empty: every strategy; else the strategy that reads it
  absl::string_view help;
  bool hidden = false;             // accepted but not shown on forms (MODE)
};

// Every parameter, in form order (grouped).
std::span<const ParamDef> AllParams();

// The definition for a canonical name, a seed alias (RR, BACKTEST_FETCH_CSV_URL) or a name in another
// letter case (EMA_LENGTH); nullptr if none.
const ParamDef* FindParam(absl::string_view name_or_alias);

// Canonical name → canonical text value, for every parameter (defaults filled in).
using ParamValues = std::map<std::string, std::string, std::less<>>;

// Validates user-supplied values (name or alias → text) and returns the full, canonical set:
// every parameter present, defaults filled in, numbers and times normalised, aliases resolved.
// `now_epoch` replaces an empty `end_date` so a stored job reruns identically.
// Errors: InvalidArgument naming the parameter and the rule ("rr: must be > 0, got -1").
absl::StatusOr<ParamValues> ValidateParams(const std::map<std::string, std::string>& input,
                                           int64_t now_epoch);

// Validates a partial set (a preset): names resolved and values checked, no defaults filled in,
// no cross-parameter rules. Errors as ValidateParams.
absl::StatusOr<ParamValues> ValidatePartialParams(const std::map<std::string, std::string>& input);

// Parses a time as the registry does: the one time grammar of the engine, ParseCsvTime's (epoch
// seconds or milliseconds, or ISO 8601 date, date-time with minutes or seconds, 'T' or space,
// optional 'Z' or ±hh:mm / ±hhmm offset; no offset is UTC), around surrounding spaces, from 1900
// to 2200. InvalidArgument saying which rule failed.
absl::StatusOr<int64_t> ParseTimeText(absl::string_view text);

// Formats epoch seconds as "YYYY-MM-DDTHH:MM:SSZ" (IsoTime).
std::string FormatTime(int64_t epoch_seconds);

// The canonical text of a number, as the registry stores it and the API returns it: integral
// values as integers while every integer up to there is exact (100000000, not 1e+08; -0 as 0),
// else the shortest text that reads back exactly, %g style (0.0001, 1e-05). The defaults are
// written this way, so a validated set validates to itself.
std::string FormatNumber(double v);

// The type for its name as ParamTypeName writes it ("float" is read as double); InvalidArgument
// for any other word.
absl::StatusOr<ParamType> ParseParamType(absl::string_view name);

// One parameter of a strategy that is not built in, owning its text (a ParamDef views it).
struct ParamSpec {
  std::string name;   // snake_case
  std::string alias;  // or empty
  ParamType type = ParamType::kString;
  std::string group;          // empty: the strategy's name
  std::string default_value;  // any text the type accepts; stored in canonical form
  bool optional = false;
  std::optional<Bound> min;
  std::optional<Bound> max;
  std::vector<std::string> choices;
  std::string help;
  bool hidden = false;
};

// The parameters a strategy that is not built in declares.
struct StrategyParams {
  std::string strategy;  // its name: the `strategy` parameter's value
  std::vector<ParamSpec> params;
};

// The built-in parameters and those of the strategies that are not built in. Each of those
// strategies becomes a choice of `strategy`; its parameters are read only for it (ParamDef::
// strategy), and where one has the name of a built-in parameter it replaces that one for it.
class ParamRegistry {
 public:
  // The built-in parameters alone.
  static const ParamRegistry& Builtin();
  // InvalidArgument (Check's) for the first strategy that cannot join.
  static absl::StatusOr<std::unique_ptr<const ParamRegistry>> Make(
      std::vector<StrategyParams> strategies);
  // Whether `strategy` can join the built-ins: a snake_case name (1-64 characters) that is not a
  // built-in strategy's; parameter names snake_case and distinct, aliases distinct; defaults of
  // the parameter's type within its bounds (or optional), a choice's among its choices, bounds
  // only on numbers. The message names the strategy and the parameter ("my_cross: fast_period:
  // must be >= 1, got \"0\"").
  static absl::Status Check(const StrategyParams& strategy);

  ParamRegistry(const ParamRegistry&) = delete;
  ParamRegistry& operator=(const ParamRegistry&) = delete;

  // Every parameter: the built-ins (in form order), then each strategy's own.
  std::span<const ParamDef> params() const { return defs_; }
  // What a run of `strategy` reads, in form order: the built-ins that are not another
  // strategy's, its own in place of a built-in of the same name, then its others. Empty
  // `strategy`: every parameter, as params().
  std::vector<const ParamDef*> ForStrategy(absl::string_view strategy) const;
  // The strategies, built-ins first.
  const std::vector<std::string>& strategies() const { return strategy_names_; }
  bool HasStrategy(absl::string_view strategy) const;
  static bool IsBuiltinStrategy(absl::string_view strategy);

  // The definition `name_or_alias` means in a run of `strategy`: that strategy's own parameter,
  // else a built-in (by name or alias, then by name in another letter case); nullptr if none.
  // Empty `strategy`: built-ins, then every strategy's in order.
  const ParamDef* Find(absl::string_view name_or_alias, absl::string_view strategy) const;

  // ValidateParams with these strategies: the given `strategy`'s own parameters checked and filled
  // in as well (under their names, replacing a built-in of the same name).
  absl::StatusOr<ParamValues> Validate(const std::map<std::string, std::string>& input,
                                       int64_t now_epoch) const;
  // ValidatePartialParams with these strategies: names resolved for the set's `strategy` when it
  // has one, else as Find with no strategy.
  absl::StatusOr<ParamValues> ValidatePartial(
      const std::map<std::string, std::string>& input) const;

 private:
  ParamRegistry() = default;
  absl::string_view Keep(std::string text);
  // The strategy a set names (canonical), or the default; InvalidArgument for an unknown one.
  absl::StatusOr<std::string> StrategyOf(const std::map<std::string, std::string>& input,
                                         bool* given) const;
  absl::StatusOr<ParamValues> Resolve(const std::map<std::string, std::string>& input,
                                      absl::string_view strategy) const;

  std::deque<std::string> text_;                            // what the defs view
  std::deque<std::vector<absl::string_view>> choice_lists_;  // ditto
  std::vector<ParamDef> defs_;
  size_t builtin_count_ = 0;
  std::vector<std::string> strategy_names_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_PARAM_REGISTRY_H_
