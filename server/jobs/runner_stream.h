// The runner protocol's stream, as a backend reads it (docs/runner-protocol.md): frames taken
// apart and checked — the hello first (a runner of another version, or of version 1 which has
// none, is refused), every event numbered in order without gaps, nothing after the run's end —,
// EventParts joined into their event, and the RunEnd kept. Each whole event (the hello and the
// end included) goes on to the run's listener as its bytes; what an event means is for the job
// run (RunnerEventReader).
//
// Owned by one run; not thread-safe. The fuzz target runner_event_reader_fuzz drives it.
#ifndef BACKTEST_SERVER_JOBS_RUNNER_STREAM_H_
#define BACKTEST_SERVER_JOBS_RUNNER_STREAM_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "server/jobs/frame_codec.h"

namespace backtest::runner::v1 {
class RunSpec;
}  // namespace backtest::runner::v1

namespace backtest::jobs {

// The protocol version this server speaks (runner.proto; the runners' kRunnerProtocolVersion).
inline constexpr int kRunnerProtocolVersion = 2;
// The largest frame a runner may send: larger events come as EventParts (runners cut them at
// 1 MB).
inline constexpr uint32_t kMaxRunnerFrameBytes = 16u << 20;

// The server's frames to a runner (ServerMessage): its spec (with this protocol version), the
// last job's spec to an idle runner (its data readied ahead), and a cancel.
std::string SpecFrame(const backtest::runner::v1::RunSpec& spec);
std::string PrefetchFrame(const backtest::runner::v1::RunSpec& like);
std::string CancelFrame();

// A RunEnd as the runner sent it (runner.pb.h is kept out of the many files that include the
// job manager).
struct RunEndFrame {
  int outcome = 0;  // backtest.runner.v1.RunEnd.Outcome
  std::string code;
  std::string message;
};

class RunnerStream {
 public:
  // `max_event_bytes`: the largest event (parts joined) accepted.
  explicit RunnerStream(uint64_t max_event_bytes = kMaxFrameBytes)
      : decoder_(kMaxRunnerFrameBytes), max_event_bytes_(max_event_bytes) {}

  // Bytes of the runner's event channel: each whole event is given to `on_event`. After a
  // protocol error the rest of the stream is ignored.
  void Feed(const char* data, size_t size, const std::function<void(std::string)>& on_event);
  // The channel closed; bytes of an unfinished frame are a protocol error (stream_cut).
  void Close();

  // Why the stream cannot be read (a frame over the limit, a cut frame, an undecodable frame, a
  // runner of another protocol version, an event out of order, one after the end); empty if
  // none.
  const std::string& protocol_error() const { return protocol_error_; }
  bool stream_cut() const { return stream_cut_; }
  // The run's end as the runner said it (its last event), if it did.
  const std::optional<RunEndFrame>& end() const { return end_; }

 private:
  void Handle(std::string frame, const std::function<void(std::string)>& on_event);
  // A whole event (a frame's, or parts joined): its end kept, then given on.
  void Deliver(std::string event, int field, const std::function<void(std::string)>& on_event);
  void Error(std::string message) {
    if (protocol_error_.empty()) protocol_error_ = std::move(message);
  }

  FrameDecoder decoder_;
  uint64_t max_event_bytes_;
  uint64_t next_seq_ = 1;
  bool hello_ = false;
  std::string joined_;  // the parts of an event so far
  int64_t joined_total_ = -1;
  std::string protocol_error_;
  bool stream_cut_ = false;
  std::optional<RunEndFrame> end_;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RUNNER_STREAM_H_
