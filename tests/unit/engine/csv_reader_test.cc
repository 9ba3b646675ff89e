#include "server/engine/data/csv_reader.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/number_parse.h"

namespace backtest::engine {
namespace {

using ::testing::HasSubstr;

// m's digits, left-padded with zeros to `width`, a decimal point before the last `decimals`.
std::string Digits(uint64_t m, int width, int decimals) {
  std::string digits = std::to_string(m);
  if (static_cast<int>(digits.size()) < width) {
    digits = absl::StrCat(std::string(static_cast<size_t>(width) - digits.size(), '0'), digits);
  }
  if (decimals == 0) return digits;
  const size_t point = digits.size() - static_cast<size_t>(decimals);
  return absl::StrCat(digits.substr(0, point), ".", digits.substr(point));
}

constexpr uint64_t kPow10Digits[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                     100000000, 1000000000, 10000000000, 100000000000,
                                     1000000000000, 10000000000000};

TEST(NumberParseTest, FastPathAndFallbackAreExact) {
  for (const char* text : {"1.1", "0.1", "1234.56789", "-0.0001", "99999.99999", "1e-5",
                           "123456789012345678.5", "0.30000000000000004", "+3.25", "7"}) {
    double fast = 0;
    ASSERT_TRUE(ParseDouble(text, text + std::strlen(text), &fast)) << text;
    EXPECT_EQ(fast, std::strtod(text, nullptr)) << text;
  }
  double v;
  for (const char* bad : {"", "-", "1.2.3", "abc", "1,5", "1e"}) {
    EXPECT_FALSE(ParseDouble(bad, bad + std::strlen(bad), &v)) << bad;
  }
}

TEST(CivilTimeTest, ParsesEpochAndIso) {
  EXPECT_EQ(*ParseCsvTime("1600000000"), 1600000000);
  EXPECT_EQ(*ParseCsvTime("1600000000000"), 1600000000);  // milliseconds
  EXPECT_EQ(*ParseCsvTime("2020-09-13"), 1599955200);
  EXPECT_EQ(*ParseCsvTime("2020-09-13T12:26:40Z"), 1600000000);
  EXPECT_EQ(*ParseCsvTime("2020-09-13 12:26:40"), 1600000000);
  EXPECT_EQ(*ParseCsvTime("2020-09-13 12:26"), 1600000000 - 40);
  EXPECT_EQ(*ParseCsvTime("2020-09-13T14:26:40+02:00"), 1600000000);
  EXPECT_EQ(*ParseCsvTime("2020-09-13T12:26:40.500Z"), 1600000000);
  EXPECT_FALSE(ParseCsvTime("2020-13-01").has_value());
  EXPECT_FALSE(ParseCsvTime("yesterday").has_value());
  // Only real dates and offsets (found by the time_parse fuzz target).
  EXPECT_EQ(*ParseCsvTime("2020-02-29"), 1582934400);
  EXPECT_FALSE(ParseCsvTime("2021-02-29").has_value());
  EXPECT_FALSE(ParseCsvTime("2016-11-31T23:59:60Z").has_value());
  EXPECT_FALSE(ParseCsvTime("1900-02-29").has_value());
  EXPECT_EQ(*ParseCsvTime("2020-09-13T12:26:40-23:59"), 1600000000 + 86340);
  EXPECT_FALSE(ParseCsvTime("2020-09-13T12:26:40+24:00").has_value());
  EXPECT_FALSE(ParseCsvTime("2020-09-13T12:26:40+0160").has_value());
  EXPECT_EQ(IsoTime(1600000000), "2020-09-13T12:26:40Z");
  EXPECT_EQ(IsoTime(-86400), "1969-12-31T00:00:00Z");
}

TEST(CsvReaderTest, ReadsHeaderlessEpochRows) {
  auto bars = ParseCsv("1600000000,1.0,1.5,0.5,1.2\n1600003600,1.2,1.3,1.1,1.25\n", "x.csv");
  ASSERT_TRUE(bars.ok()) << bars.status();
  ASSERT_EQ(bars->size(), 2u);
  EXPECT_EQ(bars->time[1], 1600003600);
  EXPECT_EQ(bars->close[1], 1.25);
  EXPECT_EQ(bars->volume[0], 0);
}

TEST(CsvReaderTest, ReadsHeaderInAnyOrderWithVolumeAndCrlf) {
  auto bars = ParseCsv(
      "\xEF\xBB\xBF" "Date,Close,Open,Low,High,Volume,Extra\r\n"
      "2020-09-13 12:00,1.2,1.0,0.5,1.5,100,x\r\n"
      "\r\n"
      "2020-09-13T13:00:00Z,1.25,1.2,1.1,1.3,50,y\r\n",
      "h.csv");
  ASSERT_TRUE(bars.ok()) << bars.status();
  ASSERT_EQ(bars->size(), 2u);
  EXPECT_EQ(bars->open[0], 1.0);
  EXPECT_EQ(bars->high[0], 1.5);
  EXPECT_EQ(bars->volume[1], 50);
  EXPECT_EQ(bars->time[1] - bars->time[0], 3600);
}

TEST(CsvReaderTest, RejectsMalformedRowsNamingFileAndLine) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"1,1,2,0.5,1\n2,1,2,0.5,x\n", "bad.csv:2: bad number \"x\" in column close"},
      {"1,1,2,0.5,1\n2,1,0.5,2,1\n", "bad.csv:2: high 0.5 < low 2"},
      {"1,3,2,0.5,1\n", "bad.csv:1: open 3 outside [low 0.5, high 2]"},
      {"1,1,2,0.5,2.5\n", "bad.csv:1: close 2.5 outside"},
      {"5,1,2,0.5,1\n5,1,2,0.5,1\n", "bad.csv:2: time 1970-01-01T00:00:05Z is not after"},
      {"1,1,2,0.5,1\n2,1,2,0.5,nan\n", "bad.csv:2: NaN or infinite value in column close"},
      {"1,1,2,0.5,1\n2,inf,2,0.5,1\n", "bad.csv:2: NaN or infinite value in column open"},
      {"1,1,2,0.5,1\n2,1,2,0.5\n", "bad.csv:2: expected 5 columns, got 4"},
      {"1,1,2\n", "bad.csv:1: expected 5 or 6 columns"},
      {"time,open,high,close\n1,1,2,1\n", "bad.csv:1: header has no low column"},
      {"1,1,2,0.5,1,-3\n", "bad.csv:1: negative volume"},
      {"x1,1,2,0.5,1\n", "header has no time column"},
  };
  for (const Case& c : cases) {
    auto bars = ParseCsv(c.text, "bad.csv");
    ASSERT_FALSE(bars.ok()) << c.text;
    EXPECT_EQ(bars.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bars.status().message(), HasSubstr(c.message)) << c.text;
  }
}

// A text of rows 1..n (line k holds time 1000 + k), ~2.5 MB for n = 60,000: parsed in two halves
// on two threads. `mutate` may rewrite one line's text.
std::string BigCsv(int n, bool header, int bad_line = 0, const std::string& bad_text = "") {
  std::string text = header ? "time,open,high,low,close,volume\n" : "";
  const int first = header ? 2 : 1;
  for (int line = first; line < first + n; ++line) {
    std::string row = std::to_string(1000 + line) + ",1.2345" + std::to_string(line % 10) +
                      ",1.2400,1.2300,1.23" + std::to_string(line % 100 / 10) + "0," +
                      std::to_string(line % 7) + (line % 3 == 0 ? "\r\n" : "\n");
    text += line == bad_line ? bad_text + "\n" : row;
  }
  return text;
}

TEST(CsvReaderTest, LargeTextsParseInTwoHalvesExactlyAsOne) {
  for (bool header : {false, true}) {
    const std::string text = BigCsv(60'000, header);
    ASSERT_GT(text.size(), size_t{2} << 20);
    auto bars = ParseCsv(text, "big.csv");
    ASSERT_TRUE(bars.ok()) << bars.status();
    ASSERT_EQ(bars->size(), 60'000u);
    const int first = header ? 2 : 1;
    for (int i = 0; i < 60'000; ++i) {
      const int line = first + i;
      ASSERT_EQ(bars->time[i], 1000 + line) << i;
      ASSERT_EQ(bars->open[i], std::stod("1.2345" + std::to_string(line % 10))) << i;
      ASSERT_EQ(bars->close[i], std::stod("1.23" + std::to_string(line % 100 / 10) + "0")) << i;
      ASSERT_EQ(bars->volume[i], line % 7) << i;
    }
  }
}

// The second half's room is estimated from the first half's line length: a second half of much
// shorter lines runs out of it and is parsed again, whole.
TEST(CsvReaderTest, ASecondHalfOfShorterLinesIsReadWhole) {
  std::string text;
  int64_t t = 1000;
  while (text.size() < (size_t{3} << 19)) {  // 1.5 MB of 75-byte lines
    text += absl::StrCat(++t, ",1.23456789012,1.23456789012,1.23456789012,1.23456789012,123456\n");
  }
  const int64_t long_rows = t - 1000;
  while (text.size() < (size_t{3} << 20)) text += absl::StrCat(++t, ",1,1,1,1,1\n");  // 15 bytes
  auto bars = ParseCsv(text, "mixed.csv");
  ASSERT_TRUE(bars.ok()) << bars.status();
  ASSERT_EQ(bars->size(), static_cast<size_t>(t - 1000));
  for (size_t i = 0; i < bars->size(); ++i) {
    ASSERT_EQ(bars->time[i], 1001 + static_cast<int64_t>(i)) << i;
    ASSERT_EQ(bars->close[i], static_cast<int64_t>(i) < long_rows ? 1.23456789012 : 1.0) << i;
  }
}

TEST(CsvReaderTest, LargeTextsNameTheLineOfTheFirstErrorWhereverTheSplitFalls) {
  const std::string good = BigCsv(60'000, false);
  // The line at the middle of the text, where the second half starts.
  const int middle = static_cast<int>(
      std::count(good.begin(), good.begin() + static_cast<long>(good.size() / 2), '\n')) + 1;
  for (int line = middle - 3; line <= middle + 3; ++line) {
    // A time that is not after the previous row's (the check across the two halves).
    std::string text = BigCsv(60'000, false, line,
                              std::to_string(1000 + line - 1) + ",1.2,1.3,1.1,1.2,1");
    EXPECT_THAT(ParseCsv(text, "big.csv").status().message(),
                HasSubstr("big.csv:" + std::to_string(line) + ": time"))
        << line;
    // A bad number.
    text = BigCsv(60'000, false, line, std::to_string(1000 + line) + ",1.2,x,1.1,1.2,1");
    EXPECT_THAT(ParseCsv(text, "big.csv").status().message(),
                HasSubstr("big.csv:" + std::to_string(line) + ": bad number"))
        << line;
  }
  // Errors in both halves: the first one is reported.
  std::string text = BigCsv(60'000, false, 50'000, "50,1,1,1,1,1");
  text.replace(text.find("\n1100,") + 1, 4, "1100,x");
  EXPECT_THAT(ParseCsv(text, "big.csv").status().message(), HasSubstr("big.csv:100: "));
}

// Every digit count, decimal point position, leading zero, sign and line end the fast paths meet:
// what they read is bit for bit what the general path reads (which the leading space forces).
TEST(CsvReaderTest, FastPathsReadWhatTheGeneralPathReads) {
  std::mt19937_64 rng(20261203);
  auto number = [&](uint64_t m, int decimals, int leading_zeros) {
    const int width = std::max(static_cast<int>(std::to_string(m).size()), decimals + 1);
    std::string digits = Digits(m, width + leading_zeros, decimals);
    if (digits.rfind("0.", 0) == 0 && rng() % 2 == 0) digits.erase(0, 1);  // ".5"
    return digits;
  };
  for (bool volume : {true, false}) {
    std::string text;
    std::string general;
    int64_t t = 1'600'000'000 + static_cast<int64_t>(rng() % 1000);
    for (int row = 0; row < 20'000; ++row) {
      const int decimals = static_cast<int>(rng() % 10);
      const int digits = 1 + static_cast<int>(rng() % 13);
      uint64_t v[4];
      for (uint64_t& x : v) x = rng() % kPow10Digits[digits];
      std::sort(v, v + 4);  // low, open, close, high
      const bool negative = rng() % 16 == 0;  // all four below zero: the order flips
      auto field = [&](uint64_t m) {
        return absl::StrCat(negative ? "-" : "", number(m, decimals, rng() % 6 == 0 ? 1 : 0));
      };
      std::string line = absl::StrCat(t, ",", field(v[negative ? 2 : 1]), ",",
                                      field(v[negative ? 0 : 3]), ",", field(v[negative ? 3 : 0]),
                                      ",", field(v[negative ? 1 : 2]));
      if (volume) {
        absl::StrAppend(&line, ",", number(rng() % 100'000'000, static_cast<int>(rng() % 4), 0));
      }
      line += rng() % 5 == 0 ? "\r\n" : "\n";
      text += line;
      general += ' ';
      general += line;
      t += 1 + static_cast<int64_t>(rng() % 100'000);
    }
    auto fast = ParseCsv(text, "f.csv");
    auto slow = ParseCsv(general, "f.csv");
    ASSERT_TRUE(fast.ok()) << fast.status();
    ASSERT_TRUE(slow.ok()) << slow.status();
    ASSERT_EQ(fast->size(), 20'000u);
    ASSERT_EQ(slow->size(), 20'000u);
    for (size_t i = 0; i < fast->size(); ++i) {
      ASSERT_EQ(fast->time[i], slow->time[i]) << i;
      ASSERT_EQ(fast->open[i], slow->open[i]) << i;
      ASSERT_EQ(fast->high[i], slow->high[i]) << i;
      ASSERT_EQ(fast->low[i], slow->low[i]) << i;
      ASSERT_EQ(fast->close[i], slow->close[i]) << i;
      ASSERT_EQ(fast->volume[i], slow->volume[i]) << i;
    }
  }
}

// Rows in runs of one layout (as files are: prices keep their widths), which the vector path reads
// by the previous row's layout, and in each text one byte changed: the fast paths and the
// general path agree on the series or on the error.
TEST(CsvReaderTest, RowsOfOneLayoutAndAChangedByteReadAsTheGeneralPathReadsThem) {
  std::mt19937_64 rng(20261204);
  auto fixed = [](uint64_t m, int decimals, int width) { return Digits(m, width, decimals); };
  const std::string alphabet = "0123456789.,-x \r\n";
  for (int text_no = 0; text_no < 60; ++text_no) {
    std::string text = text_no % 2 ? "time,open,high,low,close,volume\n" : "";
    int64_t t = 1'600'000'000;
    int decimals = 0, width = 1, left = 0;
    for (int row = 0; row < 1'500; ++row) {
      if (left-- == 0) {  // a new layout for the next run of rows
        width = 1 + static_cast<int>(rng() % 8);
        decimals = static_cast<int>(rng() % static_cast<uint64_t>(width));
        left = static_cast<int>(rng() % 100);
      }
      uint64_t v[4];
      for (uint64_t& x : v) x = rng() % kPow10Digits[width];
      std::sort(v, v + 4);
      text += std::to_string(t) + "," + fixed(v[1], decimals, width) + "," +
              fixed(v[3], decimals, width) + "," + fixed(v[0], decimals, width) + "," +
              fixed(v[2], decimals, width) + "," + std::to_string(rng() % 100'000) +
              (rng() % 7 == 0 ? "\r\n" : "\n");
      t += 60;
    }
    std::string general;
    for (size_t start = 0; start < text.size();) {
      const size_t nl = text.find('\n', start);
      general += ' ';
      general.append(text, start, nl + 1 - start);
      start = nl + 1;
    }
    auto same = [](const absl::StatusOr<BarSeries>& a, const absl::StatusOr<BarSeries>& b) {
      if (a.ok() != b.ok()) return false;
      if (!a.ok()) return a.status() == b.status();
      return a->time == b->time && a->open == b->open && a->high == b->high &&
             a->low == b->low && a->close == b->close && a->volume == b->volume;
    };
    auto fast = ParseCsv(text, "r.csv");
    ASSERT_TRUE(fast.ok()) << fast.status();
    ASSERT_TRUE(same(fast, ParseCsv(general, "r.csv"))) << text_no;
    // One byte changed (not in the header, not a line feed, so the general text still lines up).
    size_t at = 0;
    do {
      at = rng() % text.size();
    } while (text[at] == '\n' || at < 40);
    const char was = text[at];
    text[at] = alphabet[rng() % (alphabet.size() - 1)];
    const size_t line_start = text.rfind('\n', at) + 1;
    const size_t lines_before = static_cast<size_t>(
        std::count(text.begin(), text.begin() + static_cast<long>(line_start), '\n'));
    // The same change in the general text: one more byte (the space) per line before it, + 1.
    std::string changed_general = general;
    changed_general[at + lines_before + 1] = text[at];
    auto fast_changed = ParseCsv(text, "r.csv");
    auto general_changed = ParseCsv(changed_general, "r.csv");
    EXPECT_TRUE(same(fast_changed, general_changed))
        << "text " << text_no << ": byte " << at << " '" << was << "' -> '" << text[at]
        << "': fast " << (fast_changed.ok() ? "ok" : fast_changed.status().ToString())
        << "; general " << (general_changed.ok() ? "ok" : general_changed.status().ToString());
  }
}

TEST(CsvReaderTest, ReadFileNotFoundAndFromDisk) {
  EXPECT_EQ(ReadCsvFile("/nonexistent/x.csv").status().code(), absl::StatusCode::kNotFound);
  auto dir = std::filesystem::temp_directory_path() / "csv_reader_test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "a.csv").string();
  std::ofstream(path) << "time,open,high,low,close\n1600000000,1,2,0.5,1.5\n";
  auto bars = ReadCsvFile(path);
  ASSERT_TRUE(bars.ok()) << bars.status();
  EXPECT_EQ(bars->size(), 1u);
  std::ofstream(path) << "time,open,high,low,close\n1600000000,1,2,0.5,1.5\nzzz\n";
  bars = ReadCsvFile(path);
  EXPECT_THAT(bars.status().message(), HasSubstr("a.csv:3:"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace backtest::engine
