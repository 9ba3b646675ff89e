// A whole file mapped read-only, for parsing it in place: no copy into a buffer, no fresh pages to
// fault in and zero (reading a 4.7 MB CSV this way instead of read(2) takes a fifth off a
// 100k-bar run of the engine CLI).
//
// A mapped file that another process truncates meanwhile would kill the process with SIGBUS on
// the first access past its new end. Here a SIGBUS inside a live mapping is answered by mapping
// zero pages over the rest of that mapping: the reader goes on, sees NUL bytes, and Changed()
// tells afterwards that what it read is not the file. A SIGBUS anywhere else gets the action that
// was installed before (by default the process ends, as it would have).
#ifndef BACKTEST_SERVER_ENGINE_UTIL_MAPPED_FILE_H_
#define BACKTEST_SERVER_ENGINE_UTIL_MAPPED_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace backtest::engine {

class MappedFile {
 public:
  // The file's bytes as of opening it (a file that grows meanwhile is read to its size then).
  // NotFound when it does not exist; FailedPrecondition when it is not a regular file or cannot
  // be opened or mapped; ResourceExhausted when every guard slot is taken (64 mappings open at
  // once in one process).
  static absl::StatusOr<MappedFile> Open(const std::string& path);
  // The same for a file already open for reading; takes the descriptor (closed before it returns).
  // `path` names the file in errors.
  static absl::StatusOr<MappedFile> FromFd(int fd, const std::string& path);
  // The descriptor Open maps: `path` opened read-only (close-on-exec, and non-blocking, so that a
  // FIFO named like a data file cannot hang its reader). NotFound when it does not exist,
  // FailedPrecondition naming the path and the error otherwise.
  static absl::StatusOr<int> OpenForReading(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) = delete;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  absl::string_view text() const { return {data_, size_}; }
  // Whether the file shrank under the mapping (a SIGBUS was answered with zero pages): what was
  // read is then not the file's content.
  bool Changed() const;

 private:
  MappedFile() = default;

  const char* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // whole pages
  int slot_ = -1;      // guard slot, -1 when nothing is mapped (an empty file)
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_UTIL_MAPPED_FILE_H_
