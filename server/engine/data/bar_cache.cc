#include "server/engine/data/bar_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
// XXH3 compiled in from libxxhash-dev's header: nothing to link, in the static runner either.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "server/engine/data/dataset_hash.h"

namespace backtest::engine {
namespace {

constexpr char kMagic[8] = {'b', 't', 'b', 'a', 'r', 's', '2', '\n'};
// The header fills the first 4 KiB; each column starts at a 4 KiB boundary (where it can be
// mapped) and is padded to the next.
constexpr size_t kAlign = 4096;
size_t Padded(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }
size_t EntryBytes(size_t rows) { return kAlign + 6 * Padded(rows * 8); }
constexpr int64_t kSettleNanos = 2'000'000'000;  // a CSV changed more recently is not stored
constexpr absl::string_view kSuffix = ".bars";
constexpr absl::string_view kTempPrefix = ".tmp-";
constexpr absl::string_view kNoteSuffix = ".note";
constexpr size_t kMaxNoteBytes = 4096;

// The CSV's identity when it was parsed, then the entry's contents.
struct Header {
  char magic[8];
  uint64_t dev;
  uint64_t ino;
  int64_t size;
  int64_t mtime_sec;
  int64_t mtime_nsec;
  int64_t ctime_sec;
  int64_t ctime_nsec;
  uint64_t rows;
  uint64_t checksum;      // XXH3-64 of the six columns, in order
  char dataset_hash[64];  // DatasetHash of the bars
};
static_assert(sizeof(Header) == 144 && sizeof(Header) % 8 == 0);

Header IdentityOf(const struct stat& st) {
  Header h = {};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.dev = static_cast<uint64_t>(st.st_dev);
  h.ino = static_cast<uint64_t>(st.st_ino);
  h.size = static_cast<int64_t>(st.st_size);
  h.mtime_sec = st.st_mtim.tv_sec;
  h.mtime_nsec = st.st_mtim.tv_nsec;
  h.ctime_sec = st.st_ctim.tv_sec;
  h.ctime_nsec = st.st_ctim.tv_nsec;
  return h;
}

bool SameIdentity(const Header& a, const Header& b) {
  return std::memcmp(a.magic, b.magic, sizeof a.magic) == 0 && a.dev == b.dev && a.ino == b.ino &&
         a.size == b.size && a.mtime_sec == b.mtime_sec && a.mtime_nsec == b.mtime_nsec &&
         a.ctime_sec == b.ctime_sec && a.ctime_nsec == b.ctime_nsec;
}

std::string EntryName(const struct stat& st) {
  return absl::StrFormat("%x-%x%s", static_cast<uint64_t>(st.st_dev),
                         static_cast<uint64_t>(st.st_ino), kSuffix);
}

int64_t Nanos(const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; }

// The six columns of `bars` as I/O vectors, in the entry's order (writable only when `bars` is).
std::array<iovec, 6> Columns(const BarSeries& bars) {
  const size_t n = bars.size();
  auto v = [n](const auto& column) {
    return iovec{const_cast<void*>(static_cast<const void*>(column.data())), n * 8};
  };
  return {v(bars.time), v(bars.open), v(bars.high), v(bars.low), v(bars.close), v(bars.volume)};
}

uint64_t Checksum(const std::array<iovec, 6>& columns) {
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return 0;
  XXH3_64bits_reset(state);
  for (const iovec& c : columns) XXH3_64bits_update(state, c.iov_base, c.iov_len);
  const uint64_t sum = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return sum;
}

// The six columns of an entry of `rows` rows into `bars`: mapped in place (read-only, the
// page cache's pages) where the page size allows, else read into memory of their own.
bool ReadColumns(int fd, size_t rows, BarSeries* bars) {
  const size_t bytes = rows * 8;
  const size_t stride = Padded(bytes);
  static const long page = ::sysconf(_SC_PAGESIZE);
  if (page > 0 && kAlign % static_cast<size_t>(page) == 0) {
    void* maps[6];
    for (size_t k = 0; k < 6; ++k) {
      maps[k] = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd,
                       static_cast<off_t>(kAlign + k * stride));
      if (maps[k] == MAP_FAILED) {
        for (size_t j = 0; j < k; ++j) ::munmap(maps[j], bytes);
        return false;
      }
    }
    AdoptMapping(bars->time, maps[0], bytes, rows);
    AdoptMapping(bars->open, maps[1], bytes, rows);
    AdoptMapping(bars->high, maps[2], bytes, rows);
    AdoptMapping(bars->low, maps[3], bytes, rows);
    AdoptMapping(bars->close, maps[4], bytes, rows);
    AdoptMapping(bars->volume, maps[5], bytes, rows);
    return true;
  }
  bars->Resize(rows);
  const auto columns = Columns(*bars);
  for (size_t k = 0; k < 6; ++k) {
    if (::pread(fd, columns[k].iov_base, bytes, static_cast<off_t>(kAlign + k * stride)) !=
        static_cast<ssize_t>(bytes)) {
      return false;
    }
  }
  return true;
}

// Entries found ahead by Prefetch, for this process's next Find of their file.
struct Prefetched {
  std::mutex mu;
  std::vector<BarCache::Lookup> lookups;  // guarded by mu
};

Prefetched& PrefetchedLookups() {
  static Prefetched* prefetched = new Prefetched;  // never destroyed: runners exit with _exit
  return *prefetched;
}

}  // namespace

BarCache::BarCache(std::string dir, int64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {}

int64_t BarCache::Prefetch(int csv_fd) const {
  Lookup found = Find(csv_fd);
  if (!found.bars) return 0;
  const auto bars = static_cast<int64_t>(found.bars->size());
  Prefetched& prefetched = PrefetchedLookups();
  std::lock_guard lock(prefetched.mu);
  prefetched.lookups.push_back(std::move(found));
  return bars;
}

BarCache::Lookup BarCache::Find(int csv_fd) const {
  Lookup out;
  if (max_bytes_ <= 0 || ::fstat(csv_fd, &out.before) != 0) return out;
  {
    // Prefetched for this very version of the file: taken as it is.
    Prefetched& prefetched = PrefetchedLookups();
    std::lock_guard lock(prefetched.mu);
    auto& lookups = prefetched.lookups;
    for (auto it = lookups.begin(); it != lookups.end(); ++it) {
      if (SameIdentity(IdentityOf(it->before), IdentityOf(out.before))) {
        out = std::move(*it);
        lookups.erase(it);
        // Used now (as a hit renews its entry): the last to be evicted.
        ::utimensat(AT_FDCWD, (dir_ + "/" + EntryName(out.before)).c_str(), nullptr, 0);
        return out;
      }
    }
  }
  timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  out.checked_ns = Nanos(now);
  const struct stat& csv = out.before;
  const std::string path = dir_ + "/" + EntryName(csv);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  Header h;
  struct stat entry;
  const Header want = IdentityOf(csv);
  if (::pread(fd, &h, sizeof h, 0) == sizeof h && SameIdentity(h, want) && h.rows > 0 &&
      h.rows <= (1ULL << 40) && ::fstat(fd, &entry) == 0 &&
      static_cast<uint64_t>(entry.st_size) == EntryBytes(h.rows)) {
    BarSeries bars;
    if (ReadColumns(fd, h.rows, &bars) &&
        Checksum(Columns(bars)) == h.checksum) {
      bars.dataset_hash.assign(h.dataset_hash, sizeof h.dataset_hash);
      out.bars = std::move(bars);
      ::futimens(fd, nullptr);  // used now: the last to be evicted
    }
  }
  ::close(fd);
  return out;
}

void BarCache::Store(int csv_fd, const Lookup& lookup, const BarSeries& bars) const {
  const size_t bytes = EntryBytes(bars.size());
  if (max_bytes_ <= 0 || bars.empty() || lookup.checked_ns == 0 ||
      bytes > static_cast<uint64_t>(max_bytes_)) {
    return;
  }
  // Settled before the lookup: a write after it lands in a later timestamp tick, so it changes
  // the change time that the entry records, and the entry is never used for it.
  const struct stat& before = lookup.before;
  if (lookup.checked_ns - std::max(Nanos(before.st_mtim), Nanos(before.st_ctim)) < kSettleNanos) {
    return;
  }
  // Still that version after parsing: nothing was written meanwhile.
  struct stat after;
  if (::fstat(csv_fd, &after) != 0 || !SameIdentity(IdentityOf(after), IdentityOf(before))) {
    return;
  }

  Header h = IdentityOf(before);
  h.rows = bars.size();
  const auto columns = Columns(bars);
  h.checksum = Checksum(columns);
  const std::string hash = DatasetHash(BarView::Of(bars, 0, bars.size()));
  std::memcpy(h.dataset_hash, hash.data(), std::min(hash.size(), sizeof h.dataset_hash));
  static const std::array<char, kAlign> zeros = {};
  const size_t pad = Padded(bars.size() * 8) - bars.size() * 8;
  std::vector<iovec> out = {{&h, sizeof h}, {const_cast<char*>(zeros.data()), kAlign - sizeof h}};
  for (const iovec& column : columns) {
    out.push_back(column);
    if (pad > 0) out.push_back({const_cast<char*>(zeros.data()), pad});
  }
  if (WriteEntry(EntryName(before), out.data(), static_cast<int>(out.size()), bytes)) Evict();
}

bool BarCache::WriteEntry(const std::string& name, const iovec* pieces, int count,
                          size_t bytes) const {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) return false;
  std::string temp = dir_ + "/" + std::string(kTempPrefix) + "XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return false;
  // A short write (a full disk) leaves no entry: the cache is only a cache.
  const bool ok = ::pwritev(fd, pieces, count, 0) == static_cast<ssize_t>(bytes);
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), (dir_ + "/" + name).c_str()) != 0) {
    ::unlink(temp.c_str());
    return false;
  }
  return true;
}

namespace {

bool IsHexKey(const std::string& key) {
  return key.size() == 64 && std::all_of(key.begin(), key.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::optional<std::string> BarCache::FindNote(const std::string& key) const {
  if (max_bytes_ <= 0 || !IsHexKey(key)) return std::nullopt;
  const int fd = ::open((dir_ + "/" + key + std::string(kNoteSuffix)).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string value(kMaxNoteBytes + 1, '\0');
  const ssize_t n = ::pread(fd, value.data(), value.size(), 0);
  if (n >= 0 && static_cast<size_t>(n) <= kMaxNoteBytes) ::futimens(fd, nullptr);
  ::close(fd);
  if (n < 0 || static_cast<size_t>(n) > kMaxNoteBytes) return std::nullopt;
  value.resize(static_cast<size_t>(n));
  return value;
}

void BarCache::StoreNote(const std::string& key, const std::string& value) const {
  if (max_bytes_ <= 0 || !IsHexKey(key) || value.size() > kMaxNoteBytes) return;
  iovec piece = {const_cast<char*>(value.data()), value.size()};
  if (WriteEntry(key + std::string(kNoteSuffix), &piece, 1, value.size())) Evict();
}

void BarCache::Evict() const {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return;
  struct Entry {
    int64_t used;  // modification time, renewed by each hit
    int64_t bytes;
    std::string name;
  };
  std::vector<Entry> entries;
  int64_t total = 0;
  timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  while (const dirent* e = ::readdir(d)) {
    const absl::string_view name = e->d_name;
    const bool temp = absl::StartsWith(name, kTempPrefix);
    if (!temp && !absl::EndsWith(name, kSuffix) && !absl::EndsWith(name, kNoteSuffix)) continue;
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (temp) {
      // Left by a runner killed while writing it: gone after ten minutes.
      if (Nanos(now) - Nanos(st.st_mtim) > 600'000'000'000LL) ::unlinkat(::dirfd(d), e->d_name, 0);
      continue;
    }
    entries.push_back({Nanos(st.st_mtim), st.st_size, std::string(name)});
    total += st.st_size;
  }
  if (total > max_bytes_) {
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.used < b.used; });
    for (const Entry& e : entries) {
      if (total <= max_bytes_) break;
      if (::unlinkat(::dirfd(d), e.name.c_str(), 0) == 0) total -= e.bytes;
    }
  }
  ::closedir(d);
}

}  // namespace backtest::engine
