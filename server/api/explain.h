// Explain: why the strategy did what it did at one bar, or over a whole run, from the stored trace
// rows and reason counts. Pure functions over db row structs, filling the proto answer.
//
// The verdict of a bar rests on generic rules, so it survives changes in payload details:
//   1. the engine's own verdict: a row whose payload has a string "verdict" (sr_breakout and
//      sma_cross write one per traced bar, in the position section);
//   2. otherwise the bar's events in evaluation order ("event" names it; "why" or a "reason"
//      sentence says more), then the first failed check ("passed": false) and its "reason";
//   3. otherwise a plain statement that nothing was decided.
// The values that decided it are the payloads of those rows (events by name, the first failed
// check by its "check" name, the verdict row as "verdict").
//
// Thread-safe: pure functions.
#ifndef BACKTEST_SERVER_API_EXPLAIN_H_
#define BACKTEST_SERVER_API_EXPLAIN_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "backtest/v1/trace_service.pb.h"
#include "db/reason_store.h"
#include "db/job_status.h"
#include "db/trace_store.h"

namespace backtest::api {

// The sections, in the order a bar is evaluated; the kinds.
std::span<const absl::string_view> TraceSections();
std::span<const absl::string_view> TraceKinds();
bool IsTraceSection(absl::string_view section);
bool IsTraceKind(absl::string_view kind);

// Parses Explain's `include` ("filters, risk"): known section names, deduplicated. Empty means
// every section. InvalidArgument naming `include` for an unknown section.
absl::StatusOr<std::vector<std::string>> ParseInclude(absl::string_view include);

// A stored row as its proto. The payload JSON becomes a Struct; a payload that is not a JSON object
// is kept as text under "raw".
void ToTraceRowProto(const db::TraceRowRecord& row, backtest::v1::TraceRow* out);

// What Explain knows about the run besides the rows.
struct RunFacts {
  db::JobStatus status = db::JobStatus::kQueued;
  bool trace_enabled = false;
  int64_t sampling = 1;
  bool truncated = false;   // the row limit cut the trace
  int64_t trace_rows = 0;   // rows recorded
  int64_t bars_total = 0;   // bars of the run; 0 when unknown
  // The last bar of the symbol that has rows (nullopt: none).
  std::optional<int64_t> last_traced_bar;
};

// The bar asked about: by index or by open time, of one symbol.
struct BarQuestion {
  std::optional<int64_t> bar_index;
  std::optional<int64_t> ts;
  std::string symbol;
};

// The one-line verdict of a bar's rows (seq order, one symbol), and the values that decided it.
// `rows` must not be empty.
std::string BarVerdict(std::span<const db::TraceRowRecord> rows, google::protobuf::Struct* values);

// Why a bar has no rows, in words ("bar 5 was not traced: tracing was off for this run").
std::string UntracedReason(const BarQuestion& question, const RunFacts& facts);

// Explains one bar from its rows (seq order, one symbol; empty when it was not traced). `include`
// limits the sections listed (empty: all); the verdict always uses every row.
void ExplainBar(const BarQuestion& question, std::span<const db::TraceRowRecord> rows,
                const RunFacts& facts, std::span<const std::string> include,
                backtest::v1::ExplainResponse* out);

// Explains a whole run from its reason counts: a summary line and every reason with its count,
// sample bars and description.
void ExplainRun(std::span<const db::ReasonRecord> reasons, const RunFacts& facts,
                backtest::v1::ExplainResponse* out);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_EXPLAIN_H_
