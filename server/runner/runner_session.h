// One job of the runner protocol, from its spec to its last frame: shared by backtest-runner
// (runner/main.cc) and the Python runner of the SDK (sdk/native/, `python -m backtestd.runner`),
// so both write the same frames with the same code. A RunSpec frame is read on stdin; RunnerEvent
// frames go to the events fd: log lines and progress (gathered), trace batches, heartbeats, then a
// result or a failure.
#ifndef BACKTEST_SERVER_RUNNER_RUNNER_SESSION_H_
#define BACKTEST_SERVER_RUNNER_RUNNER_SESSION_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "backtest/runner/v1/runner.pb.h"
#include "server/engine/engine.h"

namespace backtest::runner {

// The exit status after a failure (0 after a result): why a run failed travels in its failure
// event, which the server reads; it reads nothing else from the status.
inline constexpr int kExitFailed = 1;

// Set by SIGTERM (InstallTermHandler): the run stops at the next bar, cancelled.
std::atomic<bool>& CancelRequested();
// SIGTERM sets CancelRequested(); SIGPIPE is ignored (a closed events pipe is an EPIPE write).
void InstallTermHandler();
// RLIMIT_CPU (soft, and SIGKILL a second later) and RLIMIT_AS; 0: none.
void ApplyLimits(int64_t cpu_seconds, int64_t memory_mb);

// Writes frames to the event pipe; thread-safe (the heartbeat thread writes too). Frames are
// gathered and written together: a run's hundreds of log lines and progress reports cost a few
// writes, not one each. A gathered frame waits at most kMaxDelay (every later write checks, and
// the heartbeat flushes), never past kMaxBytes; heartbeats, trace batches, the result and
// failures go out at once with everything before them.
class EventWriter {
 public:
  static constexpr size_t kMaxBytes = 32 << 10;
  static constexpr std::chrono::milliseconds kMaxDelay{20};

  explicit EventWriter(int fd) : fd_(fd) {}

  bool Write(const v1::RunnerEvent& event, bool now = true);
  // Writes whatever is gathered.
  bool Flush();

 private:
  bool FlushLocked();

  int fd_;
  std::mutex mu_;
  std::string buffer_;
  std::chrono::steady_clock::time_point first_;
  bool ok_ = true;
};

// Sends a heartbeat every interval until destroyed.
class Heartbeat {
 public:
  Heartbeat(EventWriter& writer, int interval_ms);
  ~Heartbeat();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Log lines, progress and trace batches of a run as frames; cancelled by CancelRequested().
class PipeObserver : public engine::RunObserver {
 public:
  explicit PipeObserver(EventWriter& writer) : writer_(writer) {}
  void OnLog(engine::LogLevel level, absl::string_view text) override;
  void OnProgress(const engine::ProgressInfo& p) override;
  void OnTraceBatch(std::span<const engine::TraceRow> rows, bool truncated) override;
  bool IsCancelled() override { return CancelRequested().load(std::memory_order_relaxed); }

 private:
  EventWriter& writer_;
};

// Reads the job's RunSpec frame from stdin; false when there is none.
bool ReadSpec(v1::RunSpec* spec);

void Fail(EventWriter& writer, const std::string& code, const std::string& message);
// The failure code of a run's status: invalid_argument, data, cancelled, resource, strategy (the
// strategy's own code failed: Aborted), internal.
std::string FailureCode(absl::StatusCode code);

// The engine's options for a spec: trace limits, the data timeout, the data policy (always
// enforced). InvalidArgument for a policy that does not parse.
absl::Status OptionsForSpec(const v1::RunSpec& spec, engine::RunOptions* options);

// Sends the result (results format 4, ToResultFrames): a dataset frame for each symbol whose
// candles are not among `known` (the spec's known_datasets), then the result frame (the digest
// computed beside the conversion). False when the pipe failed.
bool SendResult(EventWriter& writer, const engine::RunResult& result,
                const google::protobuf::RepeatedPtrField<v1::KnownDataset>& known = {});

// Runs `params` (the spec's, or a runner's rewrite of them) with the spec's options and
// `external` as RunOptions::external_strategy (may be empty), writing the failure or the result.
// Returns the process's exit status. bad_alloc propagates (the caller reports it).
int RunJob(EventWriter& writer, const v1::RunSpec& spec, const engine::ParamValues& params,
           engine::StrategyFactory external);

}  // namespace backtest::runner

#endif  // BACKTEST_SERVER_RUNNER_RUNNER_SESSION_H_
