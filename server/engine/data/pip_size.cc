#include "server/engine/data/pip_size.h"

#include "absl/strings/match.h"

namespace backtest::engine {
namespace {

// ISO 4217 codes of currencies traded as forex pairs.
constexpr absl::string_view kCurrencies[] = {
    "USD", "EUR", "JPY", "GBP", "CHF", "AUD", "NZD", "CAD", "SEK", "NOK", "DKK", "PLN", "HUF",
    "CZK", "TRY", "ZAR", "MXN", "SGD", "HKD", "CNH", "CNY", "RUB", "INR", "BRL", "KRW", "ILS",
    "THB", "RON", "BGN", "ISK", "CLP", "COP", "IDR", "MYR", "PHP", "TWD", "SAR", "AED", "KWD"};

bool IsCurrency(absl::string_view code) {
  for (absl::string_view c : kCurrencies) {
    if (c == code) return true;
  }
  return false;
}

}  // namespace

bool IsCurrencyPair(absl::string_view symbol) {
  return symbol.size() == 6 && IsCurrency(symbol.substr(0, 3)) && IsCurrency(symbol.substr(3));
}

double DefaultPipSize(absl::string_view symbol) {
  if (IsCurrencyPair(symbol)) return symbol.substr(3) == "JPY" ? 0.01 : 0.0001;
  if (absl::StartsWith(symbol, "XAU")) return 0.01;
  if (absl::StartsWith(symbol, "XAG")) return 0.001;
  return 0.01;
}

}  // namespace backtest::engine
