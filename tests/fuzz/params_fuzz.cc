// Fuzz target: the parameter registry, ValidatePartialParams and ValidateParams, over a set of
// name/value pairs read from the input ("name=value" lines; a later line overrides an earlier
// one with the same name, as a map does).
//
// Invariants checked on every input:
// - an accepted set is canonical: names are the registry's own names, ValidateParams fills in
//   every parameter, and start_date < end_date;
// - validation is idempotent: an accepted set validates again to itself (a stored job or preset
//   is validated again when it runs), partial and full alike;
// - whatever ValidateParams accepts, ValidatePartialParams accepts.
#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/engine/param_registry.h"
#include "tests/fuzz/fuzz_check.h"

namespace backtest::engine {
namespace {

using fuzz::Shown;
using TextMap = std::map<std::string, std::string>;

constexpr int64_t kNow = 1700000000;  // 2023-11-14T22:13:20Z

TextMap ReadPairs(absl::string_view text) {
  TextMap out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    out[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return out;
}

TextMap AsInput(const ParamValues& values) { return TextMap(values.begin(), values.end()); }

std::string Describe(const absl::StatusOr<ParamValues>& r) {
  if (!r.ok()) return r.status().ToString();
  return absl::StrJoin(*r, ", ", absl::PairFormatter("="));
}

}  // namespace
}  // namespace backtest::engine

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace backtest::engine;
  if (size > 8192) return -1;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const TextMap input = ReadPairs(text);

  const absl::StatusOr<ParamValues> partial = ValidatePartialParams(input);
  if (partial.ok()) {
    for (const auto& [name, value] : *partial) {
      const ParamDef* def = FindParam(name);
      FUZZ_CHECK(def != nullptr && def->name == name, Shown(name));
    }
    const absl::StatusOr<ParamValues> again = ValidatePartialParams(AsInput(*partial));
    FUZZ_CHECK(again.ok() && *again == *partial,
               absl::StrCat("first: ", Describe(partial), "\n  again: ", Describe(again)));
  }

  const absl::StatusOr<ParamValues> full = ValidateParams(input, kNow);
  if (full.ok()) {
    FUZZ_CHECK(partial.ok(), absl::StrCat("partial refused: ", partial.status().ToString()));
    FUZZ_CHECK(full->size() == AllParams().size(), Describe(full));
    for (const ParamDef& def : AllParams()) {
      FUZZ_CHECK(full->contains(def.name), std::string(def.name));
    }
    const absl::StatusOr<int64_t> start = ParseTimeText(full->at("start_date"));
    const absl::StatusOr<int64_t> end = ParseTimeText(full->at("end_date"));
    FUZZ_CHECK(start.ok() && end.ok() && *start < *end, Describe(full));
    // A job stored today runs the same later: `now` no longer matters.
    const absl::StatusOr<ParamValues> again = ValidateParams(AsInput(*full), kNow + 86400);
    FUZZ_CHECK(again.ok() && *again == *full,
               absl::StrCat("first: ", Describe(full), "\n  again: ", Describe(again)));
  }
  return 0;
}
