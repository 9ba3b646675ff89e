// The runner protocol's stream, as a backend reads it (docs/runner-protocol.md): frames taken
// apart, and what the stream tells about the run's end (the runner's failure, whether a result
// came). Each whole event goes on to the run's listener as its bytes; what an event means is
// for the job run (RunnerEventReader).
//
// Owned by one run; not thread-safe. The fuzz target runner_event_reader_fuzz drives it.
#ifndef BACKTEST_SERVER_JOBS_RUNNER_STREAM_H_
#define BACKTEST_SERVER_JOBS_RUNNER_STREAM_H_

#include <cstdint>
#include <functional>
#include <string>

#include "server/jobs/frame_codec.h"

namespace backtest::jobs {

class RunnerStream {
 public:
  explicit RunnerStream(uint32_t max_frame_bytes = kMaxFrameBytes) : decoder_(max_frame_bytes) {}

  // Bytes of the runner's event channel: each whole event is given to `on_event`. After a
  // protocol error the rest of the stream is ignored.
  void Feed(const char* data, size_t size, const std::function<void(std::string)>& on_event);
  // The channel closed; bytes of an unfinished frame are a protocol error (stream_cut).
  void Close();

  // Why the stream cannot be read (an oversized or cut frame); empty if none.
  const std::string& protocol_error() const { return protocol_error_; }
  bool stream_cut() const { return stream_cut_; }
  // The runner's failure event, when it sent one (its code and words).
  const std::string& failure_code() const { return failure_code_; }
  const std::string& failure_message() const { return failure_message_; }
  // A result (or a sweep's end) came.
  bool result_seen() const { return result_seen_; }

 private:
  void Handle(std::string event, const std::function<void(std::string)>& on_event);

  FrameDecoder decoder_;
  std::string protocol_error_;
  bool stream_cut_ = false;
  std::string failure_code_;
  std::string failure_message_;
  bool result_seen_ = false;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RUNNER_STREAM_H_
