// The one parameter registry of backtestd: every run parameter, its type, default, bounds, group, help
// and seed alias. It drives validation in the server, ListParams, the dashboard form and the docs.
//
// Thread-safe: the registry is immutable static data.
#ifndef BACKTEST_SERVER_ENGINE_PARAM_REGISTRY_H_
#define BACKTEST_SERVER_ENGINE_PARAM_REGISTRY_H_

#include <map>
#include <optional>
#include <span>
#include <string>

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

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_PARAM_REGISTRY_H_
