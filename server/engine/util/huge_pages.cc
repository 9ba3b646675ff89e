#include "server/engine/util/huge_pages.h"

#include <cstdint>
#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace backtest::engine {
namespace {

// x rounded up and down to a multiple of `granule` (a power of two).
uintptr_t RoundUp(uintptr_t x, uintptr_t granule) { return (x + granule - 1) & ~(granule - 1); }
[[maybe_unused]] uintptr_t RoundDown(uintptr_t x, uintptr_t granule) { return x & ~(granule - 1); }

size_t HugeMappingBytes(size_t bytes) { return RoundUp(bytes, kHugePageBytes); }

#if defined(__linux__)
// madvise(advice) on the whole `granule`s of [data, data + bytes), if there are any.
[[maybe_unused]] void AdviseWhole(const void* data, size_t bytes, uintptr_t granule, int advice) {
  const auto begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = RoundUp(begin, granule);
  const uintptr_t last = RoundDown(begin + bytes, granule);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, advice);
}
#endif

}  // namespace

void AdviseHugePages(const void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes < 2 * kHugePageBytes) return;
  AdviseWhole(data, bytes, kHugePageBytes, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

void PrefaultForWrite(const void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
  static const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  AdviseWhole(data, bytes, page, MADV_POPULATE_WRITE);
#else
  (void)data;
  (void)bytes;
#endif
}

void ReadyHeap(size_t bytes) {
#if defined(__GLIBC__)
  // Setting either threshold also turns off glibc's adjusting of them at run time.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  if (bytes == 0) return;
  // Freed, the block joins the heap's top, which is no longer trimmed: the next allocations are
  // carved from these pages.
  void* block = std::malloc(bytes);
  if (block == nullptr) return;
  PrefaultForWrite(block, bytes);
  std::free(block);
#else
  (void)bytes;
#endif
}

void* MapHugePages(size_t bytes) {
#if defined(__linux__)
  const size_t size = HugeMappingBytes(bytes);
  // Over-map by one huge page and trim both ends to the boundary.
  void* raw = mmap(nullptr, size + kHugePageBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = RoundUp(begin, kHugePageBytes);
  if (aligned > begin) munmap(raw, aligned - begin);
  const uintptr_t tail = begin + size + kHugePageBytes - (aligned + size);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
#if defined(MADV_HUGEPAGE)
  madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
#endif
  return reinterpret_cast<void*>(aligned);
#else
  return std::aligned_alloc(kHugePageBytes, HugeMappingBytes(bytes));
#endif
}

void UnmapHugePages(void* data, size_t bytes) {
#if defined(__linux__)
  munmap(data, HugeMappingBytes(bytes));
#else
  (void)bytes;
  std::free(data);
#endif
}

}  // namespace backtest::engine
