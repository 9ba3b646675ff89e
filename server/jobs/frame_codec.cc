#include "server/jobs/frame_codec.h"

#include "absl/strings/str_cat.h"

namespace backtest::jobs {

void AppendFrameHeader(size_t size, std::string* out) {
  const auto n = static_cast<uint32_t>(size);
  const char header[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                          static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
  out->append(header, 4);
}

void AppendFrame(absl::string_view payload, std::string* out) {
  AppendFrameHeader(payload.size(), out);
  out->append(payload.data(), payload.size());
}

void FrameDecoder::Append(const char* data, size_t size) {
  // Drop consumed bytes before growing, so the buffer holds at most one partial frame's worth.
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(data, size);
}

absl::StatusOr<std::optional<std::string>> FrameDecoder::Next() {
  if (buffered() < 4) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + start_);
  uint32_t n = uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) |
               (uint32_t{p[3]} << 24);
  if (n > max_frame_bytes_) {
    return absl::DataLossError(
        absl::StrCat("runner sent a frame of ", n, " bytes (limit ", max_frame_bytes_, ")"));
  }
  if (buffered() < 4 + size_t{n}) {
    // Room for the whole frame at once: a result of megabytes arrives in 64 KB reads, and
    // growing by doubling would copy it over and over.
    buffer_.reserve(start_ + 4 + size_t{n});
    return std::nullopt;
  }
  std::string payload = buffer_.substr(start_ + 4, n);
  start_ += 4 + n;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  return payload;
}

}  // namespace backtest::jobs
