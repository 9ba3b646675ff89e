#include "server/engine/strategies/run_log.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/engine/data/civil_time.h"

namespace backtest::engine {

void RunLog::Bar(LogLevel level, int64_t ts, absl::string_view symbol, absl::string_view text) {
  if (level < LogLevel::kWarning) ++lines_;
  std::string line = IsoTime(ts);
  line.push_back(' ');
  line.append(symbol.data(), symbol.size());
  line.push_back(' ');
  line.append(text.data(), text.size());
  observer_.OnLog(level, line);
}

void RunLog::Finish() {
  if (suppressed_ == 0) return;
  observer_.OnLog(LogLevel::kInfo,
                  absl::StrCat(suppressed_, " more bar log lines were left out (the limit is ",
                               max_lines_, "); every trade is in the result and every decision "
                               "in the reason counts"));
}

}  // namespace backtest::engine
