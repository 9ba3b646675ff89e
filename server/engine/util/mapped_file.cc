#include "server/engine/util/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace backtest::engine {
namespace {

// The live mappings, for the SIGBUS handler: it may run on any thread at any moment, so it reads
// only these atomics (no lock, no allocation). `begin` != 0 marks a slot whose range is set.
struct Slot {
  std::atomic<bool> taken{false};
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<bool> hit{false};
};
constexpr int kSlots = 64;
Slot g_slots[kSlots];
uintptr_t g_page = 4096;
struct sigaction g_previous = {};

void OnBus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    const uintptr_t begin = s.begin.load(std::memory_order_acquire);
    const uintptr_t end = s.end.load(std::memory_order_acquire);
    if (begin == 0 || addr < begin || addr >= end) continue;
    // Zero pages from the faulting one to the end of the mapping (mmap is a plain system call
    // here); the access is retried on return and reads NULs.
    const uintptr_t page = addr & ~(g_page - 1);
    void* zeros = ::mmap(reinterpret_cast<void*>(page), end - page, PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (zeros != MAP_FAILED) {
      s.hit.store(true, std::memory_order_release);
      return;
    }
    break;
  }
  // Not a guarded mapping: whatever was installed before.
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if ((g_previous.sa_flags & SA_SIGINFO) == 0 && g_previous.sa_handler != SIG_DFL &&
      g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // The default action: the faulting access runs again and ends the process with SIGBUS.
  ::signal(SIGBUS, SIG_DFL);
}

void InstallHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    struct sigaction action = {};
    action.sa_sigaction = OnBus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &g_previous);
  });
}

int TakeSlot(uintptr_t begin, uintptr_t end) {
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (!g_slots[i].taken.compare_exchange_strong(expected, true)) continue;
    g_slots[i].hit.store(false);
    g_slots[i].end.store(end, std::memory_order_release);
    g_slots[i].begin.store(begin, std::memory_order_release);
    return i;
  }
  return -1;
}

void ReleaseSlot(int i) {
  g_slots[i].begin.store(0, std::memory_order_release);
  g_slots[i].end.store(0, std::memory_order_release);
  g_slots[i].taken.store(false, std::memory_order_release);
}

}  // namespace

absl::StatusOr<int> MappedFile::OpenForReading(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0) return fd;
  if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  return absl::FailedPreconditionError(absl::StrCat(path, ": ", std::strerror(errno)));
}

absl::StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  auto fd = OpenForReading(path);
  if (!fd.ok()) return fd.status();
  return FromFd(*fd, path);
}

absl::StatusOr<MappedFile> MappedFile::FromFd(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", std::strerror(e)));
  }
  // A directory (or a FIFO, a device) named like a data file is no data.
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, ": not a regular file"));
  }
  MappedFile file;
  file.size_ = static_cast<size_t>(st.st_size);
  if (file.size_ == 0) {
    ::close(fd);
    return file;
  }
  InstallHandler();
  file.mapped_ = (file.size_ + g_page - 1) & ~(g_page - 1);
  void* data = ::mmap(nullptr, file.mapped_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps the file
  if (data == MAP_FAILED) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": cannot map: ", std::strerror(e)));
  }
  const auto begin = reinterpret_cast<uintptr_t>(data);
  file.slot_ = TakeSlot(begin, begin + file.mapped_);
  if (file.slot_ < 0) {
    ::munmap(data, file.mapped_);
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": too many files mapped at once (", kSlots, ")"));
  }
  ::madvise(data, file.mapped_, MADV_SEQUENTIAL);  // read once, front to back (two halves)
  file.data_ = static_cast<const char*>(data);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(other.data_), size_(other.size_), mapped_(other.mapped_), slot_(other.slot_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.mapped_ = 0;
  other.slot_ = -1;
}

MappedFile::~MappedFile() {
  if (slot_ < 0) return;
  ReleaseSlot(slot_);
  ::munmap(const_cast<char*>(data_), mapped_);
}

bool MappedFile::Changed() const {
  return slot_ >= 0 && g_slots[slot_].hit.load(std::memory_order_acquire);
}

}  // namespace backtest::engine
