#include "server/jobs/runner_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "backtest/runner/v1/runner.pb.h"

namespace backtest::jobs {
namespace {

using backtest::runner::v1::RunnerEvent;

// The field number of an event's first field (its kind: RunnerEvent's oneof), 0 when none.
int EventField(const std::string& bytes) {
  uint32_t tag = 0;
  for (size_t i = 0, shift = 0; i < bytes.size() && i < 5; ++i, shift += 7) {
    tag |= uint32_t{static_cast<uint8_t>(bytes[i]) & 0x7fu} << shift;
    if ((static_cast<uint8_t>(bytes[i]) & 0x80) == 0) return static_cast<int>(tag >> 3);
  }
  return 0;
}

}  // namespace

void RunnerStream::Feed(const char* data, size_t size,
                        const std::function<void(std::string)>& on_event) {
  if (!protocol_error_.empty()) return;
  decoder_.Append(data, size);
  while (protocol_error_.empty()) {
    auto frame = decoder_.Next();
    if (!frame.ok()) {
      protocol_error_ = std::string(frame.status().message());
      return;
    }
    if (!frame->has_value()) return;
    Handle(*std::move(*frame), on_event);
  }
}

void RunnerStream::Close() {
  if (decoder_.buffered() > 0 && protocol_error_.empty()) {
    stream_cut_ = true;
    protocol_error_ =
        absl::StrCat("event stream ended inside a frame (", decoder_.buffered(), " bytes)");
  }
}

void RunnerStream::Handle(std::string event, const std::function<void(std::string)>& on_event) {
  switch (EventField(event)) {
    case RunnerEvent::kFailureFieldNumber: {
      RunnerEvent failure;
      if (failure.ParseFromString(event) && failure.has_failure()) {
        failure_code_ = failure.failure().code();
        failure_message_ = failure.failure().message();
      }
      break;
    }
    case RunnerEvent::kResultFieldNumber:
    case RunnerEvent::kSweepDoneFieldNumber:
      result_seen_ = true;
      break;
    default:
      break;
  }
  on_event(std::move(event));
}

}  // namespace backtest::jobs
