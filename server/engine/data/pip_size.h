// The contract's pip size rule for a symbol.
#ifndef BACKTEST_SERVER_ENGINE_DATA_PIP_SIZE_H_
#define BACKTEST_SERVER_ENGINE_DATA_PIP_SIZE_H_

#include "absl/strings/string_view.h"

namespace backtest::engine {

// True for a six-letter symbol made of two ISO 4217 currency codes (metals XAU/XAG excluded).
bool IsCurrencyPair(absl::string_view symbol);

// 0.01 when the quote currency is JPY; 0.0001 for other currency pairs; 0.01 for XAU…; 0.001 for
// XAG…; 0.01 for anything else. (The pip_size parameter, when given, overrides this.)
double DefaultPipSize(absl::string_view symbol);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_PIP_SIZE_H_
