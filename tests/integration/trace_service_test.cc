// TraceService over gRPC against hand-built trace rows: QueryTrace filters, paging and validation;
// Explain of a bar, by time, with include, of an untraced bar, and of the whole run; and who may
// see a job's trace (its owner and staff; to anyone else it does not exist).
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "db/reason_store.h"
#include "db/trace_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/api_test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::ApiTestServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kBars = 30;
constexpr int64_t kT0 = 1'704'153'600;  // 2024-01-02T00:00:00Z; bars are M1

constexpr const char* kParams =
    R"({"symbols":"EURUSD,GBPUSD","trace_enabled":"true","trace_sampling":"1"})";

// Per bar and symbol: an indicators value, a strength check (failing on even bars) and the
// engine's verdict row.
std::vector<db::TraceRowRecord> MakeRows() {
  std::vector<db::TraceRowRecord> rows;
  int64_t seq = 1;
  for (int64_t bar = 0; bar < kBars; ++bar) {
    for (const char* symbol : {"EURUSD", "GBPUSD"}) {
      const int64_t ts = kT0 + 60 * bar;
      const bool fail = bar % 2 == 0;
      rows.push_back({seq++, bar, ts, symbol, "indicators", "value",
                      absl::StrCat(R"({"close":1.1,"atr":0.001,"bar":)", bar, "}")});
      rows.push_back({seq++, bar, ts, symbol, "filters", "check",
                      fail ? R"({"check":"strength","passed":false,"reason":"breakout strength 0.05 ATR < 0.20 ATR required","strength_atr":0.05})"
                           : R"({"check":"strength","passed":true,"reason":"ok"})"});
      rows.push_back(
          {seq++, bar, ts, symbol, "position", "value",
           fail ? R"({"verdict":"no entry: breakout strength 0.05 ATR < 0.20 ATR required","code":"filter_strength"})"
                : R"({"verdict":"no entry: no breakout","code":"no_breakout"})"});
    }
  }
  return rows;
}

class TraceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ann_ = server_.AddUser("ann");
    bob_ = server_.AddUser("bob");
    boss_ = server_.AddUser("boss", /*staff=*/true);
    job_ = server_.AddJob(ann_.id, "finished", kParams, kBars);
    traces_ = *db::TraceStore::Create(&server_.db());
    ASSERT_TRUE(traces_->AppendRows(job_, MakeRows()).ok());
    ASSERT_TRUE(traces_->SaveSummary(job_, {.enabled = true, .sampling = 1,
                                           .row_count = kBars * 6}).ok());
    auto reasons = *db::ReasonStore::Create(&server_.db());
    std::vector<db::ReasonRecord> counts = {
        {"filter_strength", 30, {{"EURUSD", 0, kT0}, {"EURUSD", 2, kT0 + 120}}, "too weak"},
        {"entry_filled", 0, {}, ""}};
    counts.pop_back();
    ASSERT_TRUE(reasons->Save(job_, counts).ok());
  }

  grpc::Status Query(const testing::TestUser& user, backtest::v1::QueryTraceRequest request,
                     backtest::v1::QueryTraceResponse* response) {
    if (request.job_id().empty()) request.set_job_id(job_);
    return server_.traces().QueryTrace(ApiTestServer::Context(user.token).get(), request,
                                       response);
  }
  backtest::v1::QueryTraceResponse QueryOk(backtest::v1::QueryTraceRequest request) {
    backtest::v1::QueryTraceResponse response;
    grpc::Status status = Query(ann_, std::move(request), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  grpc::Status Explain(const testing::TestUser& user, backtest::v1::ExplainRequest request,
                       backtest::v1::ExplainResponse* response) {
    if (request.job_id().empty()) request.set_job_id(job_);
    return server_.traces().Explain(ApiTestServer::Context(user.token).get(), request, response);
  }
  backtest::v1::ExplainResponse ExplainOk(backtest::v1::ExplainRequest request) {
    backtest::v1::ExplainResponse response;
    grpc::Status status = Explain(ann_, std::move(request), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  ApiTestServer server_;
  testing::TestUser ann_, bob_, boss_;
  std::string job_;
  std::unique_ptr<db::TraceStore> traces_;
};

backtest::v1::QueryTraceRequest Q() { return {}; }

TEST_F(TraceServiceTest, FiltersAndCount) {
  auto r = Q();
  r.set_bar_index(3);
  auto page = QueryOk(r);
  EXPECT_EQ(page.count(), 6);
  ASSERT_EQ(page.items_size(), 6);
  for (int i = 1; i < page.items_size(); ++i) EXPECT_LT(page.items(i - 1).seq(), page.items(i).seq());
  EXPECT_EQ(page.items(0).payload().fields().at("bar").number_value(), 3);

  r.set_symbol("gbpusd");  // symbols are upper-cased like the registry does
  page = QueryOk(r);
  EXPECT_EQ(page.count(), 3);
  for (const auto& item : page.items()) EXPECT_EQ(item.symbol(), "GBPUSD");

  r.set_section("filters");
  page = QueryOk(r);
  ASSERT_EQ(page.count(), 1);
  EXPECT_EQ(page.items(0).kind(), "check");

  auto by_kind = Q();
  by_kind.set_kind("check");
  EXPECT_EQ(QueryOk(by_kind).count(), kBars * 2);

  auto by_section = Q();
  by_section.set_section("position");
  EXPECT_EQ(QueryOk(by_section).count(), kBars * 2);

  for (std::string ts : {absl::StrCat(kT0 + 60 * 4), std::string("2024-01-02T00:04:00Z"),
                         std::string("2024-01-02 00:04"), std::string("2024-01-02T01:04:00+01:00")}) {
    auto by_ts = Q();
    by_ts.set_ts(ts);
    auto got = QueryOk(by_ts);
    EXPECT_EQ(got.count(), 6) << ts;
    if (got.items_size() > 0) {
      EXPECT_EQ(got.items(0).bar_index(), 4) << ts;
    }
  }
}

TEST_F(TraceServiceTest, PagingDefaultsAndBounds) {
  auto page = QueryOk(Q());
  EXPECT_EQ(page.count(), kBars * 6);
  EXPECT_EQ(page.items_size(), 100);  // default limit
  auto r = Q();
  r.set_limit(7);
  r.set_offset(175);
  page = QueryOk(r);
  EXPECT_EQ(page.count(), kBars * 6);
  ASSERT_EQ(page.items_size(), 5);
  EXPECT_EQ(page.items(0).seq(), 176);
  r.set_limit(1000);
  r.set_offset(0);
  EXPECT_EQ(QueryOk(r).items_size(), kBars * 6);
}

TEST_F(TraceServiceTest, BadQueryValuesNameTheField) {
  struct Case {
    std::function<void(backtest::v1::QueryTraceRequest*)> set;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](auto* r) { r->set_limit(1001); }, "limit: must be 1 to 1000"},
      {[](auto* r) { r->set_limit(-1); }, "limit:"},
      {[](auto* r) { r->set_offset(-1); }, "offset: must be >= 0"},
      {[](auto* r) { r->set_bar_index(-1); }, "bar_index: must be >= 0"},
      {[](auto* r) { r->set_ts("yesterday"); }, "ts: must be epoch seconds or an ISO 8601"},
      {[](auto* r) { r->set_section("bogus"); }, "section: must be one of indicators"},
      {[](auto* r) { r->set_kind("bogus"); }, "kind: must be one of value, check, event"},
      {[](auto* r) { r->set_symbol("EUR/USD"); }, "symbol:"},
  };
  for (const Case& c : cases) {
    auto r = Q();
    c.set(&r);
    backtest::v1::QueryTraceResponse response;
    grpc::Status status = Query(ann_, r, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));
  }
}

TEST_F(TraceServiceTest, OnlyTheOwnerAndStaffSeeAJob) {
  auto r = Q();
  r.set_bar_index(1);
  backtest::v1::QueryTraceResponse page;
  EXPECT_EQ(Query(bob_, r, &page).error_code(), grpc::StatusCode::NOT_FOUND);
  backtest::v1::ExplainResponse explained;
  backtest::v1::ExplainRequest e;
  e.set_bar_index(1);
  EXPECT_EQ(Explain(bob_, e, &explained).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Explain(bob_, {}, &explained).error_code(), grpc::StatusCode::NOT_FOUND);

  ASSERT_TRUE(Query(boss_, r, &page).ok());
  EXPECT_EQ(page.count(), 6);
  ASSERT_TRUE(Explain(boss_, e, &explained).ok());

  // Malformed and unknown ids look the same as foreign ones.
  for (std::string id : {std::string("../../etc/passwd"), std::string(32, 'f'),
                         std::string(32, 'A'), std::string("x")}) {
    auto bad = Q();
    bad.set_job_id(id);
    grpc::Status status = Query(ann_, bad, &page);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << id;
    backtest::v1::ExplainRequest be;
    be.set_job_id(id);
    EXPECT_EQ(Explain(ann_, be, &explained).error_code(), grpc::StatusCode::NOT_FOUND) << id;
  }
}

TEST_F(TraceServiceTest, ExplainABar) {
  backtest::v1::ExplainRequest r;
  r.set_bar_index(4);
  auto got = ExplainOk(r);
  EXPECT_EQ(got.summary(), "no entry: breakout strength 0.05 ATR < 0.20 ATR required");
  EXPECT_TRUE(got.traced());
  EXPECT_EQ(got.bar_index(), 4);
  EXPECT_EQ(got.ts(), kT0 + 240);
  EXPECT_EQ(got.symbol(), "EURUSD");  // the run's first symbol
  EXPECT_EQ(got.values().fields().at("strength").struct_value().fields().at("strength_atr")
                .number_value(),
            0.05);
  std::vector<std::string> sections;
  for (const auto& s : got.sections()) sections.push_back(s.section());
  EXPECT_THAT(sections, ElementsAre("indicators", "filters", "position"));

  r.set_include("filters");
  r.set_symbol("gbpusd");
  got = ExplainOk(r);
  EXPECT_EQ(got.symbol(), "GBPUSD");
  ASSERT_EQ(got.sections_size(), 1);
  EXPECT_EQ(got.sections(0).section(), "filters");
  EXPECT_EQ(got.sections(0).items(0).symbol(), "GBPUSD");

  backtest::v1::ExplainRequest by_ts;
  by_ts.set_ts("2024-01-02T00:05:00Z");
  got = ExplainOk(by_ts);
  EXPECT_EQ(got.bar_index(), 5);
  EXPECT_EQ(got.summary(), "no entry: no breakout");
}

TEST_F(TraceServiceTest, BadExplainValuesNameTheField) {
  struct Case {
    std::function<void(backtest::v1::ExplainRequest*)> set;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](auto* r) { r->set_bar_index(1); r->set_ts("1704153600"); }, "bar_index, ts:"},
      {[](auto* r) { r->set_bar_index(-2); }, "bar_index: must be >= 0"},
      {[](auto* r) { r->set_ts("soon"); }, "ts:"},
      {[](auto* r) { r->set_bar_index(1); r->set_include("filters,bogus"); }, "include:"},
      {[](auto* r) { r->set_bar_index(1); r->set_symbol("USDJPY"); },
       "symbol: USDJPY is not a symbol of this run (EURUSD, GBPUSD)"},
  };
  for (const Case& c : cases) {
    backtest::v1::ExplainRequest r;
    c.set(&r);
    backtest::v1::ExplainResponse response;
    grpc::Status status = Explain(ann_, r, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));
  }
}

TEST_F(TraceServiceTest, UntracedBarsSaySoPlainly) {
  backtest::v1::ExplainRequest r;
  r.set_bar_index(500);
  backtest::v1::ExplainResponse past_end;
  grpc::Status status = Explain(ann_, r, &past_end);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(status.error_message(), "bar_index: 500 is not in this run: it has 30 bars (0 to 29)");

  std::string off = server_.AddJob(ann_.id, "finished",
                                   R"({"symbols":"EURUSD","trace_enabled":"false"})", 100);
  r.set_job_id(off);
  r.set_bar_index(5);
  auto got = ExplainOk(r);
  EXPECT_FALSE(got.traced());
  EXPECT_EQ(got.bar_index(), 5);
  EXPECT_EQ(got.summary(),
            "bar 5 was not traced: tracing was off for this run (run it with trace_enabled=true)");

  std::string sampled = server_.AddJob(
      ann_.id, "finished", R"({"symbols":"EURUSD","trace_enabled":"true","trace_sampling":"10"})",
      100);
  ASSERT_TRUE(traces_->AppendRows(sampled, {{{1, 0, kT0, "EURUSD", "indicators", "value", "{}"},
                                             {2, 10, kT0, "EURUSD", "indicators", "value", "{}"}}})
                  .ok());
  r.set_job_id(sampled);
  got = ExplainOk(r);
  EXPECT_EQ(got.summary(),
            "bar 5 was not traced: sampling 10 skipped it (values and checks are traced on every "
            "10th bar, events on every bar)");

  std::string cut = server_.AddJob(ann_.id, "finished", kParams, 100);
  ASSERT_TRUE(traces_->AppendRows(cut, {{{1, 0, kT0, "EURUSD", "indicators", "value", "{}"},
                                         {2, 1, kT0, "EURUSD", "indicators", "value", "{}"}}})
                  .ok());
  ASSERT_TRUE(traces_->SaveSummary(cut, {.enabled = true, .row_count = 2, .truncated = true}).ok());
  r.set_job_id(cut);
  got = ExplainOk(r);
  EXPECT_EQ(got.summary(), "bar 5 was not traced: the trace was cut at 2 rows (BOTS_TRACE_MAX_ROWS)");
}

TEST_F(TraceServiceTest, ExplainTheWholeRun) {
  auto got = ExplainOk({});
  EXPECT_FALSE(got.has_bar_index());
  EXPECT_EQ(got.summary(), "whole run: 0 entries; most frequent: filter_strength 30");
  ASSERT_EQ(got.reasons_size(), 1);
  EXPECT_EQ(got.reasons(0).reason(), "filter_strength");
  EXPECT_EQ(got.reasons(0).count(), 30);
  EXPECT_THAT(got.reasons(0).sample_bars(), ElementsAre(0, 2));
  EXPECT_EQ(got.reasons(0).description(), "too weak");

  std::string queued = server_.AddJob(ann_.id, "queued", kParams);
  backtest::v1::ExplainRequest r;
  r.set_job_id(queued);
  got = ExplainOk(r);
  EXPECT_EQ(got.summary(), "the job is queued: reason counts are stored with its result");
}

}  // namespace
}  // namespace backtest
