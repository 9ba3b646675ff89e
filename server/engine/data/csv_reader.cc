#include "server/engine/data/csv_reader.h"

#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <system_error>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/number_parse.h"
#include "server/engine/util/mapped_file.h"

namespace backtest::engine {
namespace {

constexpr int kMaxColumns = 32;
enum Column { kTime = 0, kOpen, kHigh, kLow, kClose, kVolume, kColumnCount };
constexpr std::array<absl::string_view, kColumnCount> kColumnNames = {"time", "open", "high",
                                                                       "low",  "close", "volume"};

constexpr uint64_t kPow10Int[] = {1,           10,           100,           1000,
                                  10000,       100000,       1000000,       10000000,
                                  100000000,   1000000000,   10000000000,   100000000000,
                                  1000000000000, 10000000000000, 100000000000000,
                                  1000000000000000};

struct Field {
  const char* begin;
  const char* end;
};

inline Field Trim(const char* b, const char* e) {
  while (b < e && (*b == ' ' || *b == '\t')) ++b;
  while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) --e;
  return {b, e};
}

// Splits [b, e) at commas into `fields`; returns the count, or kMaxColumns + 1 when there are more.
inline int Split(const char* b, const char* e, Field* fields) {
  int n = 0;
  while (true) {
    const char* comma = static_cast<const char*>(std::memchr(b, ',', e - b));
    const char* fe = comma ? comma : e;
    if (n == kMaxColumns) return kMaxColumns + 1;
    fields[n++] = Trim(b, fe);
    if (!comma) return n;
    b = comma + 1;
  }
}

int ColumnOfHeader(absl::string_view name) {
  std::string n = absl::AsciiStrToLower(name);
  if (!n.empty() && n.front() == '"' && n.back() == '"' && n.size() >= 2) {
    n = n.substr(1, n.size() - 2);
  }
  if (n == "time" || n == "date" || n == "datetime" || n == "timestamp" || n == "ts" ||
      n == "t" || n == "date_time" || n == "open_time") {
    return kTime;
  }
  if (n == "open" || n == "o") return kOpen;
  if (n == "high" || n == "h") return kHigh;
  if (n == "low" || n == "l") return kLow;
  if (n == "close" || n == "c") return kClose;
  if (n == "volume" || n == "vol" || n == "v" || n == "tick_volume" || n == "tickvol") {
    return kVolume;
  }
  return -1;
}

class Reader {
 public:
  Reader(absl::string_view text, absl::string_view name) : text_(text), name_(name) {}

  // Skips a BOM and leading blank lines and decides the layout from the first non-blank line;
  // returns where the rows start (past a header). Errors name the line.
  absl::StatusOr<const char*> Start() {
    const char* p = text_.data();
    const char* end = p + text_.size();
    if (text_.size() >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;  // UTF-8 BOM
    // Rows are ~40-60 bytes; reserving avoids regrowth on big files.
    out_.Reserve(static_cast<size_t>(end - p) / 40 + 16);
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* le = nl ? nl : end;
      Field f[kMaxColumns + 1];
      Field whole = Trim(p, le);
      if (whole.begin == whole.end) {  // blank line
        ++line_;
        p = nl ? nl + 1 : end;
        continue;
      }
      const int n = Split(whole.begin, whole.end, f);
      if (auto s = Layout(f, n, line_ + 1); !s.ok()) return s;
      canonical_ = true;
      for (int c = 0; c < columns_ && c < kColumnCount; ++c) canonical_ &= index_[c] == c;
      canonical_ &= columns_ == (has_volume_ ? 6 : 5);
      if (!header_) return p;  // the first line is a row
      ++line_;
      return nl ? nl + 1 : end;
    }
    return p;
  }

  // Parses the rows of [p, end), a part of the text after Start() (of this reader or, for a later
  // part, of the reader whose layout was copied with ContinueAfter()).
  absl::Status Rows(const char* p, const char* end) {
    while (p < end) {
      if (canonical_) {
        if (const char* next = FastRow(p, end)) {
          ++line_;
          p = next;
          continue;
        }
      }
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* le = nl ? nl : end;
      ++line_;
      const char* line_begin = p;
      p = nl ? nl + 1 : end;
      Field f[kMaxColumns + 1];
      Field whole = Trim(line_begin, le);
      if (whole.begin == whole.end) continue;  // blank line
      const int n = Split(whole.begin, whole.end, f);
      if (n != columns_) {  // (the fast path above never accepts a short or long row)
        return Error(line_, absl::StrCat("expected ", columns_, " columns, got ",
                                         n > kMaxColumns ? absl::StrCat("more than ", kMaxColumns)
                                                         : absl::StrCat(n)));
      }
      if (auto s = Row(f, line_); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Takes the layout of `first` (which has run Start()) for a later part of the same text whose
  // first line is line `lines_before` + 1 and whose first row must come after `last_time`.
  void ContinueAfter(const Reader& first, int64_t lines_before, int64_t last_time) {
    header_ = first.header_;
    canonical_ = first.canonical_;
    has_volume_ = first.has_volume_;
    columns_ = first.columns_;
    index_ = first.index_;
    line_ = lines_before;
    last_time_ = last_time;
  }

  BarSeries& bars() { return out_; }
  int64_t lines() const { return line_; }
  int64_t last_time() const { return last_time_; }

 private:
  absl::Status Error(int64_t line, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(name_, ":", line, ": ", what));
  }

  // Decides from the first non-blank line whether there is a header and where the columns are.
  absl::Status Layout(const Field* f, int n, int64_t line) {
    if (n > kMaxColumns) return Error(line, "too many columns");
    absl::string_view first(f[0].begin, f[0].end - f[0].begin);
    if (ParseCsvTime(first).has_value()) {
      if (n != 5 && n != 6) {
        return Error(line, absl::StrCat("expected 5 or 6 columns (time, open, high, low, close"
                                        "[, volume]), got ", n));
      }
      columns_ = n;
      for (int c = 0; c < n; ++c) index_[c] = c;
      has_volume_ = n == 6;
      return absl::OkStatus();
    }
    header_ = true;
    columns_ = n;
    index_.fill(-1);
    for (int c = 0; c < n; ++c) {
      int col = ColumnOfHeader(absl::string_view(f[c].begin, f[c].end - f[c].begin));
      if (col >= 0 && index_[col] < 0) index_[col] = c;
    }
    for (int col = kTime; col <= kClose; ++col) {
      if (index_[col] < 0) {
        return Error(line, absl::StrCat("header has no ", kColumnNames[col], " column"));
      }
    }
    has_volume_ = index_[kVolume] >= 0;
    return absl::OkStatus();
  }

  // Reads the run of ASCII digits at p (at most 19) into *value; returns its end. Eight bytes at
  // a time (SWAR) while at least eight bytes remain, else byte by byte.
  static const char* Digits(const char* p, const char* end, uint64_t* value) {
    uint64_t m = 0;
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      // A byte is a digit iff its high nibble is 3 and adding 6 keeps it there.
      const uint64_t not_digit = ((w & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL) |
                                 (((w + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) ^
                                  0x3030303030303030ULL);
      const int n = not_digit == 0 ? 8 : __builtin_ctzll(not_digit) / 8;
      if (n == 0) break;
      // The n digits, shifted to the top of the word behind zeros, converted at once.
      uint64_t d = (w - 0x3030303030303030ULL) << (8 * (8 - n));
      d = d * 10 + (d >> 8);
      d = (((d & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
           (((d >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
      m = m * kPow10Int[n] + static_cast<uint32_t>(d);
      p += n;
      if (n < 8) {
        *value = m;
        return p;
      }
    }
    while (p < end && static_cast<unsigned>(*p - '0') <= 9) m = m * 10 + (*p++ - '0');
    *value = m;
    return p;
  }

  // A plain decimal as its digits: the value is (neg ? −1 : 1) · m / 10^frac.
  // No default member initializers: FastRow keeps an array of these per row, and zero-filling it
  // first (a `rep stos` per row) was the costliest instruction of the parse.
  struct Decimal {
    uint64_t m;
    int frac;
    bool neg;
    bool operator==(const Decimal& o) const { return m == o.m && frac == o.frac && neg == o.neg; }
  };
  static double ToDouble(const Decimal& d) {
    // Exact: an integer below 2^53 over an exact power of ten is correctly rounded (and an
    // integer needs no division at all).
    const double m = static_cast<double>(d.m);
    const double v = d.frac == 0 ? m : m / number_parse_internal::kPow10[d.frac];
    return d.neg ? -v : v;
  }
  // A plain decimal ([-]digits[.digits], at most 15 digits) ending at `p` == end or at a
  // character that is not part of it; the caller checks what follows. nullptr if it is not one.
  static const char* FastNumber(const char* p, const char* end, Decimal* out) {
    const bool neg = p < end && *p == '-';
    p += neg;
    uint64_t whole = 0, fraction = 0;
    const char* start = p;
    p = Digits(p, end, &whole);
    int int_digits = static_cast<int>(p - start);
    int frac = 0;
    if (p < end && *p == '.') {
      const char* f = ++p;
      p = Digits(p, end, &fraction);
      frac = static_cast<int>(p - f);
    }
    if (int_digits + frac == 0 || int_digits + frac > 15) return nullptr;
    out->m = whole * kPow10Int[frac] + fraction;
    out->frac = frac;
    out->neg = neg;
    return p;
  }
  static const char* FastNumber(const char* p, const char* end, double* out) {
    Decimal d{};
    p = FastNumber(p, end, &d);
    if (p != nullptr) *out = ToDouble(d);
    return p;
  }

  // The common case, in one pass over the bytes: time (epoch seconds), open, high, low, close[,
  // volume] as plain decimals, no spaces, a valid bar. Returns the start of the next line; anything
  // else returns nullptr untouched and the general path parses the line (and reports what is wrong).
  const char* FastRow(const char* p, const char* end) {
    uint64_t time_digits = 0;
    const char* q = Digits(p, end, &time_digits);
    if (q == p || q - p > 11 || q == end || *q != ',') return nullptr;
    const auto t = static_cast<int64_t>(time_digits);
    double v[kColumnCount];
    Decimal d[kColumnCount];
    v[kVolume] = 0;
    const int last = has_volume_ ? kVolume : kClose;
    for (int col = kOpen; col <= last; ++col) {
      q = FastNumber(q + 1, end, &d[col]);
      if (q == nullptr) return nullptr;
      if (col < last) {
        if (q == end || *q != ',') return nullptr;
      }
    }
    // A bar usually opens at the previous close, written the same way: no second conversion.
    v[kOpen] = d[kOpen] == prev_close_ ? prev_close_value_ : ToDouble(d[kOpen]);
    for (int col = kHigh; col <= last; ++col) v[col] = ToDouble(d[col]);
    // End of line: "\n", "\r\n" or the end of the text.
    if (q < end && *q == '\r') ++q;
    if (q < end) {
      if (*q != '\n') return nullptr;
      ++q;
    }
    if (v[kHigh] < v[kLow] || v[kOpen] < v[kLow] || v[kOpen] > v[kHigh] || v[kClose] < v[kLow] ||
        v[kClose] > v[kHigh] || v[kVolume] < 0 || t <= last_time_) {
      return nullptr;
    }
    out_.Append(t, v[kOpen], v[kHigh], v[kLow], v[kClose], v[kVolume]);
    last_time_ = t;
    prev_close_ = d[kClose];
    prev_close_value_ = v[kClose];
    return q;
  }

  absl::Status Row(const Field* f, int64_t line) {
    const Field& tf = f[index_[kTime]];
    auto t = ParseCsvTime(absl::string_view(tf.begin, tf.end - tf.begin));
    if (!t) {
      return Error(line, absl::StrCat("bad time \"", absl::string_view(tf.begin, std::min<ptrdiff_t>(tf.end - tf.begin, 40)),
                                      "\" (epoch seconds or ISO 8601)"));
    }
    double v[kColumnCount] = {0, 0, 0, 0, 0, 0};
    for (int col = kOpen; col <= (has_volume_ ? kVolume : kClose); ++col) {
      const Field& fld = f[index_[col]];
      if (!ParseDouble(fld.begin, fld.end, &v[col])) {
        return Error(line, absl::StrCat("bad number \"", absl::string_view(fld.begin, std::min<ptrdiff_t>(fld.end - fld.begin, 40)),
                                        "\" in column ", kColumnNames[col]));
      }
      if (!std::isfinite(v[col])) {
        return Error(line, absl::StrCat("NaN or infinite value in column ", kColumnNames[col]));
      }
    }
    if (v[kHigh] < v[kLow]) {
      return Error(line, absl::StrCat("high ", v[kHigh], " < low ", v[kLow]));
    }
    if (v[kOpen] < v[kLow] || v[kOpen] > v[kHigh]) {
      return Error(line, absl::StrCat("open ", v[kOpen], " outside [low ", v[kLow], ", high ",
                                      v[kHigh], "]"));
    }
    if (v[kClose] < v[kLow] || v[kClose] > v[kHigh]) {
      return Error(line, absl::StrCat("close ", v[kClose], " outside [low ", v[kLow], ", high ",
                                      v[kHigh], "]"));
    }
    if (v[kVolume] < 0) return Error(line, absl::StrCat("negative volume ", v[kVolume]));
    if (*t <= last_time_) {
      return Error(line, absl::StrCat("time ", IsoTime(*t), " is not after the previous row's ",
                                      IsoTime(last_time_)));
    }
    out_.Append(*t, v[kOpen], v[kHigh], v[kLow], v[kClose], v[kVolume]);
    last_time_ = *t;
    return absl::OkStatus();
  }

  absl::string_view text_;
  absl::string_view name_;
  BarSeries out_;
  bool header_ = false;
  bool canonical_ = false;  // columns in the usual order: FastRow applies
  Decimal prev_close_{~uint64_t{0}, 0, false};  // the last fast row's close (none yet: no match)
  double prev_close_value_ = 0;
  bool has_volume_ = false;
  int columns_ = 0;
  std::array<int, kColumnCount> index_{};
  int64_t line_ = 0;                      // lines read so far (blank ones too)
  int64_t last_time_ = INT64_MIN;         // the last row's time (none yet: any time is after it)
};

// Texts from this size on are parsed in two halves on two threads.
constexpr size_t kParallelBytes = size_t{1} << 20;

void AppendSeries(BarSeries&& tail, BarSeries* out) {
  auto append = [](auto& to, auto& from) { to.insert(to.end(), from.begin(), from.end()); };
  append(out->time, tail.time);
  append(out->open, tail.open);
  append(out->high, tail.high);
  append(out->low, tail.low);
  append(out->close, tail.close);
  append(out->volume, tail.volume);
}

}  // namespace

// A large text is cut at the first line start past its middle; the second half is parsed on a
// thread of its own with the layout of the first line, while this thread parses the first half.
// The halves' results are the rows a single pass would read, in order: the second half's first
// row must come after the first half's last, and its line numbers continue the first half's.
// When the second half fails, or its first time is not after the first half's last, it is parsed
// again, knowing both (the error path only), so that the error is exactly the single pass's.
absl::StatusOr<BarSeries> ParseCsv(absl::string_view text, absl::string_view source_name) {
  Reader head(text, source_name);
  auto rows = head.Start();
  if (!rows.ok()) return rows.status();
  const char* begin = *rows;
  const char* end = text.data() + text.size();
  const char* mid = text.data() + text.size() / 2;
  const char* split =
      text.size() < kParallelBytes || mid < begin
          ? nullptr
          : static_cast<const char*>(std::memchr(mid, '\n', static_cast<size_t>(end - mid)));
  if (split == nullptr || split + 1 >= end) {
    if (auto s = head.Rows(begin, end); !s.ok()) return s;
    return std::move(head.bars());
  }
  ++split;  // the second half starts at a line start
  Reader tail(text, source_name);
  tail.ContinueAfter(head, 0, INT64_MIN);
  absl::Status tail_status;
  std::thread second;
  try {
    second = std::thread([&] {
      tail.bars().Reserve(static_cast<size_t>(end - split) / 40 + 16);
      tail_status = tail.Rows(split, end);
    });
  } catch (const std::system_error&) {
    tail_status = tail.Rows(split, end);  // no thread to be had: one after the other
  }
  absl::Status head_status = head.Rows(begin, split);
  if (second.joinable()) second.join();
  if (!head_status.ok()) return head_status;
  BarSeries& out = head.bars();
  if (!tail_status.ok() ||
      (!tail.bars().empty() && !out.empty() && tail.bars().time.front() <= out.time.back())) {
    Reader exact(text, source_name);
    exact.ContinueAfter(head, head.lines(), head.last_time());
    if (auto s = exact.Rows(split, end); !s.ok()) return s;
    AppendSeries(std::move(exact.bars()), &out);
    return std::move(out);
  }
  AppendSeries(std::move(tail.bars()), &out);
  return std::move(out);
}

absl::StatusOr<BarSeries> ReadCsvFile(const std::string& path) {
  // Parsed where the page cache has it (MappedFile): no read(2) copy into a buffer of fresh pages.
  auto file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  auto bars = ParseCsv(file->text(), path);
  if (file->Changed()) {
    return absl::DataLossError(
        absl::StrCat(path, ": the file shrank while it was being read; read it again"));
  }
  return bars;
}

}  // namespace backtest::engine
