// A stable digest of a run's result: SHA-256 over a canonical binary serialization (fixed field
// order; integers as 8 little-endian bytes; doubles as their IEEE-754 bits, every NaN as one
// canonical NaN; strings length-prefixed). Same inputs → same digest on any build (sample://
// data is computed with libm's exp, so compare sample runs on machines with the same libm).
#ifndef BACKTEST_SERVER_ENGINE_DIGEST_H_
#define BACKTEST_SERVER_ENGINE_DIGEST_H_

#include <memory>
#include <string>

#include "server/engine/run_result.h"
#include "server/engine/trace/trace_row.h"
#include "server/engine/util/sha256.h"

namespace backtest::engine {

// Digest of everything in the result except `digest` itself and the trace counters.
std::string ResultDigest(const RunResult& result);

// The same digest in two steps, for a caller that hashes while the run goes on: Begin hashes
// what is final before the first bar (the strategy, the symbols, the first symbol's pip and
// candles: most of a digest's bytes), Finish the rest of the result. Finish(r) == ResultDigest(r)
// when Begin was given r as RunOptions::on_start sees it. Not thread-safe; Begin and Finish may
// run on different threads one after the other.
class ResultDigester {
 public:
  ResultDigester();
  ~ResultDigester();
  ResultDigester(const ResultDigester&) = delete;
  ResultDigester& operator=(const ResultDigester&) = delete;

  void Begin(const RunResult& started);
  std::string Finish(const RunResult& result);

  // After Begin: the hash's state at the end of the head, for BeginFrom on a later run with the
  // same head (strategy, symbol count, first symbol's name, pip and candles: the first symbol's
  // dataset hash stands for its candles).
  std::string HeadState();
  // A name for the head of `started` when its first symbol's candles are known by their dataset
  // hash (BarSeries::dataset_hash, the whole series), for keeping HeadState; empty otherwise.
  static std::string HeadKey(const RunResult& started);
  // Begin without hashing: from the HeadState of a run with the same head. False (nothing
  // begun) when `state` is not one.
  bool BeginFrom(absl::string_view head_state);

 private:
  std::unique_ptr<Sha256> hash_;
  bool begun_ = false;
};

// Feeds one trace row into a running trace digest (seq, bar_index, ts, symbol, section, kind,
// payload), for tests and tools that compare traces.
void HashTraceRow(const TraceRow& row, Sha256* hash);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DIGEST_H_
