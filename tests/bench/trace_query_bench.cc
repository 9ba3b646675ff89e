// Trace storage benchmarks (issue 5): AppendRows throughput (target ≥ 500k rows/s) and a bar
// lookup on a 250k-row trace (target ≤ 1 ms p50), on a real SQLite file in WAL mode.
//
//   trace_query_bench --benchmark_counters_tabular=true
//
// Rows look like the engine's: ~25 per bar over 10k bars, payloads of 60-120 bytes of JSON.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/trace_store.h"

namespace backtest::db {
namespace {

constexpr int64_t kTraceRows = 250'000;
constexpr int64_t kRowsPerBar = 25;
constexpr size_t kBatch = 1000;  // BOTS_TRACE_BATCH_SIZE

const char* const kSections[] = {"indicators", "zones", "signal", "filters",
                                 "risk",       "orders", "position"};

std::vector<TraceRowRecord> MakeRows(int64_t n) {
  std::vector<TraceRowRecord> rows;
  rows.reserve(n);
  for (int64_t seq = 1; seq <= n; ++seq) {
    int64_t bar = (seq - 1) / kRowsPerBar;
    int64_t k = (seq - 1) % kRowsPerBar;
    TraceRowRecord r;
    r.seq = seq;
    r.bar_index = bar;
    r.ts = 1'700'000'000 + 60 * bar;
    r.symbol = "EURUSD";
    r.section = kSections[k % 7];
    if (k % 5 == 3) {
      r.kind = "check";
      r.payload_json = absl::StrCat(
          R"({"check":"breakout_strength","passed":false,"reason":"breakout strength 0.)",
          k, R"( ATR < 0.20 ATR required","value":0.)", k, R"(,"threshold":0.2})");
    } else {
      r.kind = "value";
      r.payload_json = absl::StrCat(R"({"name":"atr","value":0.00)", 1000 + seq % 997,
                                    R"(,"ema":1.0)", seq % 9973, "}");
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

// One database for the whole binary, in a private temp dir removed at exit.
struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<Database> db;
  std::unique_ptr<TraceStore> store;
  std::vector<TraceRowRecord> rows = MakeRows(kTraceRows);
  int next_job = 0;

  Fixture() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "trace-bench-XXXXXX").string();
    dir = mkdtemp(pattern.data());
    db = *Database::Open((dir / "bench.db").string());
    db->connection().exec("INSERT INTO users(id, name, created_ms) VALUES(1, 'bench', 0)");
    store = *TraceStore::Create(db.get());
    std::string job = NewJob();
    for (size_t i = 0; i < rows.size(); i += kBatch) {
      auto batch = std::span(rows).subspan(i, std::min(kBatch, rows.size() - i));
      if (!store->AppendRows(job, batch).ok()) abort();
    }
    query_job = job;
  }
  ~Fixture() {
    store.reset();
    db.reset();
    std::filesystem::remove_all(dir);
  }

  std::string NewJob() {
    std::string id = absl::StrCat("j_bench_", next_job++, "_aZ3kQ9xLmP0v");
    SQLite::Statement insert(db->connection(),
                             "INSERT INTO jobs(id, owner_id, status, params_json, created_ms) "
                             "VALUES(?1, 1, 'running', '{}', 0)");
    insert.bind(1, id);
    insert.exec();
    return id;
  }

  std::string query_job;
};

Fixture& F() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void Percentiles(benchmark::State& state, std::vector<double>& micros) {
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p99_us"] = micros[micros.size() * 99 / 100];
}

// Appends a 250k-row trace to a fresh job in batches of `range(0)` rows, one transaction each.
void BM_AppendRows(benchmark::State& state) {
  Fixture& f = F();
  const size_t batch = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    std::string job = f.NewJob();
    state.ResumeTiming();
    for (size_t i = 0; i < f.rows.size(); i += batch) {
      auto part = std::span(f.rows).subspan(i, std::min(batch, f.rows.size() - i));
      if (!f.store->AppendRows(job, part).ok()) state.SkipWithError("append failed");
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(f.rows.size()));
}
// Wall-clock rate (UseRealTime): the writes' I/O counts.
BENCHMARK(BM_AppendRows)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

// Every row of one random bar of the 250k-row trace (what Explain reads).
void BM_RowsOfBar(benchmark::State& state) {
  Fixture& f = F();
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> bar(0, kTraceRows / kRowsPerBar - 1);
  std::vector<double> micros;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto rows = f.store->RowsOfBar(f.query_job, "EURUSD", bar(rng));
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (!rows.ok() || rows->size() != kRowsPerBar) state.SkipWithError("wrong rows");
    benchmark::DoNotOptimize(rows);
  }
  Percentiles(state, micros);
}
BENCHMARK(BM_RowsOfBar)->Unit(benchmark::kMicrosecond);

// QueryTrace's store call for ?bar_index=N (page and count).
void BM_QueryByBar(benchmark::State& state) {
  Fixture& f = F();
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> bar(0, kTraceRows / kRowsPerBar - 1);
  std::vector<double> micros;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto page = f.store->Query(f.query_job, {.bar_index = bar(rng)}, 100, 0);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (!page.ok() || page->total != kRowsPerBar) state.SkipWithError("wrong page");
  }
  Percentiles(state, micros);
}
BENCHMARK(BM_QueryByBar)->Unit(benchmark::kMicrosecond);

// ?ts=… (the time index).
void BM_QueryByTs(benchmark::State& state) {
  Fixture& f = F();
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<int64_t> bar(0, kTraceRows / kRowsPerBar - 1);
  std::vector<double> micros;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto page = f.store->Query(f.query_job, {.ts = 1'700'000'000 + 60 * bar(rng)}, 100, 0);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (!page.ok() || page->total != kRowsPerBar) state.SkipWithError("wrong page");
  }
  Percentiles(state, micros);
}
BENCHMARK(BM_QueryByTs)->Unit(benchmark::kMicrosecond);

// An unfiltered page deep into the trace: the count walks all 250k rows (the worst case).
void BM_QueryPageWithFullCount(benchmark::State& state) {
  Fixture& f = F();
  std::vector<double> micros;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto page = f.store->Query(f.query_job, {}, 100, 100'000);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (!page.ok() || page->total != kTraceRows) state.SkipWithError("wrong page");
  }
  Percentiles(state, micros);
}
BENCHMARK(BM_QueryPageWithFullCount)->Unit(benchmark::kMillisecond);

// ?section=filters over the whole trace: every chunk is decoded (the slowest filter).
void BM_QueryBySection(benchmark::State& state) {
  Fixture& f = F();
  std::vector<double> micros;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto page = f.store->Query(f.query_job, {.section = "filters"}, 100, 0);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (!page.ok() || page->total == 0) state.SkipWithError("wrong page");
  }
  Percentiles(state, micros);
}
BENCHMARK(BM_QueryBySection)->Unit(benchmark::kMillisecond);

// The row count of the whole trace (chunk metadata only).
void BM_CountRows(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    auto n = f.store->CountRows(f.query_job);
    if (!n.ok() || *n != kTraceRows) state.SkipWithError("wrong count");
  }
}
BENCHMARK(BM_CountRows)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace backtest::db

BENCHMARK_MAIN();
