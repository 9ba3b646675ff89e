#include "server/runner/runner_session.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <memory>
#include <new>
#include <span>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "server/engine/data/dataset_hash.h"
#include "server/engine/digest.h"
#include "server/jobs/frame_codec.h"
#include "server/runner/result_conversion.h"

namespace backtest::runner {
namespace {

void OnTerm(int) { CancelRequested().store(true); }

}  // namespace

std::atomic<bool>& CancelRequested() {
  static std::atomic<bool> cancelled{false};
  return cancelled;
}

void InstallTermHandler() {
  struct sigaction term = {};
  term.sa_handler = OnTerm;
  sigaction(SIGTERM, &term, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void ApplyLimits(int64_t cpu_seconds, int64_t memory_mb) {
  if (cpu_seconds > 0) {
    // SIGXCPU at the soft limit, SIGKILL one second later.
    rlimit cpu = {static_cast<rlim_t>(cpu_seconds), static_cast<rlim_t>(cpu_seconds + 1)};
    setrlimit(RLIMIT_CPU, &cpu);
  }
  if (memory_mb > 0) {
    rlimit as = {static_cast<rlim_t>(memory_mb) << 20, static_cast<rlim_t>(memory_mb) << 20};
    setrlimit(RLIMIT_AS, &as);
  }
}

bool EventWriter::Write(const v1::RunnerEvent& event, bool now) {
  const size_t size = event.ByteSizeLong();
  std::lock_guard lock(mu_);
  const auto t = std::chrono::steady_clock::now();
  if (buffer_.empty()) first_ = t;
  // Serialized straight into the frame (a result is megabytes: no second copy). Out of memory
  // half-way, the frame's header must not stay behind alone: the failure frame written next
  // would be read as its payload.
  const size_t before = buffer_.size();
  try {
    jobs::AppendFrameHeader(size, &buffer_);
    buffer_.resize(before + 4 + size);
  } catch (const std::bad_alloc&) {
    buffer_.resize(before);
    throw;
  }
  event.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(buffer_.data() + before + 4));
  if (now || buffer_.size() >= kMaxBytes || t - first_ >= kMaxDelay) return FlushLocked();
  return ok_;
}

bool EventWriter::Flush() {
  std::lock_guard lock(mu_);
  return FlushLocked();
}

bool EventWriter::FlushLocked() {
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

Heartbeat::Heartbeat(EventWriter& writer, int interval_ms)
    : thread_([this, &writer, interval_ms] {
        std::unique_lock lock(mu_);
        while (!stop_) {
          v1::RunnerEvent e;
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

Heartbeat::~Heartbeat() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void PipeObserver::OnLog(engine::LogLevel level, absl::string_view text) {
  v1::RunnerEvent e;
  e.mutable_log()->set_level(std::string(engine::LogLevelName(level)));
  e.mutable_log()->set_text(std::string(text));
  writer_.Write(e, /*now=*/false);
}

void PipeObserver::OnProgress(const engine::ProgressInfo& p) {
  v1::RunnerEvent e;
  auto* out = e.mutable_progress();
  out->set_stage(std::string(engine::RunStageName(p.stage)));
  out->set_bars_done(p.bars_done);
  out->set_bars_total(p.bars_total);
  out->set_fraction(p.fraction);
  writer_.Write(e, /*now=*/false);
}

void PipeObserver::OnTraceBatch(std::span<const engine::TraceRow> rows, bool truncated) {
  v1::RunnerEvent e;
  auto* out = e.mutable_trace();
  out->mutable_rows()->Reserve(static_cast<int>(rows.size()));
  for (const auto& r : rows) {
    auto* row = out->add_rows();
    row->set_seq(r.seq);
    row->set_bar_index(r.bar_index);
    row->set_ts(r.ts);
    row->set_symbol(r.symbol);
    row->set_section(std::string(engine::TraceSectionName(r.section)));
    row->set_kind(std::string(engine::TraceKindName(r.kind)));
    row->set_payload_json(r.payload);
  }
  out->set_truncated(truncated);
  writer_.Write(e);
}

void Fail(EventWriter& writer, const std::string& code, const std::string& message) {
  v1::RunnerEvent e;
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
    case absl::StatusCode::kAborted: return "strategy";
    default: return "internal";
  }
}

bool ReadSpec(v1::RunSpec* spec) {
  jobs::FrameDecoder decoder(1 << 20);
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

absl::Status OptionsForSpec(const v1::RunSpec& spec, engine::RunOptions* options) {
  if (spec.trace_max_rows() > 0) options->trace_max_rows = spec.trace_max_rows();
  if (spec.trace_batch_size() > 0) options->trace_batch_size = spec.trace_batch_size();
  if (spec.data_timeout_ms() > 0) {
    options->http.total_timeout_ms = spec.data_timeout_ms();
    options->http.connect_timeout_ms =
        std::min(options->http.connect_timeout_ms, spec.data_timeout_ms());
  }
  options->data_policy.enforced = true;
  const auto& policy = spec.data_policy();
  options->data_policy.file_roots.assign(policy.file_roots().begin(), policy.file_roots().end());
  options->data_policy.url_allow.assign(policy.url_allow().begin(), policy.url_allow().end());
  for (const std::string& network : policy.allowed_networks()) {
    auto parsed = engine::ParseIpNetwork(network);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("data policy: ", parsed.status().message()));
    }
    options->data_policy.allowed_networks.push_back(*parsed);
  }
  // The digest is computed by SendResult, beside the conversion of the result.
  options->compute_digest = false;
  if (spec.has_trace_window()) {
    options->trace_first_bar = spec.trace_window().first_bar();
    options->trace_last_bar = spec.trace_window().last_bar();
  }
  return absl::OkStatus();
}

namespace {

// Work on a thread of its own, inline when no thread can be started (e.g. under a tight memory
// limit). Wait() joins it and throws the bad_alloc it met, if any.
class Background {
 public:
  explicit Background(std::function<void()> work) {
    auto guarded = [this, work] {
      try {
        work();
      } catch (const std::bad_alloc&) {
        failed_ = true;
      }
    };
    try {
      thread_ = std::thread(guarded);
    } catch (const std::system_error&) {
      guarded();
    }
  }
  ~Background() {
    if (thread_.joinable()) thread_.join();
  }
  void Wait() {
    if (thread_.joinable()) thread_.join();
    if (failed_) throw std::bad_alloc();
  }

 private:
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

// The hashing a run's result needs, started while the run goes on (RunOptions::on_start): the
// first part of the digest (mostly the first symbol's candles) and the hashes of the symbols
// that the spec offers datasets for, each on a thread of its own. Off the job's path, they cost
// the path nothing when a core is free: ~5 ms of SHA-256 per 100k bars.
class EarlyHashes {
 public:
  explicit EarlyHashes(const google::protobuf::RepeatedPtrField<v1::KnownDataset>& known)
      : known_(known) {}

  // On the run's thread, before its first bar. What is hashed is copied (the bars are shared):
  // the result itself moves when the run returns.
  void Start(const engine::RunResult& started) {
    head_.strategy = started.strategy;
    head_.symbols = started.symbols;
    digest_ = std::make_unique<Background>([this] { digester_.Begin(head_); });
    hashes_.resize(head_.symbols.size());
    bool any = false;
    for (size_t i = 0; i < head_.symbols.size(); ++i) {
      for (const v1::KnownDataset& k : known_) any = any || k.symbol() == head_.symbols[i].symbol;
    }
    if (!any) return;
    datasets_ = std::make_unique<Background>([this] {
      for (size_t i = 0; i < head_.symbols.size(); ++i) {
        for (const v1::KnownDataset& k : known_) {
          if (k.symbol() != head_.symbols[i].symbol) continue;
          hashes_[i] = engine::DatasetHash(head_.symbols[i].candles());
          break;
        }
      }
    });
  }

  // The dataset hashes by symbol ("" for those not hashed); empty when Start was not called.
  std::span<const std::string> hashes() {
    if (datasets_) datasets_->Wait();
    return hashes_;
  }
  // The digest of the finished run (the rest hashed now).
  std::string Digest(const engine::RunResult& result) {
    if (digest_) digest_->Wait();
    return digester_.Finish(result);
  }

 private:
  const google::protobuf::RepeatedPtrField<v1::KnownDataset>& known_;
  engine::RunResult head_;
  engine::ResultDigester digester_;
  std::vector<std::string> hashes_;
  std::unique_ptr<Background> digest_;
  std::unique_ptr<Background> datasets_;
};

// SendResult, with what was hashed while the run went on (none: everything is hashed here).
bool SendResultHashed(EventWriter& writer, const engine::RunResult& result,
                      const google::protobuf::RepeatedPtrField<v1::KnownDataset>& known,
                      EarlyHashes& early) {
  // Hashing the result and converting it to its wire form both only read it, and each takes
  // milliseconds on a large run: the rest of the digest is computed on a second thread meanwhile.
  std::string digest;
  Background hasher([&] { digest = early.Digest(result); });
  v1::RunnerEvent e;
  std::vector<v1::RunnerEvent> datasets;
  ToResultFrames(result, known, &datasets, e.mutable_result(), early.hashes());
  // The datasets go out while the digest is still being computed.
  for (const v1::RunnerEvent& d : datasets) {
    if (!writer.Write(d)) return false;
  }
  hasher.Wait();
  e.mutable_result()->set_digest(digest);
  return writer.Write(e);
}

// A replay's answer (RunSpec.trace_window): the digest and each series' dataset hash, the rows
// having gone out as trace batches. The result itself is the stored run's; converting it again
// would only cost time.
bool SendReplayResult(EventWriter& writer, const engine::RunResult& result, EarlyHashes& early) {
  v1::RunnerEvent e;
  v1::RunOutput* out = e.mutable_result();
  out->set_strategy(result.strategy);
  // The symbols of the spec's known datasets (the stored run's) were hashed while the run went on.
  std::span<const std::string> early_hashes = early.hashes();
  for (size_t i = 0; i < result.symbols.size(); ++i) {
    const engine::SymbolResult& s = result.symbols[i];
    v1::SymbolSeries* series = out->add_series();
    series->set_symbol(s.symbol);
    series->set_dataset(i < early_hashes.size() && !early_hashes[i].empty()
                            ? early_hashes[i]
                            : engine::DatasetHash(s.candles()));
  }
  out->set_trace_rows(result.trace_rows);
  out->set_trace_truncated(result.trace_truncated);
  out->set_digest(early.Digest(result));
  return writer.Write(e);
}

}  // namespace

bool SendResult(EventWriter& writer, const engine::RunResult& result,
                const google::protobuf::RepeatedPtrField<v1::KnownDataset>& known) {
  EarlyHashes none(known);
  return SendResultHashed(writer, result, known, none);
}

int RunJob(EventWriter& writer, const v1::RunSpec& spec, const engine::ParamValues& params,
           engine::StrategyFactory external) {
  engine::RunOptions options;
  if (absl::Status s = OptionsForSpec(spec, &options); !s.ok()) {
    Fail(writer, "internal", std::string(s.message()));
    return kExitFailed;
  }
  options.external_strategy = std::move(external);
  EarlyHashes early(spec.known_datasets());
  options.on_start = [&](const engine::RunResult& started) { early.Start(started); };
  PipeObserver observer(writer);
  auto result = engine::RunBacktest(params, options, observer);
  if (!result.ok()) {
    Fail(writer, FailureCode(result.status().code()), std::string(result.status().message()));
    return kExitFailed;
  }
  if (spec.has_trace_window()) return SendReplayResult(writer, *result, early) ? 0 : kExitFailed;
  return SendResultHashed(writer, *result, spec.known_datasets(), early) ? 0 : kExitFailed;
}

}  // namespace backtest::runner
