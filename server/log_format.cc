#include "server/log_format.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "nlohmann/json.hpp"

namespace backtest {
namespace {

constexpr const char* kTimePattern = "%Y-%m-%dT%H:%M:%S.%eZ";

// One JSON object a line. The time comes from spdlog's own pattern code, the strings through
// nlohmann::json (escaped); an access line's payload is an object already and is spliced in.
class JsonFormatter : public spdlog::formatter {
 public:
  JsonFormatter()
      : time_(std::make_unique<spdlog::pattern_formatter>(
            kTimePattern, spdlog::pattern_time_type::utc, "")) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    spdlog::memory_buf_t time;
    time_->format(msg, time);
    std::string payload(msg.payload.data(), msg.payload.size());
    std::string line = "{\"time\":\"" + std::string(time.data(), time.size()) +
                       "\",\"level\":\"" +
                       std::string(spdlog::level::to_string_view(msg.level).data()) +
                       "\",\"logger\":" +
                       nlohmann::json(std::string(msg.logger_name.data(), msg.logger_name.size()))
                           .dump();
    if (msg.logger_name == kAccessLogger && payload.size() >= 2 && payload.front() == '{') {
      line += "," + payload.substr(1);
    } else {
      line += ",\"msg\":" + nlohmann::json(payload).dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace) +
              "}";
    }
    line += "\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  std::unique_ptr<spdlog::pattern_formatter> time_;
};

}  // namespace

void SetUpLogging(const std::string& level, const std::string& format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  if (format == "json") {
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        std::string(kTimePattern) + " %^%l%$ %v", spdlog::pattern_time_type::utc));
  }
  auto logger = std::make_shared<spdlog::logger>("backtestd", sink);
  auto access = std::make_shared<spdlog::logger>(kAccessLogger, sink);
  spdlog::register_logger(access);
  spdlog::set_default_logger(logger);
  // Both loggers at the level asked for (set_level after both are registered reaches both).
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace backtest
