// backtest-runner: runs one backtest in its own process. Reads a RunSpec frame on stdin, writes
// RunnerEvent frames to --events-fd; stdout and stderr are captured by the server as log lines.
// Applies its CPU and memory limits to itself before anything else.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "backtest/runner/v1/runner.pb.h"
#include "server/engine/digest.h"
#include "server/engine/engine.h"
#include "server/jobs/frame_codec.h"
#include "server/runner/result_conversion.h"

namespace {

using backtest::runner::v1::RunnerEvent;

std::atomic<bool> g_cancelled{false};

void OnTerm(int) { g_cancelled = true; }

// The exit status is 0 after a result was sent and kExitFailed otherwise: why a run failed travels
// in its failure event, which the server reads; it reads nothing else from the status.
constexpr int kExitFailed = 1;

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

  bool Write(const RunnerEvent& event, bool now = true) {
    const size_t size = event.ByteSizeLong();
    std::lock_guard lock(mu_);
    const auto t = std::chrono::steady_clock::now();
    if (buffer_.empty()) first_ = t;
    // Serialized straight into the frame (a result is megabytes: no second copy). Out of memory
    // half-way, the frame's header must not stay behind alone: the failure frame written next
    // would be read as its payload.
    const size_t before = buffer_.size();
    try {
      backtest::jobs::AppendFrameHeader(size, &buffer_);
      buffer_.resize(before + 4 + size);
    } catch (const std::bad_alloc&) {
      buffer_.resize(before);
      throw;
    }
    event.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(buffer_.data() + before + 4));
    if (now || buffer_.size() >= kMaxBytes || t - first_ >= kMaxDelay) return FlushLocked();
    return ok_;
  }

  // Writes whatever is gathered.
  bool Flush() {
    std::lock_guard lock(mu_);
    return FlushLocked();
  }

 private:
  bool FlushLocked() {
    size_t done = 0;
    while (ok_ && done < buffer_.size()) {
      ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      // The server is gone (killed, crashed): nobody can take the result, so stop now rather than
      // run on as an orphan (the heartbeat's flush notices within one interval).
      if (n < 0 && errno == EPIPE) ::_exit(kExitFailed);
      if (n <= 0) ok_ = false;  // later writes fail at once
      if (n > 0) done += static_cast<size_t>(n);
    }
    buffer_.clear();
    return ok_;
  }

  int fd_;
  std::mutex mu_;
  std::string buffer_;
  std::chrono::steady_clock::time_point first_;
  bool ok_ = true;
};

class PipeObserver : public backtest::engine::RunObserver {
 public:
  explicit PipeObserver(EventWriter& writer) : writer_(writer) {}

  void OnLog(backtest::engine::LogLevel level, absl::string_view text) override {
    RunnerEvent e;
    e.mutable_log()->set_level(std::string(backtest::engine::LogLevelName(level)));
    e.mutable_log()->set_text(std::string(text));
    writer_.Write(e, /*now=*/false);
  }
  void OnProgress(const backtest::engine::ProgressInfo& p) override {
    RunnerEvent e;
    auto* out = e.mutable_progress();
    out->set_stage(std::string(backtest::engine::RunStageName(p.stage)));
    out->set_bars_done(p.bars_done);
    out->set_bars_total(p.bars_total);
    out->set_fraction(p.fraction);
    writer_.Write(e, /*now=*/false);
  }
  void OnTraceBatch(std::span<const backtest::engine::TraceRow> rows, bool truncated) override {
    RunnerEvent e;
    auto* out = e.mutable_trace();
    out->mutable_rows()->Reserve(static_cast<int>(rows.size()));
    for (const auto& r : rows) {
      auto* row = out->add_rows();
      row->set_seq(r.seq);
      row->set_bar_index(r.bar_index);
      row->set_ts(r.ts);
      row->set_symbol(r.symbol);
      row->set_section(std::string(backtest::engine::TraceSectionName(r.section)));
      row->set_kind(std::string(backtest::engine::TraceKindName(r.kind)));
      row->set_payload_json(r.payload);
    }
    out->set_truncated(truncated);
    writer_.Write(e);
  }
  bool IsCancelled() override { return g_cancelled.load(std::memory_order_relaxed); }

 private:
  EventWriter& writer_;
};

// Sends a heartbeat every interval until stopped.
class Heartbeat {
 public:
  Heartbeat(EventWriter& writer, int interval_ms)
      : thread_([this, &writer, interval_ms] {
          std::unique_lock lock(mu_);
          while (!stop_) {
            RunnerEvent e;
            e.mutable_heartbeat()->set_time_ms(
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
            lock.unlock();
            writer.Write(e);
            lock.lock();
            cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [&] { return stop_; });
          }
        }) {}
  ~Heartbeat() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

void Fail(EventWriter& writer, const std::string& code, const std::string& message) {
  RunnerEvent e;
  e.mutable_failure()->set_code(code);
  e.mutable_failure()->set_message(message);
  writer.Write(e);
}

std::string FailureCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kCancelled: return "cancelled";
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied: return "invalid_argument";
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kFailedPrecondition: return "data";
    case absl::StatusCode::kResourceExhausted: return "resource";
    default: return "internal";
  }
}

[[noreturn]] void ExitNow(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(code);
}

bool ReadSpec(backtest::runner::v1::RunSpec* spec) {
  backtest::jobs::FrameDecoder decoder(1 << 20);
  char buf[4096];
  while (true) {
    auto frame = decoder.Next();
    if (!frame.ok()) return false;
    if (frame->has_value()) return spec->ParseFromString(**frame);
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    decoder.Append(buf, static_cast<size_t>(n));
  }
}

int Run(EventWriter& writer, const backtest::runner::v1::RunSpec& spec) {
  Heartbeat heartbeat(writer, spec.heartbeat_interval_ms() > 0 ? spec.heartbeat_interval_ms() : 500);
  backtest::engine::ParamValues params(spec.params().begin(), spec.params().end());
  backtest::engine::RunOptions options;
  if (spec.trace_max_rows() > 0) options.trace_max_rows = spec.trace_max_rows();
  if (spec.trace_batch_size() > 0) options.trace_batch_size = spec.trace_batch_size();
  if (spec.data_timeout_ms() > 0) {
    options.http.total_timeout_ms = spec.data_timeout_ms();
    options.http.connect_timeout_ms =
        std::min(options.http.connect_timeout_ms, spec.data_timeout_ms());
  }
  options.data_policy.enforced = true;
  const auto& policy = spec.data_policy();
  options.data_policy.file_roots.assign(policy.file_roots().begin(), policy.file_roots().end());
  options.data_policy.url_allow.assign(policy.url_allow().begin(), policy.url_allow().end());
  for (const std::string& network : policy.allowed_networks()) {
    auto parsed = backtest::engine::ParseIpNetwork(network);
    if (!parsed.ok()) {
      Fail(writer, "internal", absl::StrCat("data policy: ", parsed.status().message()));
      return kExitFailed;
    }
    options.data_policy.allowed_networks.push_back(*parsed);
  }
  // The digest is computed below, beside the conversion of the result.
  options.compute_digest = false;
  PipeObserver observer(writer);
  auto result = backtest::engine::RunBacktest(params, options, observer);
  if (!result.ok()) {
    Fail(writer, FailureCode(result.status().code()), std::string(result.status().message()));
    return kExitFailed;
  }
  // Hashing the whole result and converting it to its wire form both only read it, and each takes
  // milliseconds on a large run: the digest is computed on a second thread meanwhile (inline when
  // no thread can be started, e.g. under a tight memory limit).
  std::string digest;
  std::atomic<bool> hash_failed{false};
  auto hash = [&] {
    try {
      digest = backtest::engine::ResultDigest(*result);
    } catch (const std::bad_alloc&) {
      hash_failed = true;
    }
  };
  std::thread hasher;
  try {
    hasher = std::thread(hash);
  } catch (const std::system_error&) {
    hash();
  }
  RunnerEvent e;
  try {
    backtest::runner::ToRunOutput(*result, e.mutable_result());
  } catch (...) {
    if (hasher.joinable()) hasher.join();
    throw;
  }
  if (hasher.joinable()) hasher.join();
  if (hash_failed) throw std::bad_alloc();
  e.mutable_result()->set_digest(digest);
  // The job ends when this process does: exit at once rather than free the result, the market
  // data and the event, and join the heartbeat thread (a millisecond or more on a large run).
  ExitNow(writer.Write(e) ? 0 : kExitFailed);
}

}  // namespace

int main(int argc, char** argv) {
  int events_fd = 3;
  int64_t cpu_seconds = 0;
  int64_t memory_mb = 0;
  CLI::App app{"backtest-runner: runs one backtest (started by backtestd)"};
  app.add_option("--events-fd", events_fd, "file descriptor for event frames");
  app.add_option("--cpu-seconds", cpu_seconds, "CPU time limit (0: none)");
  app.add_option("--memory-mb", memory_mb, "address-space limit in MB (0: none)");
  CLI11_PARSE(app, argc, argv);

  if (cpu_seconds > 0) {
    // SIGXCPU at the soft limit, SIGKILL one second later.
    rlimit cpu = {static_cast<rlim_t>(cpu_seconds), static_cast<rlim_t>(cpu_seconds + 1)};
    setrlimit(RLIMIT_CPU, &cpu);
  }
  if (memory_mb > 0) {
    rlimit as = {static_cast<rlim_t>(memory_mb) << 20, static_cast<rlim_t>(memory_mb) << 20};
    setrlimit(RLIMIT_AS, &as);
  }
  struct sigaction term = {};
  term.sa_handler = OnTerm;
  sigaction(SIGTERM, &term, nullptr);
  signal(SIGPIPE, SIG_IGN);

  EventWriter writer(events_fd);
  backtest::runner::v1::RunSpec spec;
  if (!ReadSpec(&spec)) {
    Fail(writer, "internal", "the runner could not read its job spec");
    return kExitFailed;
  }
  try {
    return Run(writer, spec);
  } catch (const std::bad_alloc&) {
    Fail(writer, "resource", "out of memory");
    return kExitFailed;
  }
}
