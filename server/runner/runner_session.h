// One job of the runner protocol (docs/runner-protocol.md), from its hello to its last frame:
// shared by backtest-runner (runner/main.cc) and the Python runner of the SDK (sdk/native/,
// `python -m backtestd.runner`), so both write the same frames with the same code. RunnerEvent
// frames go to the events fd: the hello, then log lines and progress (gathered), trace batches,
// heartbeats, the result, and the RunEnd; ServerMessage frames come on stdin: the RunSpec, then
// perhaps a cancel.
#ifndef BACKTEST_SERVER_RUNNER_RUNNER_SESSION_H_
#define BACKTEST_SERVER_RUNNER_RUNNER_SESSION_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "backtest/runner/v1/runner.pb.h"
#include "server/engine/engine.h"
#include "server/jobs/frame_codec.h"

namespace backtest::runner {

// The runner protocol's version (runner.proto): said in the hello and checked in the spec.
inline constexpr int kRunnerProtocolVersion = 2;

// The exit status after a failure (0 after a result): why a run failed travels in its failure
// event, which the server reads; it reads nothing else from the status.
inline constexpr int kExitFailed = 1;

// Set by the server's CancelRequest (ServerChannel) or SIGTERM (InstallTermHandler): the run
// stops at the next bar, cancelled.
std::atomic<bool>& CancelRequested();
// SIGTERM sets CancelRequested(); SIGPIPE is ignored (a closed events pipe is an EPIPE write).
void InstallTermHandler();
// RLIMIT_CPU (soft, and SIGKILL a second later) and RLIMIT_AS; 0: none.
void ApplyLimits(int64_t cpu_seconds, int64_t memory_mb);

// Writes frames to the event pipe; thread-safe (the heartbeat thread writes too). Each event is
// numbered as it is written (RunnerEvent.seq). Frames are gathered and written together: a run's
// hundreds of log lines and progress reports cost a few writes, not one each. A gathered frame
// waits at most kMaxDelay (every later write checks, and the heartbeat flushes), never past
// kMaxBytes; heartbeats, trace batches, the result and the end go out at once with everything
// before them. An event larger than kPartBytes goes out as EventParts of that size. Nothing is
// written after the run's end (RunEnd).
class EventWriter {
 public:
  static constexpr size_t kMaxBytes = 32 << 10;
  static constexpr std::chrono::milliseconds kMaxDelay{20};
  static constexpr size_t kPartBytes = 1 << 20;

  explicit EventWriter(int fd) : fd_(fd) {}

  bool Write(const v1::RunnerEvent& event, bool now = true);
  // Writes whatever is gathered.
  bool Flush();

 private:
  // Appends `event`'s frame, numbered (under mu_).
  void AppendLocked(const v1::RunnerEvent& event, size_t size);
  bool WritePartsLocked(const v1::RunnerEvent& event);
  bool FlushLocked();

  int fd_;
  std::mutex mu_;
  std::string buffer_;
  std::chrono::steady_clock::time_point first_;
  uint64_t seq_ = 0;
  bool ended_ = false;  // the RunEnd is written: nothing more is
  bool ok_ = true;
};

// Writes the runner's hello, its first event: the protocol version, `runner`'s name, and in a
// Slurm job step where it runs (from the step's environment).
bool SendHello(EventWriter& writer, const std::string& runner);

// Reads `fd` (none: -1) on a thread of its own, giving what arrives to `on_data`, and calls
// `on_tick` at once and every `tick_ms` (none: -1), until destroyed (which wakes and joins the
// thread); an fd that ends is no longer read. When no thread can be started (a tight memory
// limit) it does nothing.
class FdReader {
 public:
  FdReader(int fd, std::function<void(const char*, size_t)> on_data, int tick_ms = -1,
           std::function<void()> on_tick = {});
  ~FdReader();

 private:
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

// The server's messages on stdin: the spec first (ReadSpec blocks for it; a prefetch may come
// before it), then, while the run goes on, a CancelRequest sets CancelRequested() (Take, given
// what stdin brings: the heartbeat's thread watches it).
class ServerChannel {
 public:
  // The RunSpec; false when stdin ended (or held something else) before one came. A prefetch
  // before it (ServerMessage.prefetch: the last job's spec) is given to `on_prefetch`.
  bool ReadSpec(v1::RunSpec* spec,
                const std::function<void(const v1::RunSpec&)>& on_prefetch = nullptr);
  // Bytes from stdin after the spec (none: what came with it).
  void Take(const char* data, size_t size);
  // Whether the server has sent more than ReadSpec has taken so far (its spec, most likely).
  bool MessageWaiting() const;

 private:
  jobs::FrameDecoder decoder_{1 << 20};
};

// Sends a heartbeat at once and every interval until destroyed; on the same thread, watches stdin
// for the server's cancel when given its channel (one thread a job for both).
class Heartbeat {
 public:
  Heartbeat(EventWriter& writer, int interval_ms, ServerChannel* server = nullptr);

 private:
  std::unique_ptr<FdReader> thread_;
};

// Checks a spec from the server (its protocol version) and applies its limits. FailedPrecondition
// for a server of another version.
absl::Status AcceptSpec(const v1::RunSpec& spec);

// For a runner whose events go to its stdout (srun carries stdin, stdout and stderr only): the
// events move to a new descriptor, and what the process prints to stdout afterwards goes out as
// log events (LogEvent.source "stdout"). `fd` is the descriptor to write events to; fd 1 is
// captured, any other left as it is.
class StdoutCapture {
 public:
  // The descriptor to write events to: `fd`, or the new one when `fd` is 1.
  static int EventsFd(int fd);
  // Starts sending what stdout gets as log events through `writer` (when EventsFd moved them).
  explicit StdoutCapture(EventWriter& writer);
  ~StdoutCapture();

 private:
  EventWriter& writer_;
  std::string partial_;
  std::unique_ptr<FdReader> reader_;
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
  // Reused for each of a run's log lines (up to a thousand) and progress reports: their strings
  // keep their capacity, so an event costs no allocation once the first has been sent.
  v1::RunnerEvent log_;
  v1::RunnerEvent progress_;
};

// The run's end: finished (after its result, or a sweep's end).
bool Finish(EventWriter& writer);
// The run's end when it failed: a RunEnd of code (cancelled: CANCELLED; resource: LIMIT_EXCEEDED;
// else FAILED) and message.
void Fail(EventWriter& writer, const std::string& code, const std::string& message);
// The failure code of a run's status: invalid_argument, data, cancelled, resource, strategy (the
// strategy's own code failed: Aborted), internal.
std::string FailureCode(absl::StatusCode code);
// A failed run's message: the status's, and for file:// data not found or not readable on a
// Slurm node (SLURMD_NODENAME set), which node read it and that such data must be on a path the
// compute nodes share with the server.
std::string FailureMessage(const absl::Status& status, const v1::RunSpec& spec);

// The engine's options for a spec: trace limits, the data timeout, the data policy (always
// enforced). InvalidArgument for a policy that does not parse.
absl::Status OptionsForSpec(const v1::RunSpec& spec, engine::RunOptions* options);

// What an idle runner does with the spec of the last job its worker ran (ServerMessage.prefetch):
// the bar cache entries of its file:// data, mapped and checked, for the next job to take when it
// opens the same version of the same file (BarCache::Prefetch), and heap memory for a run of as
// many bars (engine::ReadyHeap) unless `channel` (optional) has its job's spec waiting already.
// Nothing for sweeps, Explain replays and strategy-folder jobs; every failure is left to the next
// job to meet, if it does.
void Prefetch(const v1::RunSpec& like, const ServerChannel* channel = nullptr);

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
