// Sentences built piece by piece into reused strings: the per-bar trace sentences and the run's
// log lines, without a temporary string per piece or per sentence.
#ifndef BACKTEST_SERVER_ENGINE_STRATEGIES_APPEND_TEXT_H_
#define BACKTEST_SERVER_ENGINE_STRATEGIES_APPEND_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/engine/trace/json_writer.h"

namespace backtest::engine {

// A number with fixed decimals, for AppendText (what Fixed() writes, without a temporary).
struct Dec {
  double value;
  int decimals;
};

// Appends the pieces to *out: text as it is, Dec as Fixed() writes it, integers in decimal (as
// absl::StrCat writes them). No allocation once *out has grown to its working size.
inline void AppendPiece(std::string* out, absl::string_view text) {
  out->append(text.data(), text.size());
}
inline void AppendPiece(std::string* out, const Dec& d) { AppendFixed(out, d.value, d.decimals); }
inline void AppendPiece(std::string* out, int64_t v) { absl::StrAppend(out, v); }
inline void AppendPiece(std::string* out, size_t v) { absl::StrAppend(out, v); }
template <typename... Pieces>
void AppendText(std::string* out, const Pieces&... pieces) {
  (AppendPiece(out, pieces), ...);
}

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_STRATEGIES_APPEND_TEXT_H_
