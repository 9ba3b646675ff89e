#include "server/runner/runner_session.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <span>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/engine/data/bar_cache.h"
#include "server/engine/data/dataset_hash.h"
#include "server/engine/digest.h"
#include "server/engine/util/huge_pages.h"
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

namespace {

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

uint8_t* PutVarint(uint64_t v, uint8_t* p) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

// RunnerEvent.seq's tag (field 15, varint).
constexpr uint8_t kSeqTag = (v1::RunnerEvent::kSeqFieldNumber << 3) | 0;

}  // namespace

bool EventWriter::Write(const v1::RunnerEvent& event, bool now) {
  const size_t size = event.ByteSizeLong();
  std::lock_guard lock(mu_);
  if (ended_) return ok_;  // nothing after the run's end (a heartbeat racing it)
  ended_ = event.has_end();
  if (size > kPartBytes) return WritePartsLocked(event);
  const auto t = std::chrono::steady_clock::now();
  if (buffer_.empty()) first_ = t;
  AppendLocked(event, size);
  if (now || buffer_.size() >= kMaxBytes || t - first_ >= kMaxDelay) return FlushLocked();
  return ok_;
}

void EventWriter::AppendLocked(const v1::RunnerEvent& event, size_t size) {
  // Serialized straight into the frame, its number after its fields (a field's place in the
  // message does not matter). Out of memory half-way, the frame's header must not stay behind
  // alone: the end frame written next would be read as its payload.
  const uint64_t seq = seq_ + 1;
  const size_t with_seq = size + 1 + VarintSize(seq);
  const size_t before = buffer_.size();
  try {
    jobs::AppendFrameHeader(with_seq, &buffer_);
    buffer_.resize(before + 4 + with_seq);
  } catch (const std::bad_alloc&) {
    buffer_.resize(before);
    throw;
  }
  auto* p = reinterpret_cast<uint8_t*>(buffer_.data() + before + 4);
  p = event.SerializeWithCachedSizesToArray(p);
  *p++ = kSeqTag;
  PutVarint(seq, p);
  seq_ = seq;
}

bool EventWriter::WritePartsLocked(const v1::RunnerEvent& event) {
  // No frame of hundreds of megabytes: the event's bytes go out in pieces, each a frame of its
  // own, written as it is made.
  if (!FlushLocked()) return false;
  const std::string whole = event.SerializeAsString();
  for (size_t at = 0; at < whole.size(); at += kPartBytes) {
    v1::RunnerEvent part;
    v1::EventPart* p = part.mutable_part();
    p->set_data(whole.substr(at, kPartBytes));
    p->set_last(at + kPartBytes >= whole.size());
    p->set_total_bytes(static_cast<int64_t>(whole.size()));
    AppendLocked(part, part.ByteSizeLong());
    if (!FlushLocked()) return false;
  }
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

Heartbeat::Heartbeat(EventWriter& writer, int interval_ms, ServerChannel* server) {
  if (server != nullptr) server->Take(nullptr, 0);  // what came with the spec
  thread_ = std::make_unique<FdReader>(
      server != nullptr ? 0 : -1,
      [server](const char* data, size_t size) { server->Take(data, size); }, interval_ms,
      [&writer] {
        v1::RunnerEvent e;
        e.mutable_heartbeat()->set_time_ms(
            std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count());
        writer.Write(e);
      });
}

void PipeObserver::OnLog(engine::LogLevel level, absl::string_view text) {
  const absl::string_view name = engine::LogLevelName(level);
  v1::LogEvent* out = log_.mutable_log();
  out->mutable_level()->assign(name.data(), name.size());
  out->mutable_text()->assign(text.data(), text.size());
  writer_.Write(log_, /*now=*/false);
}

void PipeObserver::OnProgress(const engine::ProgressInfo& p) {
  const absl::string_view stage = engine::RunStageName(p.stage);
  v1::ProgressEvent* out = progress_.mutable_progress();
  out->mutable_stage()->assign(stage.data(), stage.size());
  out->set_bars_done(p.bars_done);
  out->set_bars_total(p.bars_total);
  out->set_fraction(p.fraction);
  writer_.Write(progress_, /*now=*/false);
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

bool SendHello(EventWriter& writer, const std::string& runner) {
  v1::RunnerEvent e;
  v1::RunnerHello* hello = e.mutable_hello();
  hello->set_protocol_version(kRunnerProtocolVersion);
  hello->set_runner(runner);
  if (const char* job = std::getenv("SLURM_JOB_ID"); job != nullptr) {
    // A job step of the Slurm backend: where, for the job's record.
    const char* step = std::getenv("SLURM_STEP_ID");
    const char* node = std::getenv("SLURMD_NODENAME");
    hello->set_reference(absl::StrCat("slurm job ", job, " step ", step != nullptr ? step : "?",
                                      " on node ", node != nullptr ? node : "?"));
  }
  return writer.Write(e);
}

bool Finish(EventWriter& writer) {
  v1::RunnerEvent e;
  e.mutable_end()->set_outcome(v1::RunEnd::OUTCOME_FINISHED);
  return writer.Write(e);
}

void Fail(EventWriter& writer, const std::string& code, const std::string& message) {
  v1::RunnerEvent e;
  v1::RunEnd* end = e.mutable_end();
  end->set_outcome(code == "cancelled"  ? v1::RunEnd::OUTCOME_CANCELLED
                   : code == "resource" ? v1::RunEnd::OUTCOME_LIMIT_EXCEEDED
                                        : v1::RunEnd::OUTCOME_FAILED);
  end->set_code(code);
  end->set_message(message);
  writer.Write(e);
}

FdReader::FdReader(int fd, std::function<void(const char*, size_t)> on_data, int tick_ms,
                   std::function<void()> on_tick) {
  if (pipe2(wake_, O_CLOEXEC) != 0) return;
  try {
    thread_ = std::thread([this, fd, on_data = std::move(on_data), tick_ms,
                           on_tick = std::move(on_tick)]() mutable {
      using Clock = std::chrono::steady_clock;
      const auto tick = std::chrono::milliseconds(std::max(tick_ms, 1));
      auto next = Clock::now();
      char buf[4096];
      while (true) {
        int timeout = -1;
        if (on_tick) {
          const auto now = Clock::now();
          if (now >= next) {
            on_tick();
            next = now + tick;
          }
          timeout = static_cast<int>(
              std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now()).count());
          timeout = std::max(timeout, 0);
        }
        pollfd fds[2] = {{wake_[0], POLLIN, 0}, {fd, POLLIN, 0}};
        const int ready = ::poll(fds, fd >= 0 ? 2 : 1, timeout);
        if (ready < 0) {
          if (errno == EINTR) continue;
          return;
        }
        if (fds[0].revents != 0) return;  // destroyed
        if (fd < 0 || fds[1].revents == 0) continue;
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          if (!on_tick) return;  // the other end closed
          fd = -1;               // ticks go on
          continue;
        }
        on_data(buf, static_cast<size_t>(n));
      }
    });
  } catch (const std::system_error&) {
    // No thread (e.g. under a tight memory limit): nothing is read.
  }
}

FdReader::~FdReader() {
  if (thread_.joinable()) {
    const char wake = 1;
    (void)!::write(wake_[1], &wake, 1);
    thread_.join();
  }
  for (int fd : wake_) {
    if (fd >= 0) ::close(fd);
  }
}

bool ServerChannel::ReadSpec(v1::RunSpec* spec,
                             const std::function<void(const v1::RunSpec&)>& on_prefetch) {
  char buf[4096];
  while (true) {
    auto frame = decoder_.Next();
    if (!frame.ok()) return false;
    if (frame->has_value()) {
      v1::ServerMessage message;
      if (!message.ParseFromString(**frame)) return false;
      if (message.has_prefetch()) {
        if (on_prefetch) on_prefetch(message.prefetch());
        continue;
      }
      if (!message.has_spec()) return false;
      spec->Swap(message.mutable_spec());
      return true;
    }
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    decoder_.Append(buf, static_cast<size_t>(n));
  }
}

bool ServerChannel::MessageWaiting() const {
  if (decoder_.buffered() > 0) return true;
  pollfd in = {0, POLLIN, 0};
  return ::poll(&in, 1, 0) > 0;
}

void ServerChannel::Take(const char* data, size_t size) {
  if (size > 0) decoder_.Append(data, size);
  while (true) {
    auto frame = decoder_.Next();
    if (!frame.ok() || !frame->has_value()) return;
    v1::ServerMessage message;
    if (message.ParseFromString(**frame) && message.has_cancel()) CancelRequested().store(true);
  }
}

absl::Status AcceptSpec(const v1::RunSpec& spec) {
  if (spec.protocol_version() != kRunnerProtocolVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the server speaks runner protocol version ", spec.protocol_version(),
        ", this runner version ", kRunnerProtocolVersion,
        ": install the runner (backtest-runner, the SDK) of the same backtestd"));
  }
  ApplyLimits(spec.limits().cpu_seconds(), spec.limits().memory_mb());
  return absl::OkStatus();
}

namespace {

int captured_stdout = -1;  // the read end of what fd 1 now is, once EventsFd moved the events

}  // namespace

int StdoutCapture::EventsFd(int fd) {
  if (fd != 1) return fd;
  int events = fcntl(1, F_DUPFD_CLOEXEC, 3);
  int out[2];
  if (events < 0 || pipe2(out, O_CLOEXEC) != 0) return events < 0 ? 1 : events;
  ::dup2(out[1], 1);
  ::close(out[1]);
  captured_stdout = out[0];
  return events;
}

StdoutCapture::StdoutCapture(EventWriter& writer) : writer_(writer) {
  if (captured_stdout < 0) return;
  reader_ = std::make_unique<FdReader>(captured_stdout, [this](const char* data, size_t size) {
    partial_.append(data, size);
    size_t start = 0;
    for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      v1::RunnerEvent e;
      e.mutable_log()->set_level("info");
      e.mutable_log()->set_source("stdout");
      e.mutable_log()->set_text(partial_.substr(start, nl - start));
      writer_.Write(e, /*now=*/false);
    }
    partial_.erase(0, start);
  });
}

StdoutCapture::~StdoutCapture() {
  reader_.reset();
  if (!partial_.empty()) {
    v1::RunnerEvent e;
    e.mutable_log()->set_level("info");
    e.mutable_log()->set_source("stdout");
    e.mutable_log()->set_text(partial_);
    writer_.Write(e, /*now=*/false);
  }
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

std::string FailureMessage(const absl::Status& status, const v1::RunSpec& spec) {
  std::string message(status.message());
  const char* node = std::getenv("SLURMD_NODENAME");
  const auto source = spec.params().find("data_source");
  if (node != nullptr && source != spec.params().end() &&
      absl::StartsWith(source->second, "file://") &&
      (absl::IsNotFound(status) || absl::IsPermissionDenied(status) ||
       absl::IsFailedPrecondition(status))) {
    absl::StrAppend(&message, " (read on the Slurm node ", node,
                    ": file:// data must be on a path that the compute nodes share with the "
                    "server, at the same place; docs/runner-backends.md)");
  }
  return message;
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
  if (spec.has_bar_cache() && spec.bar_cache().max_bytes() > 0) {
    options->bar_cache =
        std::make_shared<engine::BarCache>(spec.bar_cache().dir(), spec.bar_cache().max_bytes());
  }
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

void Prefetch(const v1::RunSpec& like, const ServerChannel* channel) {
  if (like.has_sweep() || like.has_external_strategy() || like.has_trace_window()) return;
  engine::RunOptions options;
  if (!OptionsForSpec(like, &options).ok() || options.bar_cache == nullptr) return;
  try {
    const int64_t bars = engine::PrefetchMarketData(
        engine::ParamValues(like.params().begin(), like.params().end()), options);
    // The run's own memory too, for as many bars: a 100k-bar sma_cross run otherwise faults in
    // ~670 pages of heap on the job's path (~1 ms in this VM), where an idle runner has time to
    // spare; its heap then spans ~5 MB. Not when the job is there already: it would wait.
    constexpr int64_t kHeapBytesPerBar = 52;
    constexpr int64_t kMaxHeapBytes = int64_t{32} << 20;
    if (bars > 0 && (channel == nullptr || !channel->MessageWaiting())) {
      engine::ReadyHeap(static_cast<size_t>(
          std::min(kMaxHeapBytes, (int64_t{1} << 20) + kHeapBytesPerBar * bars)));
    }
  } catch (const std::exception&) {
    // Only a head start: the job reads its data itself.
  }
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
  // `cache` (optional) keeps the digest's state after a head it has seen (HeadKey).
  EarlyHashes(const google::protobuf::RepeatedPtrField<v1::KnownDataset>& known,
              const engine::BarCache* cache)
      : known_(known), cache_(cache) {}

  // On the run's thread, before its first bar. What is hashed is copied (the bars are shared):
  // the result itself moves when the run returns.
  void Start(const engine::RunResult& started) {
    head_.strategy = started.strategy;
    head_.symbols = started.symbols;
    // The digest's head (mostly the first symbol's candles) is hashed once per dataset and
    // strategy: a run on candles read back whole from the bar cache starts from its state.
    const std::string key = cache_ != nullptr ? engine::ResultDigester::HeadKey(head_) : "";
    const std::optional<std::string> state = key.empty() ? std::nullopt : cache_->FindNote(key);
    if (!state || !digester_.BeginFrom(*state)) {
      digest_ = std::make_unique<Background>([this, key] {
        digester_.Begin(head_);
        if (!key.empty()) cache_->StoreNote(key, digester_.HeadState());
      });
    }
    // A series read back from the bar cache comes with its hash: when the run's candles are the
    // whole of it, nothing is hashed.
    hashes_.resize(head_.symbols.size());
    std::vector<size_t> wanted;
    for (size_t i = 0; i < head_.symbols.size(); ++i) {
      const engine::SymbolResult& s = head_.symbols[i];
      if (s.first_kept == 0 && !s.bars->dataset_hash.empty()) {
        hashes_[i] = s.bars->dataset_hash;
        continue;
      }
      for (const v1::KnownDataset& k : known_) {
        if (k.symbol() == s.symbol) {
          wanted.push_back(i);
          break;
        }
      }
    }
    if (wanted.empty()) return;
    datasets_ = std::make_unique<Background>([this, wanted] {
      for (size_t i : wanted) hashes_[i] = engine::DatasetHash(head_.symbols[i].candles());
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
  const engine::BarCache* cache_;
  engine::RunResult head_;
  engine::ResultDigester digester_;
  std::vector<std::string> hashes_;
  std::unique_ptr<Background> digest_;
  std::unique_ptr<Background> datasets_;
};

// A large run's result goes out before its digest is done, and its digest after it: the server
// stores the one while the runner computes the other (on a small run, the digest is done about
// when the conversion is, and one event costs the server less than two). Decided by the run's
// size, not by which of the two threads is done first, so that a run always goes the same way.
constexpr size_t kDigestApartFromBars = 32768;

bool SendsDigestApart(const engine::RunResult& result) {
  size_t bars = 0;
  for (const engine::SymbolResult& s : result.symbols) bars += s.candles().size();
  return bars >= kDigestApartFromBars;
}

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
  if (SendsDigestApart(result)) {
    // So does the result: the server stores it while the digest is computed, which follows in
    // an event of its own.
    if (!writer.Write(e)) return false;
    hasher.Wait();
    v1::RunnerEvent late;
    late.mutable_result_digest()->set_digest(digest);
    return writer.Write(late);
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
  EarlyHashes none(known, nullptr);
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
  EarlyHashes early(spec.known_datasets(), options.bar_cache.get());
  options.on_start = [&](const engine::RunResult& started) { early.Start(started); };
  PipeObserver observer(writer);
  auto result = engine::RunBacktest(params, options, observer);
  if (!result.ok()) {
    Fail(writer, FailureCode(result.status().code()), FailureMessage(result.status(), spec));
    return kExitFailed;
  }
  if (spec.has_trace_window()) return SendReplayResult(writer, *result, early) ? 0 : kExitFailed;
  return SendResultHashed(writer, *result, spec.known_datasets(), early) ? 0 : kExitFailed;
}

}  // namespace backtest::runner
