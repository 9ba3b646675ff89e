// backtestd's log lines on stderr: the default logger "backtestd" and the logger "access" (one
// line per RPC, server/api/rpc_interceptor.h) share one sink. Text: "TIME LEVEL MESSAGE". JSON
// (--log-format json): one object a line with time, level, logger and msg; an access line's
// message is itself an object whose fields go to the top level. Called once, by main.
#ifndef BACKTEST_SERVER_LOG_FORMAT_H_
#define BACKTEST_SERVER_LOG_FORMAT_H_

#include <string>

namespace backtest {

inline constexpr const char* kAccessLogger = "access";

// `level`: trace, debug, info, warn, error; `format`: text or json.
void SetUpLogging(const std::string& level, const std::string& format);

}  // namespace backtest

#endif  // BACKTEST_SERVER_LOG_FORMAT_H_
