// Datasets and stored results across formats: market data stored once per distinct content and
// shared by the jobs that ran on it; results of every stored format (1-3 from earlier versions,
// 4 today) answering the same through every API; a database of schema 5 migrated with its results.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "backtest/runner/v1/runner.pb.h"
#include "backtest/store/v1/stored_result.pb.h"
#include "db/migrations.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/engine/engine.h"
#include "server/jobs/delta_column.h"
#include "server/runner/result_conversion.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::backtest::testing::TestServer;

namespace stored = backtest::runner::v1;

// A message's bytes, maps in key order (their default order may differ between two copies).
std::string Bytes(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

// Two lists of answers (Answers) agree; a difference is reported by its index (and the first
// bytes that differ), not as megabytes of bytes.
void ExpectSame(const std::vector<std::string>& got, const std::vector<std::string>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;
    size_t at = 0;
    while (at < got[i].size() && at < want[i].size() && got[i][at] == want[i][at]) ++at;
    ADD_FAILURE() << what << ": answer " << i << " differs at byte " << at << " (sizes "
                  << got[i].size() << ", " << want[i].size() << ")";
    return;
  }
}

class DatasetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.options().workers = 1;
    server_.Start();
  }

  std::string Submit(const std::map<std::string, std::string>& params) {
    backtest::v1::RunBacktestRequest request;
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    backtest::v1::RunBacktestResponse response;
    grpc::Status s = server_.jobs().RunBacktest(server_.Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.job_id();
  }

  backtest::v1::Job Get(const std::string& id) {
    backtest::v1::GetJobRequest request;
    request.set_job_id(id);
    backtest::v1::GetJobResponse response;
    grpc::Status s = server_.jobs().GetJob(server_.Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.job();
  }

  // Submits and waits for the job to finish.
  std::string Run(const std::map<std::string, std::string>& params) {
    const std::string id = Submit(params);
    EXPECT_TRUE(PollUntil([&] {
      const std::string s = Get(id).status();
      return s == "finished" || s == "failed" || s == "cancelled";
    }, 120));
    EXPECT_EQ(Get(id).status(), "finished") << Get(id).error();
    return id;
  }

  backtest::v1::GetResultResponse Result(backtest::v1::GetResultRequest request) {
    backtest::v1::GetResultResponse response;
    grpc::Status s = server_.jobs().GetResult(server_.Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  // Every answer the APIs give about a finished job, serialized: GetResult (both layouts, whole
  // and cut, every symbol), GetJob, StreamJobLog (with its trace), QueryTrace and Explain.
  std::vector<std::string> Answers(const std::string& id, const std::vector<std::string>& symbols) {
    std::vector<std::string> out;
    for (const std::string& symbol : symbols) {
      // Packed, also with decimal columns and packed trades (a dataset's kept columns in
      // format 4, checked in the others).
      for (int layout : {0, 1, 2}) {
        for (int32_t max_candles : {0, 100}) {
          backtest::v1::GetResultRequest request;
          request.set_job_id(id);
          request.set_symbol(symbol);
          request.set_layout(layout == 0 ? backtest::v1::RESULT_LAYOUT_POINTS
                                         : backtest::v1::RESULT_LAYOUT_PACKED);
          request.set_decimal_columns(layout == 2);
          request.set_packed_trades(layout == 2);
          request.set_max_candles(max_candles);
          out.push_back(Bytes(Result(request)));
          request.set_max_points(17);
          request.set_trades_in_window(true);
          out.push_back(Bytes(Result(request)));
        }
      }
    }
    // Less what the job's row gained after schema 5 (a database of then has none of it).
    backtest::v1::Job job = Get(id);
    job.clear_request_id();
    job.clear_runner();
    out.push_back(Bytes(job));
    backtest::v1::StreamJobLogRequest stream_request;
    stream_request.set_job_id(id);
    stream_request.set_include_trace(true);
    auto context = server_.Context();
    auto reader = server_.jobs().StreamJobLog(context.get(), stream_request);
    backtest::v1::StreamJobLogResponse event;
    while (reader->Read(&event)) out.push_back(Bytes(event));
    EXPECT_TRUE(reader->Finish().ok());
    for (int32_t bar : {40, 200}) {
      backtest::v1::QueryTraceRequest query;
      query.set_job_id(id);
      query.set_bar_index(bar);
      backtest::v1::QueryTraceResponse rows;
      grpc::Status s = server_.traces().QueryTrace(server_.Context().get(), query, &rows);
      EXPECT_TRUE(s.ok()) << s.error_message();
      out.push_back(Bytes(rows));
      backtest::v1::ExplainRequest explain;
      explain.set_job_id(id);
      explain.set_bar_index(bar);
      backtest::v1::ExplainResponse why;
      s = server_.traces().Explain(server_.Context().get(), explain, &why);
      EXPECT_TRUE(s.ok()) << s.error_message();
      out.push_back(Bytes(why));
    }
    backtest::v1::ExplainRequest run;
    run.set_job_id(id);
    backtest::v1::ExplainResponse why;
    EXPECT_TRUE(server_.traces().Explain(server_.Context().get(), run, &why).ok());
    out.push_back(Bytes(why));
    return out;
  }

  std::unique_ptr<SQLite::Database> Db() {
    auto db = std::make_unique<SQLite::Database>(server_.dir().File("var/backtest.db"),
                                                 SQLite::OPEN_READWRITE);
    db->setBusyTimeout(5000);
    db->exec("PRAGMA foreign_keys=ON");
    return db;
  }

  int64_t Count(const std::string& sql) { return Db()->execAndGet(sql).getInt64(); }

  // The job's result as a runner wrote it before datasets (results format 3, every candle in
  // it): its stored parameters run again by the engine in this process (runs are deterministic)
  // and converted as that runner did.
  std::string Format3Result(SQLite::Database& db, const std::string& id) {
    auto result = RunAgain(db, id);
    EXPECT_TRUE(result.ok()) << result.status();
    stored::RunnerEvent event;
    if (result.ok()) runner::ToRunOutput(*result, event.mutable_result());
    return event.SerializeAsString();
  }

  // The job's run again by the engine in this process, from its stored (resolved) parameters.
  absl::StatusOr<engine::RunResult> RunAgain(SQLite::Database& db, const std::string& id) {
    SQLite::Statement q(db, "SELECT params_json FROM jobs WHERE id = ?");
    q.bind(1, id);
    EXPECT_TRUE(q.executeStep());
    engine::ParamValues params;
    const nlohmann::json values = nlohmann::json::parse(q.getColumn(0).getString());
    for (const auto& [name, value] : values.items()) params[name] = value.get<std::string>();
    struct Quiet : engine::RunObserver {
      void OnLog(engine::LogLevel, absl::string_view) override {}
      void OnProgress(const engine::ProgressInfo&) override {}
      void OnTraceBatch(std::span<const engine::TraceRow>, bool) override {}
      bool IsCancelled() override { return false; }
    } quiet;
    return engine::RunBacktest(params, engine::RunOptions{}, quiet);
  }

  void StoreResult(SQLite::Database& db, const std::string& id, int format,
                   const std::string& data) {
    SQLite::Statement store(db, "UPDATE results SET format = ?, data = ? WHERE job_id = ?");
    store.bind(1, format);
    store.bind(2, data.data(), static_cast<int>(data.size()));
    store.bind(3, id);
    ASSERT_EQ(store.exec(), 1);
  }

  TestServer server_;
};

// A traced sr_breakout of two symbols (points of equity, EMA, zones) and a one-symbol sma_cross
// (the engine's equity pieces).
std::map<std::string, std::string> TwoSymbols() {
  return {{"strategy", "sr_breakout"},  {"symbols", "EURUSD,XAUUSD"}, {"timeframe", "H1"},
          {"start_date", "2021-01-01"}, {"end_date", "2021-07-01"},   {"trace_enabled", "true"}};
}
std::map<std::string, std::string> OneSymbol() {
  return {{"strategy", "sma_cross"},    {"symbols", "GBPUSD"},       {"timeframe", "M15"},
          {"start_date", "2021-01-01"}, {"end_date", "2021-04-01"}};
}

TEST_F(DatasetsTest, ResultsOfEveryStoredFormatAnswerTheSame) {
  const std::string a = Run(TwoSymbols());
  const std::string b = Run(OneSymbol());
  EXPECT_EQ(Count("SELECT count(*) FROM results WHERE format = 4"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM datasets"), 3);
  const std::vector<std::string> answers_a = Answers(a, {"EURUSD", "XAUUSD"});
  const std::vector<std::string> answers_b = Answers(b, {"GBPUSD"});
  // Format 3, as runners wrote it before datasets; then 2 (plain columns) and 1 (a message per
  // point), converted here from format 3.
  auto symbols = [&](const std::string& id) {
    return id == a ? std::vector<std::string>{"EURUSD", "XAUUSD"}
                   : std::vector<std::string>{"GBPUSD"};
  };
  auto db = Db();
  for (const std::string& id : {a, b}) {
    stored::RunnerEvent event;
    ASSERT_TRUE(event.ParseFromString(Format3Result(*db, id)));
    StoreResult(*db, id, 3, event.SerializeAsString());
    ExpectSame(Answers(id, symbols(id)), id == a ? answers_a : answers_b, "format 3");
    stored::RunOutput& out = *event.mutable_result();
    ASSERT_TRUE(jobs::ExpandDeltaColumns(&out));
    StoreResult(*db, id, 2, event.SerializeAsString());
    ExpectSame(Answers(id, symbols(id)), id == a ? answers_a : answers_b, "format 2");
    auto to_points = [](const stored::LineColumns& line,
                        google::protobuf::RepeatedPtrField<stored::LinePoint>* points) {
      for (int i = 0; i < line.time_size(); ++i) {
        stored::LinePoint* p = points->Add();
        p->set_time(line.time(i));
        p->set_value(line.value(i));
      }
    };
    for (stored::SymbolSeries& series : *out.mutable_series()) {
      const stored::CandleColumns& c = series.candle_columns();
      for (int i = 0; i < c.time_size(); ++i) {
        stored::Candle* candle = series.add_candles();
        candle->set_time(c.time(i));
        candle->set_open(c.open(i));
        candle->set_high(c.high(i));
        candle->set_low(c.low(i));
        candle->set_close(c.close(i));
        candle->set_volume(c.volume(i));
      }
      to_points(series.ema_columns(), series.mutable_ema());
      series.clear_candle_columns();
      series.clear_ema_columns();
    }
    to_points(out.equity_columns(), out.mutable_equity());
    out.clear_equity_columns();
    StoreResult(*db, id, 1, event.SerializeAsString());
    ExpectSame(Answers(id, symbols(id)), id == a ? answers_a : answers_b, "format 1");
  }
}

// A database of schema 5 (before datasets) with results stored in format 3: migrated at start, its
// results read back through every API as they did (the answers of the same runs stored in
// format 4 with datasets, which must be those of the old server).
TEST_F(DatasetsTest, ResultsAreStoredInTheirOwnMessageAndRunnerFramesOfEarlierVersionsReadTheSame) {
  const std::string a = Run(TwoSymbols());
  const std::string b = Run(OneSymbol());
  for (const std::string& id : {a, b}) {
    const std::vector<std::string> symbols =
        id == a ? std::vector<std::string>{"EURUSD", "XAUUSD"} : std::vector<std::string>{"GBPUSD"};
    const std::vector<std::string> answers = Answers(id, symbols);
    auto db = Db();
    SQLite::Statement q(*db, "SELECT data FROM results WHERE job_id = ?");
    q.bind(1, id);
    ASSERT_TRUE(q.executeStep());
    const std::string data = q.getColumn(0).getString();
    // Stored: a StoredResult, nothing of the runner's frame (read as one, its number is unset).
    backtest::store::v1::StoredResult result;
    ASSERT_TRUE(result.ParseFromString(data));
    ASSERT_TRUE(result.has_output());
    stored::RunnerEvent as_frame;
    ASSERT_TRUE(as_frame.ParseFromString(data));
    EXPECT_EQ(as_frame.seq(), 0u);
    // Rows of earlier versions: the runner's frame as it came, the result and (protocol 2) its
    // number; of protocol 1, the result alone.
    stored::RunnerEvent frame;
    *frame.mutable_result() = result.output();
    frame.set_seq(4242);
    StoreResult(*db, id, 4, frame.SerializeAsString());
    ExpectSame(Answers(id, symbols), answers, "a numbered runner frame");
    frame.clear_seq();
    StoreResult(*db, id, 4, frame.SerializeAsString());
    ExpectSame(Answers(id, symbols), answers, "a runner frame of protocol 1");
  }
}

TEST_F(DatasetsTest, ASchemaFiveDatabaseMigratesAndItsResultsReadBackIdentically) {
  const std::string a = Run(TwoSymbols());
  const std::string b = Run(OneSymbol());
  const std::vector<std::string> answers_a = Answers(a, {"EURUSD", "XAUUSD"});
  const std::vector<std::string> answers_b = Answers(b, {"GBPUSD"});
  server_.Stop();
  // A database made by migrations 1-5 only, holding every row of the tables it has (with their
  // columns of then), the results in format 3: what a server of schema 5 left behind.
  const std::string path = server_.dir().File("var/backtest.db");
  const std::string old_path = server_.dir().File("v5.db");
  {
    SQLite::Database old_db(old_path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    for (const db::Migration& m : db::Migrations()) {
      if (m.version <= 5) old_db.exec(m.sql);
    }
    old_db.exec("PRAGMA user_version = 5");
    old_db.exec("ATTACH DATABASE '" + path + "' AS now");
    std::vector<std::string> tables;
    SQLite::Statement list(old_db, "SELECT name FROM main.sqlite_master WHERE type = 'table'");
    while (list.executeStep()) tables.push_back(list.getColumn(0).getString());
    for (const std::string& table : tables) {
      std::string columns;
      SQLite::Statement info(old_db, "SELECT name FROM pragma_table_info(?)");
      info.bind(1, table);
      while (info.executeStep()) columns += (columns.empty() ? "" : ", ") + info.getColumn(0).getString();
      old_db.exec("INSERT INTO main." + table + "(" + columns + ") SELECT " + columns + " FROM now." +
                  table);
    }
    old_db.exec("DETACH DATABASE now");
    for (const std::string& id : {a, b}) StoreResult(old_db, id, 3, Format3Result(old_db, id));
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  std::filesystem::rename(old_path, path);
  server_.Start();
  EXPECT_EQ(Count("PRAGMA user_version"), db::LatestSchemaVersion());
  EXPECT_EQ(Count("SELECT count(*) FROM results WHERE format = 3"), 2);
  ExpectSame(Answers(a, {"EURUSD", "XAUUSD"}), answers_a, "two symbols");
  ExpectSame(Answers(b, {"GBPUSD"}), answers_b, "one symbol");
  // New runs store datasets beside the old results.
  const std::string c = Run(OneSymbol());
  EXPECT_EQ(Count("SELECT count(*) FROM datasets"), 1);
  backtest::v1::GetResultResponse old_result, new_result;
  ASSERT_TRUE(old_result.ParseFromString(answers_b.front()));
  ASSERT_TRUE(new_result.ParseFromString(Answers(c, {"GBPUSD"}).front()));
  new_result.set_job_id(old_result.job_id());
  EXPECT_EQ(Bytes(new_result), Bytes(old_result));
}

// Two jobs on one file share its dataset; a file changed in between gives a second one; a dataset
// goes with the last job that refers to it, and never before.
// 3,000 minute bars of a sine walk from 2020-09-13; `bump` moves every price from bar 2,500 on
// (a changed file whose first bars are the same).
void WriteMinuteBars(const std::string& path, double bump, int bars = 3000) {
  std::ofstream csv(path);
  csv << "time,open,high,low,close,volume\n";
  double price = 100;
  for (int i = 0; i < bars; ++i) {
    const double next = price + 0.01 * std::sin(i * 0.37) + (i == 2500 ? bump : 0);
    csv << 1'600'000'000 + 60 * i << ',' << price << ',' << std::max(price, next) + 0.01 << ','
        << std::min(price, next) - 0.01 << ',' << next << ",5\n";
    price = next;
  }
}

// Whether a process of this machine maps `path` (its /proc/PID/maps names it).
bool SomeProcessMaps(const std::string& path) {
  for (const auto& p : std::filesystem::directory_iterator("/proc")) {
    const std::string name = p.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream maps(p.path() / "maps");
    for (std::string line; std::getline(maps, line);) {
      if (line.find(path) != std::string::npos) return true;
    }
  }
  return false;
}

// The worker's idle runner readies the last job's data for the next (ServerMessage.prefetch): it
// maps the file's bar cache entry while it waits, so that a next job on the same file reads its
// bars even once the entry is gone, without parsing (and storing) again.
TEST_F(DatasetsTest, TheIdleRunnerReadiesTheLastJobsDataForTheNext) {
  const std::string dir = server_.dir().File("var/data");
  const std::string cache = server_.dir().File("var/data-cache");
  std::filesystem::create_directories(dir);
  WriteMinuteBars(dir + "/AHEAD_M1.csv", 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // settled (docs/jobs.md)
  const std::map<std::string, std::string> params = {
      {"strategy", "sma_cross"},   {"symbols", "AHEAD"},        {"timeframe", "M1"},
      {"data_source", "file://" + dir}, {"start_date", "2020-01-01"}, {"end_date", "2021-01-01"}};
  auto entry = [&]() -> std::optional<std::filesystem::path> {
    if (!std::filesystem::exists(cache)) return std::nullopt;
    for (const auto& e : std::filesystem::directory_iterator(cache)) {
      if (e.path().extension() == ".bars") return e.path();
    }
    return std::nullopt;
  };
  const std::string first = Run(params);
  ASSERT_TRUE(entry().has_value());
  const std::string stored = entry()->string();
  // The idle runner started after the job maps the entry.
  ASSERT_TRUE(PollUntil([&] { return SomeProcessMaps(stored); }));
  std::filesystem::remove_all(cache);
  const std::string second = Run(params);
  EXPECT_FALSE(entry().has_value()) << "the second job parsed the file again";
  backtest::v1::GetResultRequest request;
  request.set_layout(backtest::v1::RESULT_LAYOUT_PACKED);
  request.set_job_id(first);
  backtest::v1::GetResultResponse a = Result(request);
  request.set_job_id(second);
  backtest::v1::GetResultResponse b = Result(request);
  a.clear_job_id();
  b.clear_job_id();
  EXPECT_EQ(Bytes(b), Bytes(a));
}

// A large run's runner sends its result before its digest is done and the digest after it
// (ResultDigestEvent): the job's digest is still the run's, as the engine computes it whole in
// this process.
TEST_F(DatasetsTest, ADigestSentAfterItsResultIsTheRunsDigest) {
  const std::string dir = server_.dir().File("var/data");
  std::filesystem::create_directories(dir);
  WriteMinuteBars(dir + "/DATA_M1.csv", 0, 40'000);
  const std::map<std::string, std::string> params = {
      {"strategy", "sma_cross"},   {"symbols", "DATA"},         {"timeframe", "M1"},
      {"data_source", "file://" + dir}, {"start_date", "2020-01-01"}, {"end_date", "2021-01-01"}};
  const std::string id = Run(params);
  auto db = Db();
  auto run = RunAgain(*db, id);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->symbols[0].candles().size(), 40'000u);
  backtest::v1::GetResultRequest request;
  request.set_job_id(id);
  request.set_layout(backtest::v1::RESULT_LAYOUT_PACKED);
  request.add_parts("stats");
  EXPECT_EQ(Result(request).digest(), run->digest);
  SQLite::Statement q(*db, "SELECT digest FROM results WHERE job_id = ?");
  q.bind(1, id);
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getString(), run->digest);
}

TEST_F(DatasetsTest, JobsOnOneFileShareADatasetThatGoesWithTheLastOfThem) {
  const std::string dir = server_.dir().File("var/data");
  std::filesystem::create_directories(dir);
  auto write = [&](double bump) { WriteMinuteBars(dir + "/DATA_M1.csv", bump); };
  write(0);
  const std::map<std::string, std::string> params = {
      {"strategy", "sma_cross"},   {"symbols", "DATA"},         {"timeframe", "M1"},
      {"data_source", "file://" + dir}, {"start_date", "2020-01-01"}, {"end_date", "2021-01-01"}};
  const std::string first = Run(params);
  const std::string second = Run(params);
  EXPECT_EQ(Count("SELECT count(*) FROM datasets"), 1);
  EXPECT_EQ(Count("SELECT count(DISTINCT dataset_id) FROM job_datasets WHERE position = 0"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM job_datasets WHERE position < 0"), 0);  // no pins left
  auto close_at = [&](const std::string& id, int candle) {
    backtest::v1::GetResultRequest request;
    request.set_job_id(id);
    return Result(request).candles(candle).close();
  };
  const double before = close_at(first, 2600);
  EXPECT_EQ(close_at(second, 2600), before);
  write(0.5);
  const std::string changed = Run(params);
  EXPECT_EQ(Count("SELECT count(*) FROM datasets"), 2);
  EXPECT_NE(close_at(changed, 2600), before);
  EXPECT_EQ(close_at(changed, 100), close_at(first, 100));
  // Deleting jobs (as retention would): the first dataset stays while the second job refers to
  // it, and goes with it; the changed file's stays with its job.
  auto db = Db();
  db->exec("DELETE FROM jobs WHERE id = '" + first + "'");
  EXPECT_EQ(db->execAndGet("SELECT count(*) FROM datasets").getInt(), 2);
  EXPECT_EQ(close_at(second, 2600), before);
  db->exec("DELETE FROM jobs WHERE id = '" + second + "'");
  EXPECT_EQ(db->execAndGet("SELECT count(*) FROM datasets").getInt(), 1);
  EXPECT_NE(close_at(changed, 2600), before);
  db->exec("DELETE FROM jobs WHERE id = '" + changed + "'");
  EXPECT_EQ(db->execAndGet("SELECT count(*) FROM datasets").getInt(), 0);
}

// A file that has settled is parsed by the first job and read back from the bar cache by the
// next: the same result bit for bit, the same dataset, and a changed file parsed again.
TEST_F(DatasetsTest, AJobOnAFileFromTheBarCacheIsTheJobOnTheParsedFile) {
  const std::string dir = server_.dir().File("var/data");
  const std::string cache = server_.dir().File("var/data-cache");
  std::filesystem::create_directories(dir);
  auto write = [&](double bump) { WriteMinuteBars(dir + "/CACHED_M1.csv", bump); };
  auto entries = [&] {
    int n = 0;
    if (!std::filesystem::exists(cache)) return n;
    for (const auto& e : std::filesystem::directory_iterator(cache)) n += e.path().extension() == ".bars";
    return n;
  };
  write(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // settled (docs/jobs.md)
  const std::map<std::string, std::string> params = {
      {"strategy", "sma_cross"},   {"symbols", "CACHED"},       {"timeframe", "M1"},
      {"data_source", "file://" + dir}, {"start_date", "2020-01-01"}, {"end_date", "2021-01-01"}};
  auto packed = [&](const std::string& id) {
    backtest::v1::GetResultRequest request;
    request.set_job_id(id);
    request.set_layout(backtest::v1::RESULT_LAYOUT_PACKED);
    return Result(request);
  };
  const std::string parsed = Run(params);
  ASSERT_EQ(entries(), 1);
  const auto entry = std::filesystem::directory_iterator(cache)->path();
  const auto stored_at = std::filesystem::last_write_time(entry);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::string cached = Run(params);
  EXPECT_GT(std::filesystem::last_write_time(entry), stored_at);  // a hit renews the entry
  backtest::v1::GetResultResponse a = packed(parsed);
  backtest::v1::GetResultResponse b = packed(cached);
  a.clear_job_id();
  b.clear_job_id();
  EXPECT_FALSE(a.digest().empty());
  EXPECT_EQ(b.digest(), a.digest());
  EXPECT_EQ(Bytes(b), Bytes(a));
  EXPECT_EQ(Count("SELECT count(*) FROM datasets"), 1);
  // Written again: parsed, another dataset, and not stored in the cache until it settles.
  write(0.25);
  const std::string changed = Run(params);
  EXPECT_NE(packed(changed).digest(), a.digest());
  EXPECT_EQ(Count("SELECT count(*) FROM datasets"), 2);
}

}  // namespace
}  // namespace backtest
