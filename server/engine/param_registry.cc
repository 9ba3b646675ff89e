#include "server/engine/param_registry.h"

#include <array>
#include <charconv>
#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/data_policy.h"

namespace backtest::engine {
namespace {

constexpr std::array<absl::string_view, 2> kStrategies = {"sr_breakout", "sma_cross"};
constexpr std::array<absl::string_view, 8> kTimeframes = {"M1", "M5", "M15", "M30",
                                                         "H1", "H4", "D1", "W1"};
constexpr std::array<absl::string_view, 6> kMarketTypes = {"forex",  "crypto",      "stocks",
                                                          "futures", "commodities", "indices"};
constexpr std::array<absl::string_view, 1> kModes = {"backtest"};

constexpr Bound Incl(double v) { return Bound{v, false}; }
constexpr Bound Excl(double v) { return Bound{v, true}; }

// The registry. Defaults are the seed's test.py values; bounds are the contract's.
const ParamDef kParams[] = {
    // --- run ---
    {.name = "strategy", .type = ParamType::kChoice, .group = "run", .default_value = "sr_breakout",
     .choices = kStrategies, .help = "Strategy to run: sr_breakout (support/resistance breakout and "
                                     "retest) or sma_cross (reference SMA crossover)."},
    {.name = "symbols", .type = ParamType::kSymbolList, .group = "run", .default_value = "XAGUSD",
     .help = "Comma-separated symbols, traded from one account; at one timestamp symbols are "
             "processed in this order."},
    {.name = "timeframe", .type = ParamType::kChoice, .group = "run", .default_value = "H1",
     .choices = kTimeframes,
     .help = "Bar timeframe; coarser timeframes are resampled from finer source data."},
    {.name = "start_date", .type = ParamType::kDateTime, .group = "run",
     .default_value = "2021-11-26T13:10:00Z",
     .help = "First bar open time kept (inclusive), UTC. Epoch seconds or ISO 8601."},
    {.name = "end_date", .type = ParamType::kDateTime, .group = "run", .optional = true,
     .help = "Bars must open before this time (exclusive), UTC. Empty means now (fixed when the "
             "job is submitted)."},
    {.name = "max_candles", .type = ParamType::kInt, .group = "run", .optional = true,
     .min = Incl(1), .max = Incl(100'000'000),
     .help = "Keep only the last N bars of the window. Empty means no limit."},
    {.name = "spread_pips", .type = ParamType::kDouble, .group = "run", .default_value = "0",
     .min = Incl(0), .max = Incl(1e6),
     .help = "Spread in pips added to buy fills (long entries, short exits); prices are bid."},
    {.name = "commission", .type = ParamType::kDouble, .group = "run", .default_value = "0",
     .min = Incl(0), .max = Excl(0.1),
     .help = "Commission per fill as a fraction of the traded notional (0.0002 = 2 bp)."},
    {.name = "slippage_pips", .type = ParamType::kDouble, .group = "run", .default_value = "0",
     .min = Incl(0), .max = Incl(1e6),
     .help = "Adverse slippage in pips applied to every market and stop fill."},
    {.name = "data_source", .alias = "BACKTEST_FETCH_CSV_URL", .type = ParamType::kUrl,
     .group = "run", .default_value = "sample://",
     .help = "Market data: sample:// (built-in deterministic data), file:///dir (CSV files "
             "SYMBOL_TIMEFRAME.csv or SYMBOL.csv) or an http(s):// base URL answering "
             "GET {base}/ohlc?symbol=&timeframe=&start=&end= with CSV."},
    {.name = "market_type", .alias = "MARKET_TYPE", .type = ParamType::kChoice, .group = "run",
     .default_value = "forex", .choices = kMarketTypes, .help = "Market type of the symbols."},
    {.name = "pip_size", .type = ParamType::kDouble, .group = "run", .optional = true,
     .min = Excl(0), .max = Incl(1e6),
     .help = "Pip size. Empty: 0.01 for JPY quotes, 0.0001 for other currency pairs, 0.01 for "
             "XAU…, 0.001 for XAG…, else 0.01."},
    {.name = "mode", .alias = "MODE", .type = ParamType::kChoice, .group = "run",
     .default_value = "backtest", .choices = kModes, .help = "Always backtest.", .hidden = true},
    // --- risk ---
    {.name = "initial_equity", .alias = "INITIAL_EQUITY", .type = ParamType::kDouble,
     .group = "risk", .default_value = "100000000", .min = Excl(0), .max = Incl(1e15),
     .help = "Starting account equity."},
    {.name = "risk_per_trade", .alias = "RISK_PER_TRADE", .type = ParamType::kDouble,
     .group = "risk", .default_value = "0.0001", .min = Excl(0), .max = Incl(0.1),
     .strategy = "sr_breakout",
     .help = "Fraction of equity (initial + realized P&L) risked per trade."},
    {.name = "rr", .alias = "RR", .type = ParamType::kDouble, .group = "risk",
     .default_value = "2", .min = Excl(0), .max = Incl(1000), .strategy = "sr_breakout",
     .help = "Reward-to-risk ratio: target = fill + rr × risk."},
    {.name = "min_risk_distance_atr", .alias = "MIN_RISK_DISTANCE_ATR",
     .type = ParamType::kDouble, .group = "risk", .default_value = "0.5", .min = Excl(0),
     .max = Incl(1000), .strategy = "sr_breakout",
     .help = "Minimum stop distance in ATR; a closer stop is widened to it."},
    {.name = "sl_buffer_atr", .alias = "SL_BUFFER_ATR", .type = ParamType::kDouble,
     .group = "risk", .default_value = "0.3", .min = Incl(0), .max = Incl(1000),
     .strategy = "sr_breakout",
     .help = "Stop buffer in ATR beyond the level and the retest's wick."},
    // --- signal ---
    {.name = "breakout_lookback_period", .alias = "BREAKOUT_LOOKBACK_PERIOD",
     .type = ParamType::kInt, .group = "signal", .default_value = "48", .min = Incl(2),
     .max = Incl(100'000), .strategy = "sr_breakout",
     .help = "Bars in the support/resistance window; also how long a setup may wait for its "
             "retest."},
    {.name = "breakout_min_strength_atr", .alias = "BREAKOUT_MIN_STRENGTH_ATR",
     .type = ParamType::kDouble, .group = "signal", .default_value = "0.2", .min = Incl(0),
     .max = Incl(1000), .strategy = "sr_breakout",
     .help = "Minimum distance of the breakout close beyond the level, in ATR."},
    {.name = "zone_inversion_margin_atr", .alias = "ZONE_INVERSION_MARGIN_ATR",
     .type = ParamType::kDouble, .group = "signal", .default_value = "1", .min = Incl(0),
     .max = Incl(1000), .strategy = "sr_breakout",
     .help = "Distance in ATR a close must move away from the level before a retest counts."},
    {.name = "sr_cancellation_threshold_atr", .alias = "SR_CANCELLATION_THRESHOLD_ATR",
     .type = ParamType::kDouble, .group = "signal", .default_value = "0.2", .min = Incl(0),
     .max = Incl(1000), .strategy = "sr_breakout",
     .help = "A close this many ATR back through the level cancels the setup."},
    {.name = "ema_length", .alias = "EMA_LENGTH", .type = ParamType::kInt, .group = "signal",
     .default_value = "40", .min = Incl(2), .max = Incl(100'000), .strategy = "sr_breakout",
     .help = "EMA length of the trend filter (long above, short below)."},
    {.name = "check_for_daily_rsi", .alias = "CHECK_FOR_DAILY_RSI", .type = ParamType::kBool,
     .group = "signal", .default_value = "true", .strategy = "sr_breakout",
     .help = "Filter breakouts with the daily RSI(14): longs need < 70, shorts > 30."},
    // --- sma_cross ---
    {.name = "fast_period", .type = ParamType::kInt, .group = "sma_cross", .default_value = "10",
     .min = Incl(1), .max = Incl(100'000), .strategy = "sma_cross",
     .help = "Fast SMA period (must be below slow_period)."},
    {.name = "slow_period", .type = ParamType::kInt, .group = "sma_cross", .default_value = "30",
     .min = Incl(2), .max = Incl(100'000), .strategy = "sma_cross", .help = "Slow SMA period."},
    {.name = "size", .type = ParamType::kDouble, .group = "sma_cross", .default_value = "1",
     .min = Excl(0), .max = Incl(1e12), .strategy = "sma_cross",
     .help = "Position size in units; the strategy is always long or short this size."},
    // --- trace ---
    {.name = "trace_enabled", .type = ParamType::kBool, .group = "trace",
     .default_value = "false",
     .help = "Record the per-bar decision trace (entries, exits and cancellations always)."},
    {.name = "trace_sampling", .type = ParamType::kInt, .group = "trace", .default_value = "1",
     .min = Incl(1), .max = Incl(1'000'000),
     .help = "Trace every Nth bar (events are always traced)."},
};

constexpr size_t kMaxTextLength = 2048;
constexpr size_t kMaxSymbols = 64;

absl::Status Invalid(const ParamDef& def, absl::string_view rule, absl::string_view got) {
  std::string shown(got.substr(0, 64));
  if (got.size() > 64) shown += "…";
  return absl::InvalidArgumentError(absl::StrCat(def.name, ": ", rule, ", got \"", shown, "\""));
}

std::string BoundText(const ParamDef& def) {
  std::string out;
  if (def.min) absl::StrAppend(&out, def.min->exclusive ? "> " : ">= ", FormatNumber(def.min->value));
  if (def.max) {
    if (!out.empty()) out += " and ";
    absl::StrAppend(&out, def.max->exclusive ? "< " : "<= ", FormatNumber(def.max->value));
  }
  return out;
}

absl::Status CheckBounds(const ParamDef& def, double v, absl::string_view raw) {
  bool ok = true;
  if (def.min) ok &= def.min->exclusive ? v > def.min->value : v >= def.min->value;
  if (def.max) ok &= def.max->exclusive ? v < def.max->value : v <= def.max->value;
  if (!ok) return Invalid(def, absl::StrCat("must be ", BoundText(def)), raw);
  return absl::OkStatus();
}

// A plain decimal number: [+-]digits[.digits][e[+-]digits]. absl's parsers also take hex ("0x10")
// and "inf"/"nan", which no parameter means.
bool IsDecimal(absl::string_view v) {
  size_t i = 0;
  if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
  size_t digits = 0;
  while (i < v.size() && absl::ascii_isdigit(v[i])) ++i, ++digits;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && absl::ascii_isdigit(v[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    size_t exponent = 0;
    while (i < v.size() && absl::ascii_isdigit(v[i])) ++i, ++exponent;
    if (exponent == 0) return false;
  }
  return i == v.size();
}

bool ValidSymbol(absl::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

// Returns the canonical text of one value, or InvalidArgument.
// The canonical text of a value of each type: `v` is the value without surrounding spaces, `raw`
// what was given (errors quote it).
absl::StatusOr<std::string> CanonicalInt(const ParamDef& def, absl::string_view v,
                                         absl::string_view raw) {
  int64_t n = 0;
  double d = 0;
  if (!IsDecimal(v)) return Invalid(def, "must be an integer", raw);
  if (!absl::SimpleAtoi(v, &n)) {
    // Accept 48.0 from JSON clients, never 48.5.
    if (!absl::SimpleAtod(v, &d) || !std::isfinite(d) || d != std::trunc(d) ||
        std::fabs(d) > 9e15) {
      return Invalid(def, "must be an integer", raw);
    }
    n = static_cast<int64_t>(d);
  }
  if (auto s = CheckBounds(def, static_cast<double>(n), raw); !s.ok()) return s;
  return absl::StrCat(n);
}

absl::StatusOr<std::string> CanonicalDouble(const ParamDef& def, absl::string_view v,
                                            absl::string_view raw) {
  double d = 0;
  if (!IsDecimal(v) || !absl::SimpleAtod(v, &d)) {
    // Say "finite" for the spellings of infinity and NaN people actually send.
    std::string l = absl::AsciiStrToLower(v);
    if (absl::StrContains(l, "inf") || absl::StrContains(l, "nan")) {
      return Invalid(def, "must be a finite number", raw);
    }
    return Invalid(def, "must be a number", raw);
  }
  if (!std::isfinite(d)) return Invalid(def, "must be a finite number", raw);
  if (auto s = CheckBounds(def, d, raw); !s.ok()) return s;
  return FormatNumber(d);
}

absl::StatusOr<std::string> CanonicalBool(const ParamDef& def, absl::string_view v,
                                          absl::string_view raw) {
  std::string l = absl::AsciiStrToLower(v);
  if (l == "true" || l == "1" || l == "yes" || l == "on") return std::string("true");
  if (l == "false" || l == "0" || l == "no" || l == "off") return std::string("false");
  return Invalid(def, "must be true or false", raw);
}

absl::StatusOr<std::string> CanonicalChoice(const ParamDef& def, absl::string_view v,
                                            absl::string_view raw) {
  for (absl::string_view c : def.choices) {
    if (absl::EqualsIgnoreCase(c, v)) return std::string(c);
  }
  return Invalid(def, absl::StrCat("must be one of ", absl::StrJoin(def.choices, ", ")), raw);
}

absl::StatusOr<std::string> CanonicalDateTime(const ParamDef& def, absl::string_view v,
                                              absl::string_view raw) {
  auto t = ParseTimeText(v);
  if (!t.ok()) return Invalid(def, "must be epoch seconds or an ISO 8601 date/time", raw);
  return FormatTime(*t);
}

absl::StatusOr<std::string> CanonicalSymbols(const ParamDef& def, absl::string_view v,
                                             absl::string_view raw) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(v, ',')) {
    std::string sym = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(part));
    if (!ValidSymbol(sym)) {
      return Invalid(def, "symbols are 1-32 letters, digits, '.', '_' or '-', comma-separated",
                     raw);
    }
    for (const auto& seen : out) {
      if (seen == sym) return Invalid(def, absl::StrCat("symbol ", sym, " is listed twice"), raw);
    }
    out.push_back(std::move(sym));
  }
  if (out.size() > kMaxSymbols) return Invalid(def, "at most 64 symbols", raw);
  return absl::StrJoin(out, ",");
}

absl::StatusOr<std::string> CanonicalUrl(const ParamDef& def, absl::string_view v,
                                         absl::string_view raw) {
  if (v == "sample://" || v == "sample:") return std::string("sample://");
  if (absl::StartsWith(v, "file:///") && v.size() > 8) {
    // Percent-decoded before '..' and control characters are looked for ("%2e%2e" is "..").
    auto dir = FileUrlDir(v);
    if (!dir.ok()) {
      return Invalid(def, absl::StripPrefix(dir.status().message(), "data_source: "), raw);
    }
    return std::string(v);
  }
  if ((absl::StartsWith(v, "http://") && v.size() > 7) ||
      (absl::StartsWith(v, "https://") && v.size() > 8)) {
    for (char c : v) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        return Invalid(def, "URL must not contain spaces or control characters", raw);
      }
    }
    // Every trailing slash goes (the source appends "/ohlc?..."), so the canonical form
    // validates to itself; nothing but slashes after the scheme is no URL.
    absl::string_view base = v;
    while (absl::ConsumeSuffix(&base, "/")) {
    }
    if (base.size() > (absl::StartsWith(v, "https://") ? 8u : 7u)) return std::string(base);
  }
  return Invalid(def, "must be sample://, file:///dir or an http(s):// URL", raw);
}

absl::StatusOr<std::string> Canonical(const ParamDef& def, absl::string_view raw) {
  absl::string_view v = absl::StripAsciiWhitespace(raw);
  if (raw.size() > kMaxTextLength) return Invalid(def, "is too long (2048 characters at most)", raw);
  if (v.empty()) {
    if (def.optional) return std::string();
    return Invalid(def, "must not be empty", raw);
  }
  switch (def.type) {
    case ParamType::kString: return std::string(v);
    case ParamType::kInt: return CanonicalInt(def, v, raw);
    case ParamType::kDouble: return CanonicalDouble(def, v, raw);
    case ParamType::kBool: return CanonicalBool(def, v, raw);
    case ParamType::kChoice: return CanonicalChoice(def, v, raw);
    case ParamType::kDateTime: return CanonicalDateTime(def, v, raw);
    case ParamType::kSymbolList: return CanonicalSymbols(def, v, raw);
    case ParamType::kUrl: return CanonicalUrl(def, v, raw);
  }
  return Invalid(def, "has an unknown type", raw);
}

absl::StatusOr<ParamValues> Resolve(const std::map<std::string, std::string>& input) {
  ParamValues out;
  std::set<absl::string_view> seen;
  for (const auto& [key, raw] : input) {
    const ParamDef* def = FindParam(key);
    if (def == nullptr) {
      std::string shown = key.substr(0, 64);
      return absl::InvalidArgumentError(absl::StrCat("unknown parameter \"", shown,
                                                     "\" (ListParams lists the parameters)"));
    }
    if (!seen.insert(def->name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(def->name, ": given twice (as a name and as its alias)"));
    }
    auto canonical = Canonical(*def, raw);
    if (!canonical.ok()) return canonical.status();
    out.emplace(std::string(def->name), *std::move(canonical));
  }
  return out;
}

// The rules across parameters, on a full set: an empty end_date becomes `now_epoch`.
absl::Status CheckSet(ParamValues& out, int64_t now_epoch) {
  if (out["end_date"].empty()) out["end_date"] = FormatTime(now_epoch);
  int64_t start = *ParseTimeText(out["start_date"]);
  int64_t end = *ParseTimeText(out["end_date"]);
  if (end <= start) {
    return absl::InvalidArgumentError(absl::StrCat("end_date: must be after start_date (",
                                                   out["start_date"], "), got \"",
                                                   out["end_date"], "\""));
  }
  if (out["strategy"] == "sma_cross") {
    int64_t fast = 0, slow = 0;
    (void)absl::SimpleAtoi(out["fast_period"], &fast);
    (void)absl::SimpleAtoi(out["slow_period"], &slow);
    if (fast >= slow) {
      return absl::InvalidArgumentError(absl::StrCat("fast_period: must be < slow_period (",
                                                     slow, "), got \"", fast, "\""));
    }
  }
  return absl::OkStatus();
}

bool IsSnakeCase(absl::string_view name) {
  if (name.empty() || name.size() > 64 || !absl::ascii_islower(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_') return false;
  }
  return true;
}

}  // namespace

std::string FormatNumber(double v) {
  if (std::trunc(v) == v && std::fabs(v) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, end);
}

absl::string_view ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kString: return "string";
    case ParamType::kInt: return "int";
    case ParamType::kDouble: return "double";
    case ParamType::kBool: return "bool";
    case ParamType::kChoice: return "choice";
    case ParamType::kDateTime: return "datetime";
    case ParamType::kSymbolList: return "symbols";
    case ParamType::kUrl: return "url";
  }
  return "string";
}

std::span<const ParamDef> AllParams() { return kParams; }

const ParamDef* FindParam(absl::string_view name_or_alias) {
  for (const ParamDef& def : kParams) {
    if (def.name == name_or_alias || (!def.alias.empty() && def.alias == name_or_alias)) {
      return &def;
    }
  }
  for (const ParamDef& def : kParams) {
    if (absl::EqualsIgnoreCase(def.name, name_or_alias)) return &def;
  }
  return nullptr;
}

absl::StatusOr<ParamValues> ValidatePartialParams(
    const std::map<std::string, std::string>& input) {
  return Resolve(input);
}

absl::StatusOr<ParamValues> ValidateParams(const std::map<std::string, std::string>& input,
                                           int64_t now_epoch) {
  auto given = Resolve(input);
  if (!given.ok()) return given.status();
  ParamValues out = *std::move(given);
  for (const ParamDef& def : kParams) {
    out.try_emplace(std::string(def.name), std::string(def.default_value));
  }
  if (auto s = CheckSet(out, now_epoch); !s.ok()) return s;
  return out;
}

absl::StatusOr<int64_t> ParseTimeText(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  std::optional<int64_t> t = ParseCsvTime(text);
  if (!t) {
    return absl::InvalidArgumentError(absl::StrCat("not a time: \"", text.substr(0, 64), "\""));
  }
  if (*t < -2208988800LL || *t > 7258118400LL) {
    return absl::InvalidArgumentError("time out of range (1900..2200)");
  }
  return *t;
}

std::string FormatTime(int64_t epoch_seconds) { return IsoTime(epoch_seconds); }

absl::StatusOr<ParamType> ParseParamType(absl::string_view name) {
  for (ParamType t : {ParamType::kString, ParamType::kInt, ParamType::kDouble, ParamType::kBool,
                      ParamType::kChoice, ParamType::kDateTime, ParamType::kSymbolList,
                      ParamType::kUrl}) {
    if (ParamTypeName(t) == name) return t;
  }
  if (name == "float") return ParamType::kDouble;
  return absl::InvalidArgumentError(
      absl::StrCat("type: must be one of int, double, bool, choice, string, datetime, symbols, "
                   "url, got \"", name.substr(0, 64), "\""));
}

const ParamRegistry& ParamRegistry::Builtin() {
  static const ParamRegistry* const kBuiltin = [] {
    auto made = Make({});
    return made->release();
  }();
  return *kBuiltin;
}

bool ParamRegistry::IsBuiltinStrategy(absl::string_view strategy) {
  return std::find(kStrategies.begin(), kStrategies.end(), strategy) != kStrategies.end();
}

absl::Status ParamRegistry::Check(const StrategyParams& strategy) {
  const std::string& name = strategy.strategy;
  if (!IsSnakeCase(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "strategy name must be snake_case (a-z, 0-9, _; 1-64 characters, a letter first), got \"",
        name.substr(0, 64), "\""));
  }
  if (IsBuiltinStrategy(name)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": is a built-in strategy's name"));
  }
  std::set<std::string> names, aliases;
  for (const ParamSpec& p : strategy.params) {
    auto fail = [&](absl::string_view rule) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", p.name.substr(0, 64), ": ", rule));
    };
    if (!IsSnakeCase(p.name)) return fail("a parameter name must be snake_case");
    if (p.name == "strategy") return fail("is the registry's own parameter");
    if (!names.insert(p.name).second) return fail("declared twice");
    if (!p.alias.empty() && !aliases.insert(p.alias).second) {
      return fail(absl::StrCat("alias ", p.alias.substr(0, 64), " is used twice"));
    }
    const bool numeric = p.type == ParamType::kInt || p.type == ParamType::kDouble;
    if ((p.min || p.max) && !numeric) return fail("bounds are for int and double parameters");
    if (p.min && p.max && p.min->value > p.max->value) return fail("min is above max");
    if (p.type == ParamType::kChoice && p.choices.empty()) return fail("a choice needs choices");
    std::vector<absl::string_view> choices(p.choices.begin(), p.choices.end());
    ParamDef def{.name = p.name, .type = p.type, .default_value = p.default_value,
                 .optional = p.optional, .min = p.min, .max = p.max, .choices = choices};
    auto canonical = Canonical(def, p.default_value);
    if (!canonical.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": ", p.name, ": default", absl::StripPrefix(canonical.status().message(),
                                                            absl::StrCat(p.name, ":"))));
    }
  }
  return absl::OkStatus();
}

absl::string_view ParamRegistry::Keep(std::string text) {
  return text_.emplace_back(std::move(text));
}

absl::StatusOr<std::unique_ptr<const ParamRegistry>> ParamRegistry::Make(
    std::vector<StrategyParams> strategies) {
  std::set<std::string> seen;
  for (const StrategyParams& s : strategies) {
    if (auto status = Check(s); !status.ok()) return status;
    if (!seen.insert(s.strategy).second) {
      return absl::InvalidArgumentError(absl::StrCat(s.strategy, ": listed twice"));
    }
  }
  std::unique_ptr<ParamRegistry> r(new ParamRegistry());
  for (absl::string_view b : kStrategies) r->strategy_names_.emplace_back(b);
  for (const StrategyParams& s : strategies) r->strategy_names_.push_back(s.strategy);
  std::vector<absl::string_view>& strategy_choices = r->choice_lists_.emplace_back();
  for (const std::string& n : r->strategy_names_) strategy_choices.push_back(r->Keep(n));
  for (const ParamDef& def : kParams) {
    ParamDef copy = def;
    if (def.name == "strategy") {
      copy.choices = strategy_choices;
      if (!strategies.empty()) {
        copy.help = r->Keep(absl::StrCat(def.help, " Strategies from the strategy folder: ",
                                         absl::StrJoin(strategy_choices.begin() + kStrategies.size(),
                                                       strategy_choices.end(), ", "),
                                         "."));
      }
    }
    r->defs_.push_back(copy);
  }
  r->builtin_count_ = r->defs_.size();
  for (const StrategyParams& s : strategies) {
    absl::string_view strategy = r->Keep(s.strategy);
    for (const ParamSpec& p : s.params) {
      std::vector<absl::string_view>& choices = r->choice_lists_.emplace_back();
      for (const std::string& c : p.choices) choices.push_back(r->Keep(c));
      ParamDef def{.name = r->Keep(p.name), .alias = r->Keep(p.alias), .type = p.type,
                   .group = r->Keep(p.group.empty() ? s.strategy : p.group),
                   .optional = p.optional, .min = p.min, .max = p.max, .choices = choices,
                   .strategy = strategy, .help = r->Keep(p.help), .hidden = p.hidden};
      def.default_value = r->Keep(*Canonical(def, p.default_value));  // Check passed
      r->defs_.push_back(def);
    }
  }
  return std::unique_ptr<const ParamRegistry>(std::move(r));
}

bool ParamRegistry::HasStrategy(absl::string_view strategy) const {
  return std::find(strategy_names_.begin(), strategy_names_.end(), strategy) !=
         strategy_names_.end();
}

std::vector<const ParamDef*> ParamRegistry::ForStrategy(absl::string_view strategy) const {
  std::vector<const ParamDef*> out;
  if (strategy.empty()) {
    for (const ParamDef& def : defs_) out.push_back(&def);
    return out;
  }
  std::span<const ParamDef> builtins(defs_.data(), builtin_count_);
  std::span<const ParamDef> own(defs_.data() + builtin_count_, defs_.size() - builtin_count_);
  auto own_def = [&](absl::string_view name) -> const ParamDef* {
    for (const ParamDef& def : own) {
      if (def.strategy == strategy && def.name == name) return &def;
    }
    return nullptr;
  };
  std::set<absl::string_view> placed;
  for (const ParamDef& def : builtins) {
    if (!def.strategy.empty() && def.strategy != strategy) continue;
    if (const ParamDef* mine = own_def(def.name); mine != nullptr) {
      out.push_back(mine);
      placed.insert(mine->name);
    } else {
      out.push_back(&def);
    }
  }
  // Its others, before the trace group the built-ins end with.
  auto trace = std::find_if(out.begin(), out.end(),
                            [](const ParamDef* d) { return d->group == "trace"; });
  std::vector<const ParamDef*> others;
  for (const ParamDef& def : own) {
    if (def.strategy == strategy && !placed.contains(def.name)) others.push_back(&def);
  }
  out.insert(trace, others.begin(), others.end());
  return out;
}

const ParamDef* ParamRegistry::Find(absl::string_view name_or_alias,
                                    absl::string_view strategy) const {
  std::span<const ParamDef> builtins(defs_.data(), builtin_count_);
  std::span<const ParamDef> own(defs_.data() + builtin_count_, defs_.size() - builtin_count_);
  auto exact = [&](const ParamDef& def) {
    return def.name == name_or_alias || (!def.alias.empty() && def.alias == name_or_alias);
  };
  auto folded = [&](const ParamDef& def) { return absl::EqualsIgnoreCase(def.name, name_or_alias); };
  for (auto matches : {std::function<bool(const ParamDef&)>(exact),
                       std::function<bool(const ParamDef&)>(folded)}) {
    if (!strategy.empty()) {
      for (const ParamDef& def : own) {
        if (def.strategy == strategy && matches(def)) return &def;
      }
    }
    for (const ParamDef& def : builtins) {
      if (matches(def)) return &def;
    }
    if (strategy.empty()) {
      for (const ParamDef& def : own) {
        if (matches(def)) return &def;
      }
    }
  }
  return nullptr;
}

absl::StatusOr<std::string> ParamRegistry::StrategyOf(
    const std::map<std::string, std::string>& input, bool* given) const {
  const ParamDef& def = defs_[0];  // `strategy`, with every strategy as a choice
  *given = false;
  for (const auto& [key, raw] : input) {
    const ParamDef* found = Find(key, "");
    if (found == nullptr || found->name != "strategy") continue;
    *given = true;
    return Canonical(def, raw);
  }
  return std::string(def.default_value);
}

absl::StatusOr<ParamValues> ParamRegistry::Resolve(
    const std::map<std::string, std::string>& input, absl::string_view strategy) const {
  ParamValues out;
  std::set<absl::string_view> seen;
  for (const auto& [key, raw] : input) {
    const ParamDef* def = Find(key, strategy);
    if (def == nullptr) {
      std::string shown = key.substr(0, 64);
      return absl::InvalidArgumentError(absl::StrCat("unknown parameter \"", shown,
                                                     "\" (ListParams lists the parameters)"));
    }
    if (!seen.insert(def->name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(def->name, ": given twice (as a name and as its alias)"));
    }
    auto canonical = Canonical(*def, raw);
    if (!canonical.ok()) return canonical.status();
    out.emplace(std::string(def->name), *std::move(canonical));
  }
  return out;
}

absl::StatusOr<ParamValues> ParamRegistry::Validate(
    const std::map<std::string, std::string>& input, int64_t now_epoch) const {
  bool given = false;
  auto strategy = StrategyOf(input, &given);
  if (!strategy.ok()) return strategy.status();
  auto resolved = Resolve(input, *strategy);
  if (!resolved.ok()) return resolved.status();
  ParamValues out = *std::move(resolved);
  out["strategy"] = *strategy;
  // Its own defaults first: they win over a built-in's of the same name.
  for (size_t i = builtin_count_; i < defs_.size(); ++i) {
    if (defs_[i].strategy != *strategy) continue;
    out.try_emplace(std::string(defs_[i].name), std::string(defs_[i].default_value));
  }
  for (size_t i = 0; i < builtin_count_; ++i) {
    out.try_emplace(std::string(defs_[i].name), std::string(defs_[i].default_value));
  }
  if (auto s = CheckSet(out, now_epoch); !s.ok()) return s;
  return out;
}

absl::StatusOr<ParamValues> ParamRegistry::ValidatePartial(
    const std::map<std::string, std::string>& input) const {
  bool given = false;
  auto strategy = StrategyOf(input, &given);
  if (!strategy.ok()) return strategy.status();
  return Resolve(input, given ? absl::string_view(*strategy) : absl::string_view());
}

}  // namespace backtest::engine
