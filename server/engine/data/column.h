// The storage of a bar series' columns, and of the other large arrays a run fills once (trades,
// markers): std::vector with ColumnAllocator, which differs from std::allocator in two ways that
// matter for filling millions of rows:
// - an array of kHugeColumnBytes or more lives on huge pages (util/huge_pages.h): a 1M-row column
//   is 4 page faults instead of 2,000 (in this VM a 4 KiB fault costs ~2 µs, a 2 MiB one 60-150);
// - resize(n) leaves new elements of a trivial type unwritten (default-initialization, as
//   `new double[n]` does), so a reader can size a column once and let threads write disjoint
//   parts of it: the pages are touched by the thread that writes them, not by a serial zero-fill.
//   (Class types are default-constructed: `emplace_back()` of a struct leaves a member without an
//   initializer unwritten, so the structs kept in Columns — Trade, Marker — give every member one.)
// Everything else is a std::vector: resize(n, value), assign and push_back write what they say.
#ifndef BACKTEST_SERVER_ENGINE_DATA_COLUMN_H_
#define BACKTEST_SERVER_ENGINE_DATA_COLUMN_H_

#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "server/engine/util/huge_pages.h"

namespace backtest::engine {

// Arrays from this size on are mapped on huge pages. Not smaller ones: a huge page is zeroed whole
// (a 100k-row column of 800 KB would cost 2 MB), and right after a large process has exited (as
// the engine CLI runs after backtrader in bench/compare_backtrader) a huge page fault may wait for
// the kernel to compact memory: with 512 KB here that run's 100k-bar load took 17 ms, not 9.
inline constexpr size_t kHugeColumnBytes = size_t{4} << 20;

template <typename T>
class ColumnAllocator {
 public:
  using value_type = T;

  ColumnAllocator() = default;
  template <typename U>
  ColumnAllocator(const ColumnAllocator<U>&) noexcept {}  // NOLINT: converting, as allocators are

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes >= kHugeColumnBytes) {
      if (void* p = MapHugePages(bytes)) return static_cast<T*>(p);
      throw std::bad_alloc();
    }
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) >= kHugeColumnBytes) {
      UnmapHugePages(p, n * sizeof(T));
    } else {
      std::allocator<T>().deallocate(p, n);
    }
  }

  // Value-initialization (resize(n), the vector(n) constructor) leaves the element unwritten.
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  template <typename U>
  bool operator==(const ColumnAllocator<U>&) const noexcept {
    return true;
  }
};

template <typename T>
using Column = std::vector<T, ColumnAllocator<T>>;

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_COLUMN_H_
