#include "server/engine/strategies/run_log.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/engine/data/civil_time.h"

namespace backtest::engine {

void RunLog::BeginLine(LogLevel level, int64_t ts, absl::string_view symbol) {
  if (level < LogLevel::kWarning) ++lines_;
  line_.clear();
  time_.Append(&line_, ts);
  line_.push_back(' ');
  line_.append(symbol.data(), symbol.size());
  line_.push_back(' ');
}

void RunLog::Finish() {
  if (suppressed_ == 0) return;
  observer_.OnLog(LogLevel::kInfo,
                  absl::StrCat(suppressed_, " more bar log lines were left out (the limit is ",
                               max_lines_, "); every trade is in the result and every decision "
                               "in the reason counts"));
}

}  // namespace backtest::engine
