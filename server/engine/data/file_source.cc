#include "server/engine/data/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/engine/data/csv_reader.h"
#include "server/engine/util/mapped_file.h"

namespace backtest::engine {

absl::StatusOr<int> FileSource::Open(const std::string& name, const std::string& path) const {
  if (!policy_.enforced) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) return fd;
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  auto rooted = FindRoot(dir_, policy_);
  if (!rooted.ok()) return rooted.status();
  return OpenBeneath(rooted->root,
                     rooted->relative.empty() ? name : absl::StrCat(rooted->relative, "/", name),
                     policy_);
}

absl::StatusOr<BarSeries> FileSource::Read(const std::string& name) const {
  const std::string path = absl::StrCat(dir_ == "/" ? "" : dir_, "/", name);
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
