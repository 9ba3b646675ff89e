// Output helpers shared by the subcommands: terminal detection, colour, times, numbers, tables,
// CSV, JSON through protobuf's own printer, and --param parsing.
//
// Thread-safe: pure functions, except Table, which is a plain value type.
#ifndef BACKTEST_CLIENT_FORMAT_H_
#define BACKTEST_CLIENT_FORMAT_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/map.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace backtest::client {

using ParamMap = google::protobuf::Map<std::string, google::protobuf::Value>;

// --- Terminal ---------------------------------------------------------------------------------

// Whether standard output is a terminal (progress bars and colour only then).
bool StdoutIsTty();
// Colour on stdout: a terminal, no --no-color, no NO_COLOR in the environment, TERM not "dumb".
bool ColorEnabled(bool no_color_flag);
// Columns of the terminal on stdout (80 when unknown).
int TerminalWidth();

enum class Color { kNone, kRed, kGreen, kYellow, kDim, kBold };
// `text` wrapped in the ANSI colour when `enabled`.
std::string Colored(std::string_view text, Color color, bool enabled);
// The colour of a job status word: finished green, failed red, cancelled yellow.
Color StatusColor(std::string_view status);

// --- Text ---------------------------------------------------------------------------------------

// RFC 3339 UTC with milliseconds ("2026-11-22T02:47:16.375Z"); "" when unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& ts);
// Epoch seconds (a whole number) as RFC 3339 UTC ("2022-01-03T00:00:00Z").
std::string FormatEpoch(double seconds);
// A duration for people: "0.42s", "3m05s", "2h03m", "181d 04h".
std::string FormatDuration(double seconds);
// The shortest text that reads back as the same double (CSV, values); "NaN", "inf".
std::string FormatNumber(double value);
// At most `decimals` decimals, trailing zeros dropped (tables).
std::string FormatFixed(double value, int decimals = 4);
// A parameter value as text: strings as they are, numbers shortest, null empty.
std::string ValueText(const google::protobuf::Value& value);
// A Struct as one line of JSON with its keys sorted (trace payloads, for people).
std::string StructText(const google::protobuf::Struct& object);
// A message as JSON with the proto field names and every field. Pretty: indented, multi-line.
std::string ToJson(const google::protobuf::Message& message, bool pretty = true);
// `field` quoted for CSV when it needs to be.
std::string CsvField(std::string_view field);

// --- Parameters ---------------------------------------------------------------------------------

// NAME=VALUE pairs into `out`, every value as a string (the server knows the types and checks
// them: clients do not repeat its rules). An empty VALUE unsets the parameter. UsageError for a
// pair without '=' or without a name.
absl::Status ParseParams(const std::vector<std::string>& pairs, ParamMap* out);
// A JSON object of parameter values (or {"params": {…}} / {"values": {…}}, as `status --json`
// and `presets get --json` print them) into `out`, through protobuf's JSON parser.
absl::Status ReadParamsFile(const std::string& path, ParamMap* out);

// --- Tables -------------------------------------------------------------------------------------

// Columns aligned with two spaces; the last column is not padded, so it may hold free text.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);
  void AlignRight(size_t column);
  bool empty() const { return rows_.empty(); }
  // Prints the header (unless `headers` is false) and the rows.
  void Print(std::FILE* out, bool headers = true) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

}  // namespace backtest::client

#endif  // BACKTEST_CLIENT_FORMAT_H_
