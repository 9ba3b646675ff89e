#include "client/format.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/context.h"
#include "google/protobuf/util/json_util.h"

namespace backtest::client {

bool StdoutIsTty() { return isatty(STDOUT_FILENO) == 1; }

bool ColorEnabled(bool no_color_flag) {
  if (no_color_flag || !StdoutIsTty()) return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && no_color[0] != '\0') return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::string_view(term) != "dumb";
}

int TerminalWidth() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

std::string Colored(std::string_view text, Color color, bool enabled) {
  if (!enabled || color == Color::kNone) return std::string(text);
  const char* code = "";
  switch (color) {
    case Color::kRed: code = "31"; break;
    case Color::kGreen: code = "32"; break;
    case Color::kYellow: code = "33"; break;
    case Color::kDim: code = "2"; break;
    case Color::kBold: code = "1"; break;
    case Color::kNone: break;
  }
  return absl::StrCat("\033[", code, "m", std::string(text), "\033[0m");
}

Color StatusColor(std::string_view status) {
  if (status == "finished") return Color::kGreen;
  if (status == "failed") return Color::kRed;
  if (status == "cancelled") return Color::kYellow;
  return Color::kNone;
}

std::string FormatTimestamp(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "";
  std::time_t seconds = static_cast<std::time_t>(ts.seconds());
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.nanos() / 1000000);
}

std::string FormatEpoch(double seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  if (seconds < 60) return absl::StrFormat("%.*fs", seconds < 10 ? 2 : 0, seconds);
  int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  return absl::StrFormat("%dd %02dh", s / 86400, s % 86400 / 3600);
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // Integral values as integers (100000000, not 1e+08) while every integer there is exact.
  if (std::trunc(value) == value && std::fabs(value) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

std::string FormatFixed(double value, int decimals) {
  if (!std::isfinite(value)) return FormatNumber(value);
  std::string text = absl::StrFormat("%.*f", decimals, value);
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
  }
  return text == "-0" ? "0" : text;
}

namespace {
void AppendValue(const google::protobuf::Value& value, std::string* out);
}  // namespace

std::string ValueText(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kStringValue:
      return value.string_value();
    case google::protobuf::Value::kNumberValue:
      return FormatNumber(value.number_value());
    case google::protobuf::Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      return "";
    default: {
      std::string out;
      AppendValue(value, &out);
      return out;
    }
  }
}

namespace {

// protobuf's JSON printer writes <, >, & and ' as \u escapes (HTML-safe); people read the
// payloads' "close < support" better as they are. Both forms are the same JSON.
std::string UnescapeHtmlSafe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] != '\\' || i + 1 >= json.size()) {
      out += json[i];
      continue;
    }
    const std::string_view rest(json.data() + i, std::min<size_t>(6, json.size() - i));
    char plain = 0;
    if (rest == "\\u003c") plain = '<';
    if (rest == "\\u003e") plain = '>';
    if (rest == "\\u0026") plain = '&';
    if (rest == "\\u0027") plain = '\'';
    if (plain != 0) {
      out += plain;
      i += 5;
    } else {  // any other escape pair is copied whole, so "\\u003c" stays as it is
      out += json[i];
      out += json[i + 1];
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return absl::StrCat("{\"error\": \"", std::string(status.message()), "\"}");
  if (pretty && !out.empty() && out.back() == '\n') out.pop_back();
  return UnescapeHtmlSafe(out);
}

namespace {

void AppendJsonString(const std::string& text, std::string* out) {
  *out += '"';
  for (char c : text) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\t': *out += "\\t"; break;
      case '\r': *out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<int>(static_cast<unsigned char>(c)));
        } else {
          *out += c;
        }
    }
  }
  *out += '"';
}

void AppendValue(const google::protobuf::Value& value, std::string* out);

void AppendStruct(const google::protobuf::Struct& object, std::string* out) {
  std::map<std::string, const google::protobuf::Value*> sorted;
  for (const auto& [key, value] : object.fields()) sorted.emplace(key, &value);
  *out += '{';
  for (const auto& [key, value] : sorted) {
    if (out->back() != '{') *out += ',';
    AppendJsonString(key, out);
    *out += ':';
    AppendValue(*value, out);
  }
  *out += '}';
}

void AppendValue(const google::protobuf::Value& value, std::string* out) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      if (std::isfinite(value.number_value())) {
        *out += FormatNumber(value.number_value());
      } else {
        AppendJsonString(FormatNumber(value.number_value()), out);
      }
      break;
    case google::protobuf::Value::kStringValue:
      AppendJsonString(value.string_value(), out);
      break;
    case google::protobuf::Value::kBoolValue:
      *out += value.bool_value() ? "true" : "false";
      break;
    case google::protobuf::Value::kStructValue:
      AppendStruct(value.struct_value(), out);
      break;
    case google::protobuf::Value::kListValue:
      *out += '[';
      for (int i = 0; i < value.list_value().values_size(); ++i) {
        if (i > 0) *out += ',';
        AppendValue(value.list_value().values(i), out);
      }
      *out += ']';
      break;
    default:
      *out += "null";
  }
}

}  // namespace

std::string StructText(const google::protobuf::Struct& object) {
  std::string out;
  AppendStruct(object, &out);
  return out;
}

std::string CsvField(std::string_view field) {
  if (field.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

absl::Status ParseParams(const std::vector<std::string>& pairs, ParamMap* out) {
  for (const std::string& pair : pairs) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(absl::StrCat("--param expects NAME=VALUE, got '", pair, "'"));
    }
    (*out)[pair.substr(0, eq)].set_string_value(pair.substr(eq + 1));
  }
  return absl::OkStatus();
}

absl::Status ReadParamsFile(const std::string& path, ParamMap* out) {
  std::ifstream in(path);
  if (!in) return UsageError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  google::protobuf::Struct object;
  auto status = google::protobuf::util::JsonStringToMessage(text.str(), &object);
  if (!status.ok()) {
    return UsageError(absl::StrCat(path, ": not a JSON object: ", std::string(status.message())));
  }
  // Accept what btctl itself prints: a job's params or a preset's values, nested or not.
  const google::protobuf::Struct* values = &object;
  for (const char* key : {"job", "preset"}) {
    auto it = values->fields().find(key);
    if (values->fields().size() == 1 && it != values->fields().end() &&
        it->second.has_struct_value()) {
      values = &it->second.struct_value();
    }
  }
  for (const char* key : {"params", "values"}) {
    auto it = values->fields().find(key);
    if (it != values->fields().end() && it->second.has_struct_value()) {
      values = &it->second.struct_value();
      break;
    }
  }
  for (const auto& [name, value] : values->fields()) (*out)[name] = value;
  return absl::OkStatus();
}

namespace {

// Columns a cell takes on screen: ANSI colour sequences take none, UTF-8 continuation bytes none.
size_t VisibleWidth(const std::string& text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\033') {
      while (i < text.size() && text[i] != 'm') ++i;
      continue;
    }
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++width;
  }
  return width;
}

}  // namespace

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), right_(headers_.size(), false) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::AlignRight(size_t column) {
  if (column < right_.size()) right_[column] = true;
}

void Table::Print(std::FILE* out, bool headers) const {
  std::vector<size_t> width(headers_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], VisibleWidth(row[i]));
  };
  if (headers) measure(headers_);
  for (const auto& row : rows_) measure(row);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const bool last = i + 1 == row.size();
      const size_t pad = width[i] - VisibleWidth(row[i]);
      if (right_[i]) line.append(pad, ' ');
      line += row[i];
      if (!last) {
        if (!right_[i]) line.append(pad, ' ');
        line += "  ";
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::fprintf(out, "%s\n", line.c_str());
  };
  if (headers) print(headers_);
  for (const auto& row : rows_) print(row);
}

}  // namespace backtest::client
