#include "server/engine/data/csv_reader.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/csv_fast_row.h"
#include "server/engine/data/number_parse.h"
#include "server/engine/util/helper_thread.h"
#include "server/engine/util/mapped_file.h"

namespace backtest::engine {
namespace {

constexpr int kMaxColumns = 32;
enum Column { kTime = 0, kOpen, kHigh, kLow, kClose, kVolume, kColumnCount };
constexpr std::array<absl::string_view, kColumnCount> kColumnNames = {"time", "open", "high",
                                                                       "low",  "close", "volume"};

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

// Cache-line aligned: the two halves' readers live side by side and each writes its own members
// every row (sharing a line cost each thread half its speed).
class alignas(64) Reader {
 public:
  // Rows go to `out` from row `first` on: written in place while they fit its size (which a
  // parallel reader's caller sets to a bound on its rows), the columns grown when `may_grow`.
  Reader(absl::string_view text, absl::string_view name, BarSeries* out, size_t first,
         bool may_grow)
      : text_(text), name_(name), out_(out), next_(first), may_grow_(may_grow) {}

  // Skips a BOM and leading blank lines and decides the layout from the first non-blank line;
  // returns where the rows start (past a header). Errors name the line.
  absl::StatusOr<const char*> Start() {
    const char* p = text_.data();
    const char* end = p + text_.size();
    if (text_.size() >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;  // UTF-8 BOM
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

  size_t next() const { return next_; }  // the index the next row goes to
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

  // The common case: time (epoch seconds), open, high, low, close[, volume] as plain decimals, no
  // spaces, a valid bar. Returns the start of the next line; anything else returns nullptr
  // untouched and the general path parses the line (and reports what is wrong).
  //
  // The vector path (csv_fast_row.h) when 64 bytes from p and 16 before it are in the text;
  // a row it does not take goes to the scalar path, one field after the other.
  const char* FastRow(const char* p, const char* end) {
    if constexpr (csv_internal::kHaveVectorRows) {
      if (end - p >= 64 && p - text_.data() >= 16) {
        if (const char* next = VectorRow(p)) return next;
      }
    }
    return ScalarRow(p, end);
  }

#if defined(__SSE2__)
  const char* VectorRow(const char* p) {
    const csv_internal::RowBits bits = csv_internal::ClassifyRow(p);
    if (bits.newline == 0) return nullptr;
    const int nl = __builtin_ctzll(bits.newline);
    const uint64_t row = (uint64_t{1} << nl) - 1;
    const uint64_t commas = bits.comma & row;
    uint64_t other = bits.not_digit & row & ~commas;  // points, and anything that is wrong
    int row_end = nl;
    if (nl > 0 && p[nl - 1] == '\r') other &= ~(uint64_t{1} << --row_end);
    if (commas == 0) return nullptr;
    const int last_comma = 63 - __builtin_clzll(commas);
    const uint64_t before_last = (uint64_t{2} << last_comma) - 1;
    const uint64_t dots = bits.dot & before_last;
    csv_internal::Decimal d[kColumnCount];
    const int last = has_volume_ ? kVolume : kClose;
    uint64_t time;
    if (layout_.valid && commas == layout_.commas && dots == layout_.dots &&
        (other & before_last) == dots) {
      // The previous row's layout: every field up to the last comma read as it was.
      time = csv_internal::ReadField(p, layout_.time_low) +
             csv_internal::ReadField(p, layout_.time_high) * 100'000'000;
      for (int k = 0; k < layout_.middle; ++k) {
        d[kOpen + k] = {csv_internal::ReadField(p, layout_.form[k]), layout_.form[k].frac, false};
      }
    } else {
      uint64_t rest = commas;
      const int time_end = __builtin_ctzll(rest);
      rest &= rest - 1;
      if (time_end == 0 || time_end > 11 || (other & ((uint64_t{1} << time_end) - 1)) != 0) {
        return nullptr;
      }
      time = csv_internal::DigitsEndingAt(p + time_end, std::min(time_end, 8));
      if (time_end > 8) {
        time += csv_internal::DigitsEndingAt(p + time_end - 8, time_end - 8) * 100'000'000;
      }
      int s = time_end + 1;
      for (int col = kOpen; col < last; ++col) {
        if (rest == 0) return nullptr;
        const int e = __builtin_ctzll(rest);
        rest &= rest - 1;
        if (!csv_internal::FieldDecimal(p, s, e, other, &d[col])) return nullptr;
        s = e + 1;
      }
      if (rest != 0) return nullptr;  // more columns than the file's
      if (!csv_internal::MakeLayout(p, commas, dots, &layout_)) layout_.valid = false;
    }
    if (!csv_internal::FieldDecimal(p, last_comma + 1, row_end, other, &d[last])) return nullptr;
    return AcceptRow(static_cast<int64_t>(time), d, p + nl + 1);
  }
#else
  const char* VectorRow(const char*) { return nullptr; }
#endif

  const char* ScalarRow(const char* p, const char* end) {
    uint64_t time_digits = 0;
    const char* q = csv_internal::Digits(p, end, &time_digits);
    if (q == p || q - p > 11 || q == end || *q != ',') return nullptr;
    csv_internal::Decimal d[kColumnCount];
    const int last = has_volume_ ? kVolume : kClose;
    for (int col = kOpen; col <= last; ++col) {
      q = csv_internal::FastNumber(q + 1, end, &d[col]);
      if (q == nullptr) return nullptr;
      if (col < last) {
        if (q == end || *q != ',') return nullptr;
      }
    }
    // End of line: "\n", "\r\n" or the end of the text.
    if (q < end && *q == '\r') ++q;
    if (q < end) {
      if (*q != '\n') return nullptr;
      ++q;
    }
    return AcceptRow(static_cast<int64_t>(time_digits), d, q);
  }

  // A fast path's row, its fields read: appended when it is a valid bar after the last one, and
  // `next` returned; else nullptr (the general path reports what is wrong).
  const char* AcceptRow(int64_t t, const csv_internal::Decimal* d, const char* next) {
    double v[kColumnCount];
    v[kVolume] = 0;
    const int last = has_volume_ ? kVolume : kClose;
    // A bar usually opens at the previous close, written the same way: no second conversion.
    v[kOpen] = d[kOpen] == prev_close_ ? prev_close_value_ : csv_internal::ToDouble(d[kOpen]);
    for (int col = kHigh; col <= last; ++col) v[col] = csv_internal::ToDouble(d[col]);
    if (v[kHigh] < v[kLow] || v[kOpen] < v[kLow] || v[kOpen] > v[kHigh] || v[kClose] < v[kLow] ||
        v[kClose] > v[kHigh] || v[kVolume] < 0 || t <= last_time_) {
      return nullptr;
    }
    if (!Room()) return nullptr;
    Put(t, v);
    last_time_ = t;
    prev_close_ = d[kClose];
    prev_close_value_ = v[kClose];
    return next;
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
    if (!Room()) {
      return absl::InternalError(absl::StrCat(name_, ":", line, ": more rows than bound"));
    }
    Put(*t, v);
    last_time_ = *t;
    return absl::OkStatus();
  }

  // Whether row next_ can be written: within the columns' size, or they could be grown. (A
  // parallel reader cannot grow them, and its bound makes that unreachable.)
  bool Room() {
    if (next_ < out_->size()) return true;
    if (!may_grow_) return false;
    out_->Resize(std::max<size_t>(2 * out_->size(), 1024));
    return true;
  }
  void Put(int64_t t, const double* v) {
    out_->time[next_] = t;
    out_->open[next_] = v[kOpen];
    out_->high[next_] = v[kHigh];
    out_->low[next_] = v[kLow];
    out_->close[next_] = v[kClose];
    out_->volume[next_] = v[kVolume];
    ++next_;
  }

  absl::string_view text_;
  absl::string_view name_;
  BarSeries* out_;
  size_t next_;
  bool may_grow_;
  bool header_ = false;
  bool canonical_ = false;  // columns in the usual order: FastRow applies
  csv_internal::RowLayout layout_;  // the last vector-path row's, for the next (csv_fast_row.h)
  // The last fast row's close (none yet: matches no row).
  csv_internal::Decimal prev_close_{~uint64_t{0}, 0, false};
  double prev_close_value_ = 0;
  bool has_volume_ = false;
  int columns_ = 0;
  std::array<int, kColumnCount> index_{};
  int64_t line_ = 0;                      // lines read so far (blank ones too)
  int64_t last_time_ = INT64_MIN;         // the last row's time (none yet: any time is after it)
};

// Texts from this size on are parsed in two halves on two threads.
constexpr size_t kParallelBytes = size_t{1} << 20;

// The number of line feeds in [p, end).
size_t CountLines(const char* p, const char* end) {
  size_t n = 0;
#if defined(__SSE2__)
  // 16 bytes a step; the per-byte counts (0 or -1 each step) summed in 8-bit lanes for up to 255
  // steps, then added up with psadbw.
  const __m128i newline = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    __m128i counts = _mm_setzero_si128();
    for (int k = 0; k < 255 && end - p >= 16; ++k, p += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      counts = _mm_sub_epi8(counts, _mm_cmpeq_epi8(v, newline));
    }
    const __m128i sums = _mm_sad_epu8(counts, _mm_setzero_si128());
    n += static_cast<size_t>(_mm_cvtsi128_si64(sums)) +
         static_cast<size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
#endif
  for (; p < end; ++p) n += *p == '\n';
  return n;
}

// Moves rows [from, from + n) of every column to [to, to + n), to <= from.
void MoveRowsDown(BarSeries* s, size_t from, size_t n, size_t to) {
  auto move = [&](auto& c) { std::copy(c.begin() + from, c.begin() + from + n, c.begin() + to); };
  move(s->time);
  move(s->open);
  move(s->high);
  move(s->low);
  move(s->close);
  move(s->volume);
}

}  // namespace

// A large text is cut at the first line start past its middle; the second half is parsed on a
// thread of its own with the layout of the first line, while this thread parses the first half.
// Both write into the same columns, sized once (unwritten: column.h) to the first half's line
// count plus room for the second half's rows estimated from it, the second half from the first
// half's line count on; when the first half had blank lines, its rows end before that and the
// second half's are moved down. The result is the rows a single pass would read, in order: the
// second half's first row must come after the first half's last, and its line numbers continue
// the first half's. When the second half fails (a bad row, or no room left), or its first time
// is not after the first half's last, it is parsed again after the join, knowing both and
// growing the columns as needed (rare), so that the rows and any error are exactly the single
// pass's.
absl::StatusOr<BarSeries> ParseCsv(absl::string_view text, absl::string_view source_name) {
  BarSeries out;
  Reader head(text, source_name, &out, 0, /*may_grow=*/true);
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
    // Rows are ~40-60 bytes: sized so that big files are not regrown.
    out.Resize(static_cast<size_t>(end - begin) / 40 + 16);
    if (auto s = head.Rows(begin, end); !s.ok()) return s;
    out.Resize(head.next());
    return out;
  }
  ++split;  // the second half starts at a line start
  const size_t head_lines = CountLines(begin, split);
  // The second half's rows, estimated from the first half's line length. Its room is a quarter
  // more: a second half whose lines are shorter still than that runs out of room and is parsed
  // again after the join (see below), with the columns grown. (A bound that always holds — a row
  // has at least 10 bytes — reserved 5× the address space of a usual file, too much for large
  // files under a runner's address-space limit.)
  const auto tail_estimate = static_cast<size_t>(static_cast<double>(head_lines) *
                                                 static_cast<double>(end - split) /
                                                 static_cast<double>(split - begin));
  out.Resize(head_lines + tail_estimate + tail_estimate / 4 + 1024);
  Reader tail(text, source_name, &out, head_lines, /*may_grow=*/false);
  tail.ContinueAfter(head, 0, INT64_MIN);
  absl::Status tail_status;
  HelperThread second;
  // Each thread first faults in the pages its rows will go to, in one call (rows past the
  // estimate fault as written).
  auto parse_tail = [&] {
    out.PrefaultRows(head_lines, tail_estimate);
    tail_status = tail.Rows(split, end);
  };
  if (!second.Start(parse_tail)) parse_tail();  // no thread to be had: one after the other
  out.PrefaultRows(0, head_lines);
  absl::Status head_status = head.Rows(begin, split);
  second.Join();
  if (!head_status.ok()) return head_status;
  const size_t head_rows = head.next();
  const size_t tail_rows = tail.next() - head_lines;
  if (!tail_status.ok() ||
      (tail_rows > 0 && head_rows > 0 && out.time[head_lines] <= out.time[head_rows - 1])) {
    Reader exact(text, source_name, &out, head_rows, /*may_grow=*/true);
    exact.ContinueAfter(head, head.lines(), head.last_time());
    if (auto s = exact.Rows(split, end); !s.ok()) return s;
    out.Resize(exact.next());
    return out;
  }
  if (head_rows < head_lines) MoveRowsDown(&out, head_lines, tail_rows, head_rows);
  out.Resize(head_rows + tail_rows);
  return out;
}

absl::StatusOr<BarSeries> ReadCsvFile(const std::string& path) {
  // Parsed where the page cache has it (MappedFile): no read(2) copy into a buffer of fresh pages.
  auto file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  return ReadCsvFile(*file, path);
}

absl::StatusOr<BarSeries> ReadCsvFile(const MappedFile& file, const std::string& path) {
  auto bars = ParseCsv(file.text(), path);
  if (file.Changed()) {
    return absl::DataLossError(
        absl::StrCat(path, ": the file shrank while it was being read; read it again"));
  }
  return bars;
}

}  // namespace backtest::engine
