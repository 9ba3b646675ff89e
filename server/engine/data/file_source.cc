#include "server/engine/data/file_source.h"

#include "absl/strings/str_cat.h"
#include "server/engine/data/csv_reader.h"
#include "server/engine/util/mapped_file.h"

namespace backtest::engine {

absl::StatusOr<BarSeries> FileSource::Read(const std::string& name) const {
  const std::string path = absl::StrCat(dir_ == "/" ? "" : dir_, "/", name);
  if (!policy_.enforced) return ReadCsvFile(path);
  auto rooted = FindRoot(dir_, policy_);
  if (!rooted.ok()) return rooted.status();
  auto fd = OpenBeneath(rooted->root,
                        rooted->relative.empty() ? name : absl::StrCat(rooted->relative, "/", name),
                        policy_);
  if (!fd.ok()) return fd.status();
  auto file = MappedFile::FromFd(*fd, path);
  if (!file.ok()) return file.status();
  return ReadCsvFile(*file, path);
}

absl::StatusOr<BarSeries> FileSource::Fetch(const FetchRequest& req) {
  // Symbols are validated by the parameter registry (letters, digits, '.', '_', '-'), so they
  // cannot leave the directory; checked again here because this is where a path is built.
  if (req.symbol.empty() || req.symbol.find('/') != std::string::npos || req.symbol == "." ||
      req.symbol == "..") {
    return absl::InvalidArgumentError(absl::StrCat("bad symbol \"", req.symbol, "\""));
  }
  const std::string specific = absl::StrCat(req.symbol, "_", TimeframeName(req.timeframe), ".csv");
  auto bars = Read(specific);
  if (!absl::IsNotFound(bars.status())) return bars;
  const std::string generic = absl::StrCat(req.symbol, ".csv");
  bars = Read(generic);
  if (absl::IsNotFound(bars.status())) {
    const std::string dir = dir_ == "/" ? "" : dir_;
    return absl::NotFoundError(absl::StrCat("no data for ", req.symbol, ": neither ", dir, "/",
                                            specific, " nor ", dir, "/", generic, " exists"));
  }
  return bars;
}

}  // namespace backtest::engine
