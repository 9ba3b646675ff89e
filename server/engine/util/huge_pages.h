// Asks the kernel to back a large buffer with transparent huge pages (Linux, THP in "madvise"
// mode): the result's per-bar arrays (equity, EMA) are tens of MB written once, and faulting them
// in 4 KiB pages costs more than filling them. A hint only; a no-op elsewhere or when it fails.
#ifndef BACKTEST_SERVER_ENGINE_UTIL_HUGE_PAGES_H_
#define BACKTEST_SERVER_ENGINE_UTIL_HUGE_PAGES_H_

#include <cstddef>

namespace backtest::engine {

// Advises huge pages for the 2 MiB-aligned part of [data, data + bytes) when it is ≥ 4 MiB.
void AdviseHugePages(const void* data, size_t bytes);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_UTIL_HUGE_PAGES_H_
