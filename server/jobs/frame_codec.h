// Length-delimited frames for the runner protocol: a 4-byte little-endian length, then that many
// bytes (a serialized protobuf message).
//
// FrameDecoder is not thread-safe; one reader owns it.
#ifndef BACKTEST_SERVER_JOBS_FRAME_CODEC_H_
#define BACKTEST_SERVER_JOBS_FRAME_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace backtest::jobs {

// Frames larger than this are refused (a 1M-bar result is ~60 MB).
inline constexpr uint32_t kMaxFrameBytes = 512u << 20;

// Appends one frame holding `payload` to `out`.
void AppendFrame(absl::string_view payload, std::string* out);
// Appends the header of a frame of `size` bytes (the caller appends the payload).
void AppendFrameHeader(size_t size, std::string* out);

// Splits a byte stream into frames.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_bytes = kMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  // Adds bytes read from the stream.
  void Append(const char* data, size_t size);

  // The next complete frame's payload, nullopt when more bytes are needed, or DataLoss when the
  // stream announces a frame over the limit (the stream is then unusable).
  absl::StatusOr<std::optional<std::string>> Next();

  // Bytes received but not yet returned as frames (a partial frame at end of stream).
  size_t buffered() const { return buffer_.size() - start_; }

 private:
  uint32_t max_frame_bytes_;
  std::string buffer_;
  size_t start_ = 0;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_FRAME_CODEC_H_
