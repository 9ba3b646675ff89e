#include "server/engine/data/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>

#include "absl/strings/str_cat.h"
#include "server/engine/data/csv_reader.h"
#include "server/engine/util/mapped_file.h"

namespace backtest::engine {

absl::StatusOr<int> FileSource::Open(const std::string& name, const std::string& path) const {
  if (!policy_.enforced) return MappedFile::OpenForReading(path);
  auto rooted = FindRoot(dir_, policy_);
  if (!rooted.ok()) return rooted.status();
  return OpenBeneath(rooted->root,
                     rooted->relative.empty() ? name : absl::StrCat(rooted->relative, "/", name),
                     policy_);
}

std::string FileSource::PathOf(const std::string& name) const {
  return absl::StrCat(dir_ == "/" ? "" : dir_, "/", name);
}

std::array<std::string, 2> FileSource::NamesFor(const FetchRequest& req) {
  return {absl::StrCat(req.symbol, "_", TimeframeName(req.timeframe), ".csv"),
          absl::StrCat(req.symbol, ".csv")};
}

absl::StatusOr<BarSeries> FileSource::Read(const std::string& name) const {
  const std::string path = PathOf(name);
  auto fd = Open(name, path);
  if (!fd.ok()) return fd.status();
  auto parse = [&path](int fd) -> absl::StatusOr<BarSeries> {
    auto file = MappedFile::FromFd(fd, path);  // takes the descriptor
    if (!file.ok()) return file.status();
    return ReadCsvFile(*file, path);
  };
  if (cache_ == nullptr) return parse(*fd);
  BarCache::Lookup found = cache_->Find(*fd);
  if (found.bars) {
    ::close(*fd);
    return *std::move(found.bars);
  }
  const int kept = ::fcntl(*fd, F_DUPFD_CLOEXEC, 0);  // to check the file again after parsing
  auto bars = parse(*fd);
  if (kept >= 0) {
    if (bars.ok()) cache_->Store(kept, found, *bars);
    ::close(kept);
  }
  return bars;
}

// Symbols are validated by the parameter registry (letters, digits, '.', '_', '-'), so they
// cannot leave the directory; checked again here because this is where a path is built.
bool FileSource::IsSafeSymbol(const std::string& symbol) {
  return !symbol.empty() && symbol.find('/') == std::string::npos && symbol != "." &&
         symbol != "..";
}

int64_t FileSource::Prefetch(const FetchRequest& req) {
  if (cache_ == nullptr || !IsSafeSymbol(req.symbol)) return 0;
  // The file Fetch would read: the first of its names that exists.
  for (const std::string& name : NamesFor(req)) {
    auto fd = Open(name, PathOf(name));
    if (absl::IsNotFound(fd.status())) continue;
    int64_t bars = 0;
    if (fd.ok()) {
      bars = cache_->Prefetch(*fd);
      ::close(*fd);
    }
    return bars;
  }
  return 0;
}

absl::StatusOr<BarSeries> FileSource::Fetch(const FetchRequest& req) {
  if (!IsSafeSymbol(req.symbol)) {
    return absl::InvalidArgumentError(absl::StrCat("bad symbol \"", req.symbol, "\""));
  }
  const auto [specific, generic] = NamesFor(req);
  auto bars = Read(specific);
  if (!absl::IsNotFound(bars.status())) return bars;
  bars = Read(generic);
  if (absl::IsNotFound(bars.status())) {
    return absl::NotFoundError(absl::StrCat("no data for ", req.symbol, ": neither ",
                                            PathOf(specific), " nor ", PathOf(generic), " exists"));
  }
  return bars;
}

}  // namespace backtest::engine
