// Fuzz target: the server's real handling of a runner's event stream, RunnerStream (frames
// decoded, the handshake, sequence numbers and parts checked, the runner's end kept) feeding RunnerEventReader (progress coalesced, trace batches
// and the result handed to the store, heartbeats kept), as a run and its JobRun drive them, with
// a sink that records instead of storing.
//
// Input: one byte that chooses how the stream is cut into reads and which stores fail, then the
// stream (the seeds are runner_events' corpus: real runs' streams).
//
// Invariants checked on every input:
// - what is stored (events in order, trace rows, results) and what is known at the end (protocol
//   error, failure, result) does not depend on how the stream arrives;
// - a trace event carries exactly the rows stored for it, and only after they were stored;
// - of the progress events of one stage, none is stored right behind another of that stage
//   without a progress event of another stage between them (the newest supersedes);
// - got_result() is true exactly when a result was handed over and its store succeeded, with its
//   digest in it or stored after it (ResultDigestEvent).
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/jobs/runner_event_reader.h"
#include "server/jobs/runner_stream.h"
#include "tests/fuzz/fuzz_check.h"

namespace backtest::jobs {
namespace {

// What the reader handed over, in order.
struct Recording : RunnerEventReader::Sink {
  RunnerEventReader* reader = nullptr;
  bool fail_trace = false;
  bool fail_result = false;
  std::vector<std::string> log;  // one line per thing stored
  std::vector<std::vector<db::TraceRowRecord>> trace_batches;
  int results = 0;
  bool whole = false;  // the last result stored, with its digest

  void TakeEvents() {
    for (const JobEvent& e : reader->TakeQueued()) log.push_back(Describe(e));
  }
  void FlushQueued() override { TakeEvents(); }
  absl::Status StoreTraceRows(const std::vector<db::TraceRowRecord>& rows) override {
    if (fail_trace) return absl::UnavailableError("disk full");
    trace_batches.push_back(rows);
    log.push_back(absl::StrCat("rows ", rows.size()));
    return absl::OkStatus();
  }
  absl::Status StoreDataset(const backtest::runner::v1::DatasetEvent& dataset) override {
    log.push_back(absl::StrCat("dataset ", dataset.position(), " ", dataset.symbol()));
    return absl::OkStatus();
  }
  absl::Status StoreResult(std::string frame,
                           const backtest::runner::v1::RunOutput& facts) override {
    ++results;
    log.push_back(absl::StrCat("result ", frame.size(), " ", facts.digest()));
    whole = false;
    if (fail_result) return absl::UnavailableError("disk full");
    whole = !facts.digest().empty();
    return absl::OkStatus();
  }
  absl::Status StoreDigest(const std::string& digest) override {
    log.push_back(absl::StrCat("digest ", digest));
    if (fail_result) return absl::UnavailableError("disk full");
    whole = true;
    return absl::OkStatus();
  }

  std::string Describe(const JobEvent& e) {
    switch (e.kind) {
      case EventKind::kLog: return absl::StrCat("log ", e.source, " ", e.level, " ", e.text);
      case EventKind::kProgress:
        return absl::StrCat("progress ", e.stage, " ", e.fraction, " ", e.bars_done, " ",
                            e.bars_total);
      case EventKind::kStatus: return absl::StrCat("status ", e.status);
      case EventKind::kTrace: {
        FUZZ_CHECK(e.rows != nullptr, "a live trace event without its rows");
        FUZZ_CHECK(static_cast<size_t>(e.row_count) == e.rows->size(), "row_count");
        FUZZ_CHECK(!trace_batches.empty() && trace_batches.back().size() == e.rows->size(),
                   "a trace event whose rows were not stored right before it");
        return absl::StrCat("trace ", e.first_row, " ", e.row_count, " ", e.truncated);
      }
    }
    return "";
  }
};

struct Outcome {
  std::vector<std::string> log;
  std::string protocol_error, store_error, failure;
  bool got_result = false;
};

Outcome Read(absl::string_view stream, const std::vector<size_t>& cuts, bool fail_trace,
             bool fail_result) {
  Recording sink;
  sink.fail_trace = fail_trace;
  sink.fail_result = fail_result;
  int64_t clock = 0;
  RunnerEventReader reader(sink, [&] { return clock; }, 5000);
  RunnerStream runner_stream;
  sink.reader = &reader;
  size_t pos = 0, cut = 0;
  while (pos < stream.size()) {
    size_t n = cuts.empty() ? stream.size() : cuts[cut++ % cuts.size()];
    n = std::min(n, stream.size() - pos);
    runner_stream.Feed(stream.data() + pos, n,
                       [&](std::string event) { reader.Handle(std::move(event)); });
    pos += n;
    clock += 1;  // time moves only with reads; the log must not depend on it (times not compared)
  }
  runner_stream.Close();
  sink.TakeEvents();
  // Progress coalescing: within what was stored between two flushes, a stage's progress is never
  // followed by progress of the same stage without another stage's between.
  std::string last_stage;
  for (const std::string& line : sink.log) {
    if (line.rfind("rows ", 0) == 0) last_stage.clear();  // a flush boundary
    if (line.rfind("progress ", 0) != 0) continue;
    const std::string stage = line.substr(9, line.find(' ', 9) - 9);
    FUZZ_CHECK(stage != last_stage || stage.empty(),
               absl::StrCat("progress of stage ", stage, " not superseded"));
    last_stage = stage;
  }
  FUZZ_CHECK(reader.got_result() == (sink.results > 0 && !fail_result && sink.whole),
             absl::StrCat("got_result ", reader.got_result(), " after ", sink.results,
                          sink.whole ? " whole" : " without its digest"));
  return {sink.log, runner_stream.protocol_error() + " | " + reader.protocol_error(),
          reader.store_error(),
          runner_stream.end().has_value()
              ? absl::StrCat(runner_stream.end()->outcome, " ", runner_stream.end()->code, ": ",
                             runner_stream.end()->message)
              : "",
          reader.got_result()};
}

}  // namespace
}  // namespace backtest::jobs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace backtest::jobs;
  if (size < 1) return 0;
  const absl::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool fail_trace = (data[0] & 0x80) != 0;
  const bool fail_result = (data[0] & 0x40) != 0;
  const std::vector<size_t> cuts = backtest::fuzz::ReadSizes(data[0], 512);
  const Outcome whole = Read(stream, {}, fail_trace, fail_result);
  const Outcome pieces = Read(stream, cuts, fail_trace, fail_result);
  FUZZ_CHECK(whole.protocol_error == pieces.protocol_error,
             whole.protocol_error + " | " + pieces.protocol_error);
  FUZZ_CHECK(whole.store_error == pieces.store_error, whole.store_error);
  FUZZ_CHECK(whole.failure == pieces.failure, whole.failure);
  FUZZ_CHECK(whole.got_result == pieces.got_result, "got_result");
  FUZZ_CHECK(whole.log.size() == pieces.log.size(),
             absl::StrCat(whole.log.size(), " vs ", pieces.log.size(), " things stored"));
  for (size_t i = 0; i < whole.log.size(); ++i) {
    FUZZ_CHECK(whole.log[i] == pieces.log[i],
               backtest::fuzz::Shown(whole.log[i]) + " | " + backtest::fuzz::Shown(pieces.log[i]));
  }
  return 0;
}
