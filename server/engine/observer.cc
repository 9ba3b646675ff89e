#include "server/engine/observer.h"

namespace backtest::engine {

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

absl::string_view RunStageName(RunStage stage) {
  switch (stage) {
    case RunStage::kLoading: return "loading";
    case RunStage::kWarmup: return "warmup";
    case RunStage::kRunning: return "running";
    case RunStage::kDone: return "done";
  }
  return "running";
}

}  // namespace backtest::engine
