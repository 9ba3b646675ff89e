// Asks the kernel to back large buffers with transparent huge pages (Linux, THP in "madvise"
// mode): the per-bar arrays (bar columns, equity, EMA) are MBs written once, and faulting them in
// 4 KiB pages costs more than filling them. A hint only; a no-op elsewhere or when it fails.
#ifndef BACKTEST_SERVER_ENGINE_UTIL_HUGE_PAGES_H_
#define BACKTEST_SERVER_ENGINE_UTIL_HUGE_PAGES_H_

#include <cstddef>

namespace backtest::engine {

// Advises huge pages for the 2 MiB-aligned part of [data, data + bytes) when it is ≥ 4 MiB.
void AdviseHugePages(const void* data, size_t bytes);

// Faults in the whole pages of [data, data + bytes) for writing, in one call (Linux 5.14+
// MADV_POPULATE_WRITE; a no-op where unsupported): the same pages a writer would fault in one at
// a time, at ~3/4 of the cost in this VM (no trap per page). For a buffer about to be written
// whole.
void PrefaultForWrite(const void* data, size_t bytes);

// Readies `bytes` of this process's malloc heap for what it allocates next: faults them in now
// (PrefaultForWrite) and keeps them, and from then on takes blocks up to 32 MiB from the heap
// instead of a fresh mapping each (glibc's default above 128 KiB), freed memory staying in it.
// For an idle process about to run a job of about that size: the job then writes memory that is
// already there (in this VM a 4 KiB page's first touch costs ~2 µs). A no-op without glibc.
void ReadyHeap(size_t bytes);

// The size of a huge page (2 MiB): the granule of MapHugePages.
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// Maps `bytes` of zeroed memory, rounded up to whole huge pages, at a huge page boundary, advised
// huge pages: each 2 MiB is then one page fault and one zeroing instead of 512 (in this VM a 4 KiB
// fault costs ~2 µs, a 2 MiB one ~60 µs). Only pages written are backed, whole huge pages at a
// time. nullptr when the mapping fails. Free with UnmapHugePages(p, the same bytes).
void* MapHugePages(size_t bytes);
void UnmapHugePages(void* data, size_t bytes);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_UTIL_HUGE_PAGES_H_
