// IsoTimeWriter keeps the text of the last date it wrote: whatever order the times come in, it
// writes what a fresh IsoTime writes.
#include "server/engine/data/civil_time.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace backtest::engine {
namespace {

TEST(IsoTimeTest, WritesUtcTimesAndSecondsOutsideFourDigitYears) {
  EXPECT_EQ(IsoTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(IsoTime(1'577'836'800 + 31 * 60), "2020-01-01T00:31:00Z");
  EXPECT_EQ(IsoTime(951'868'799), "2000-02-29T23:59:59Z");
  EXPECT_EQ(IsoTime(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(IsoTime(-62'167'219'200), "0000-01-01T00:00:00Z");
  EXPECT_EQ(IsoTime(-62'167'219'201), "-62167219201");
  EXPECT_EQ(IsoTime(253'402'300'799), "9999-12-31T23:59:59Z");
  EXPECT_EQ(IsoTime(253'402'300'800), "253402300800");
}

TEST(IsoTimeTest, AWriterThatKeepsItsDateWritesWhatAFreshOneWrites) {
  std::vector<int64_t> times;
  for (int64_t t = 1'577'836'800 - 3 * 86400; t < 1'577'836'800 + 5 * 86400; t += 3547) {
    times.push_back(t);
  }
  // Backwards, across the epoch, out of range and back, the same second twice.
  for (int64_t t : {int64_t{1'600'000'000}, int64_t{1'500'000'000}, int64_t{-86'401},
                    int64_t{-86'400}, int64_t{-1}, int64_t{0}, int64_t{253'402'300'800},
                    int64_t{253'402'300'799}, int64_t{-62'167'219'201}, int64_t{-62'167'219'200},
                    int64_t{1'600'000'000}, int64_t{1'600'000'000}}) {
    times.push_back(t);
  }
  IsoTimeWriter writer;
  std::string line = "prefix ";
  for (int64_t t : times) {
    line.resize(7);
    writer.Append(&line, t);
    EXPECT_EQ(line, "prefix " + IsoTime(t)) << t;
  }
}

}  // namespace
}  // namespace backtest::engine
