// Fuzz target: the CSV reader (ParseCsv on text, ReadCsvFile on the same bytes in a file).
//
// Invariants checked on every input:
// - an accepted series is well formed: columns of one length, times strictly increasing, prices
//   finite with low <= open, close <= high, volume finite and >= 0;
// - the fast row path and the general path agree: the same text with a space at the start of
//   every line (which only the general path reads) gives the same series or the same error;
// - the file variant gives what the in-memory parse gives;
// - an accepted series written back as CSV (epoch or ISO times, 17 significant digits) reads
//   back bit for bit.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/engine/data/bar_series.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/csv_reader.h"
#include "tests/fuzz/fuzz_check.h"

namespace backtest::engine {
namespace {

using fuzz::Shown;

std::string g_path;  // this process's scratch file (in memory)
int g_fd = -1;

template <typename T>
bool SameBits(const Column<T>& a, const Column<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

bool SameSeries(const BarSeries& a, const BarSeries& b) {
  return SameBits(a.time, b.time) && SameBits(a.open, b.open) && SameBits(a.high, b.high) &&
         SameBits(a.low, b.low) && SameBits(a.close, b.close) && SameBits(a.volume, b.volume);
}

bool SameResult(const absl::StatusOr<BarSeries>& a, const absl::StatusOr<BarSeries>& b) {
  if (a.ok() != b.ok()) return false;
  if (!a.ok()) return a.status() == b.status();
  return SameSeries(*a, *b);
}

std::string Describe(const absl::StatusOr<BarSeries>& r) {
  if (!r.ok()) return r.status().ToString();
  return absl::StrCat("ok, ", r->size(), " bars");
}

void CheckWellFormed(const BarSeries& s, absl::string_view text) {
  const size_t n = s.time.size();
  FUZZ_CHECK(s.open.size() == n && s.high.size() == n && s.low.size() == n &&
                 s.close.size() == n && s.volume.size() == n,
             Shown(text));
  for (size_t i = 0; i < n; ++i) {
    const std::string where = absl::StrCat("bar ", i, " of ", Shown(text));
    FUZZ_CHECK(i == 0 || s.time[i] > s.time[i - 1], where);
    FUZZ_CHECK(std::isfinite(s.open[i]) && std::isfinite(s.high[i]) && std::isfinite(s.low[i]) &&
                   std::isfinite(s.close[i]) && std::isfinite(s.volume[i]),
               where);
    FUZZ_CHECK(s.low[i] <= s.high[i], where);
    FUZZ_CHECK(s.low[i] <= s.open[i] && s.open[i] <= s.high[i], where);
    FUZZ_CHECK(s.low[i] <= s.close[i] && s.close[i] <= s.high[i], where);
    FUZZ_CHECK(s.volume[i] >= 0, where);
  }
}

// The text with one space before every line: the general path trims it, the fast path refuses
// a row that does not start with a digit. A leading byte-order mark stays first.
std::string ForceGeneralPath(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8 + 4);
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    out.append(text.data(), 3);
    text.remove_prefix(3);
  }
  out += ' ';
  for (char c : text) {
    out += c;
    if (c == '\n') out += ' ';
  }
  return out;
}

// The series as CSV again, or "" when a time cannot be written so that it reads back (epoch
// values of 1e11 and more are read as milliseconds, and ISO covers years 0 to 9999 only).
std::string WriteCsv(const BarSeries& s) {
  std::string out = "time,open,high,low,close,volume\n";
  char buf[40];
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t t = s.time[i];
    if (t > -100'000'000'000LL && t < 100'000'000'000LL) {
      absl::StrAppend(&out, t);
    } else {
      std::string iso = IsoTime(t);
      if (iso.size() != 20) return "";
      out += iso;
    }
    for (double v : {s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i]}) {
      std::snprintf(buf, sizeof buf, ",%.17g", v);
      out += buf;
    }
    out += '\n';
  }
  return out;
}

absl::StatusOr<BarSeries> ParseViaFile(absl::string_view text) {
  FUZZ_CHECK(::ftruncate(g_fd, 0) == 0, "ftruncate");
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pwrite(g_fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    FUZZ_CHECK(n > 0, "pwrite");
    done += static_cast<size_t>(n);
  }
  return ReadCsvFile(g_path);
}

}  // namespace
}  // namespace backtest::engine

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace backtest::engine;
  // An in-memory file (no disk I/O per input), opened by ReadCsvFile through its /proc path.
  g_fd = ::memfd_create("csv_reader_fuzz", 0);
  if (g_fd < 0) {
    std::perror("memfd_create");
    std::abort();
  }
  g_path = absl::StrCat("/proc/self/fd/", g_fd);
  auto missing = ReadCsvFile(g_path + "-missing");
  FUZZ_CHECK(missing.status().code() == absl::StatusCode::kNotFound, missing.status().ToString());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace backtest::engine;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);

  // Errors name the source; the file variant's name is the path, so use it for all three.
  const absl::StatusOr<BarSeries> parsed = ParseCsv(text, g_path);
  if (parsed.ok()) CheckWellFormed(*parsed, text);

  const absl::StatusOr<BarSeries> general = ParseCsv(ForceGeneralPath(text), g_path);
  FUZZ_CHECK(SameResult(parsed, general),
             absl::StrCat("fast: ", Describe(parsed), "; general: ", Describe(general),
                          "; input: ", Shown(text)));

  const absl::StatusOr<BarSeries> from_file = ParseViaFile(text);
  FUZZ_CHECK(SameResult(parsed, from_file),
             absl::StrCat("memory: ", Describe(parsed), "; file: ", Describe(from_file)));

  if (parsed.ok()) {
    const std::string written = WriteCsv(*parsed);
    if (!written.empty()) {
      const absl::StatusOr<BarSeries> again = ParseCsv(written, "written.csv");
      FUZZ_CHECK(again.ok() && SameSeries(*parsed, *again),
                 absl::StrCat(Describe(again), "; written: ", Shown(written, 400)));
    }
  }
  return 0;
}
