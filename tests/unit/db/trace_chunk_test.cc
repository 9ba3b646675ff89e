#include "db/trace_chunk.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace backtest::db {
namespace {

std::vector<TraceRowRecord> Decode(const std::string& data, bool* ok) {
  std::vector<TraceRowRecord> rows;
  TraceChunkReader reader(data);
  TraceRowView row;
  while (reader.Next(&row)) rows.push_back(row.ToRecord());
  *ok = reader.ok();
  return rows;
}

TEST(TraceChunkTest, RoundTripsRowsWithAnyDeltas) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  std::vector<TraceRowRecord> rows = {
      {1, 0, 1'700'000'000, "EURUSD", "indicators", "value", R"({"atr":0.001})"},
      {2, 0, 1'700'000'000, "GBPUSD", "filters", "check", R"({"passed":false,"reason":"x"})"},
      {7, -3, -86400, "", "", "", ""},
      {kMax, kMin, kMax, std::string(300, 's'), "position", "event", std::string(70000, 'p')},
      {kMax, kMax, kMin, "A", "B", "C", std::string("\0\xff", 2)},
  };
  std::string data = EncodeTraceChunk(rows);
  TraceChunkReader reader(data);
  EXPECT_EQ(reader.size(), 5);
  bool ok = false;
  EXPECT_EQ(Decode(data, &ok), rows);
  EXPECT_TRUE(ok);
}

TEST(TraceChunkTest, EmptyChunk) {
  bool ok = false;
  EXPECT_TRUE(Decode(EncodeTraceChunk({}), &ok).empty());
  EXPECT_TRUE(ok);
}

TEST(TraceChunkTest, MalformedDataIsReportedNotOverread) {
  std::vector<TraceRowRecord> rows = {{1, 2, 3, "EURUSD", "signal", "event", R"({"a":1})"},
                                      {2, 2, 3, "EURUSD", "signal", "event", R"({"b":2})"}};
  std::string data = EncodeTraceChunk(rows);
  for (size_t cut = 0; cut < data.size(); ++cut) {
    bool ok = true;
    auto got = Decode(data.substr(0, cut), &ok);
    EXPECT_FALSE(ok) << cut;
    EXPECT_LT(got.size(), 2u) << cut;
  }
  bool ok = true;
  Decode(std::string("\x02\x01", 2), &ok);  // unknown version
  EXPECT_FALSE(ok);
  Decode(std::string("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12), &ok);
  EXPECT_FALSE(ok);
}

}  // namespace
}  // namespace backtest::db
