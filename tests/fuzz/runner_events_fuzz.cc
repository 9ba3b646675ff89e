// Fuzz target: the runner's event stream as the server reads it, FrameDecoder (length-delimited
// frames) and backtest.runner.v1.RunnerEvent, plus RunSpec and ServerMessage (what a runner reads).
//
// Input: one byte that chooses how the stream is cut into reads, then the stream.
//
// Invariants checked on every input:
// - the frames do not depend on how the stream arrives (all at once, or in reads of 1 to 256
//   bytes, as a pipe delivers it);
// - the frames, framed again with AppendFrame, are exactly the bytes consumed, and buffered()
//   counts the rest; a frame over the limit is refused with DataLoss and nothing else is;
// - a decoded message serialises (deterministically) to bytes that decode to an equal message
//   and serialise to the same bytes again.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "backtest/runner/v1/runner.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/jobs/frame_codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace backtest::jobs {
namespace {

struct Decoded {
  std::vector<std::string> frames;
  absl::Status error;  // DataLoss if a frame was over the limit
  size_t buffered = 0;
};

// Reads `stream` in pieces of `cuts` sizes (cycled; empty: all at once), as the server's loop
// does: append what arrived, then take frames until one is incomplete or refused.
Decoded Decode(absl::string_view stream, const std::vector<size_t>& cuts, uint32_t limit) {
  FrameDecoder decoder(limit);
  Decoded out;
  size_t pos = 0;
  size_t cut = 0;
  while (pos < stream.size() && out.error.ok()) {
    size_t n = cuts.empty() ? stream.size() : cuts[cut++ % cuts.size()];
    n = std::min(n, stream.size() - pos);
    decoder.Append(stream.data() + pos, n);
    pos += n;
    while (true) {
      auto frame = decoder.Next();
      if (!frame.ok()) {
        out.error = frame.status();
        break;
      }
      if (!frame->has_value()) break;
      out.frames.push_back(**std::move(frame));
    }
  }
  out.buffered = decoder.buffered();
  return out;
}

uint32_t LengthAt(absl::string_view s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

void CheckFraming(absl::string_view stream, const Decoded& d, uint32_t limit) {
  std::string again;
  for (const std::string& f : d.frames) AppendFrame(f, &again);
  FUZZ_CHECK(absl::string_view(stream).substr(0, again.size()) == again,
             "frames re-encode to other bytes");
  if (d.error.ok()) {
    FUZZ_CHECK(again.size() + d.buffered == stream.size(),
               absl::StrCat(again.size(), " + ", d.buffered, " != ", stream.size()));
    // What is left is an incomplete frame.
    const size_t rest = stream.size() - again.size();
    FUZZ_CHECK(rest < 4 || 4 + size_t{LengthAt(stream, again.size())} > rest,
               absl::StrCat(rest, " bytes left hold a whole frame"));
  } else {
    FUZZ_CHECK(d.error.code() == absl::StatusCode::kDataLoss, d.error.ToString());
    FUZZ_CHECK(stream.size() - again.size() >= 4 && LengthAt(stream, again.size()) > limit,
               d.error.ToString());
  }
}

std::string Deterministic(const google::protobuf::MessageLite& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    FUZZ_CHECK(m.SerializeToCodedStream(&coded), "serialize");
  }
  return out;
}

template <typename Message>
void CheckMessageRoundTrip(const std::string& frame) {
  Message first;
  if (!first.ParseFromString(frame)) return;
  const std::string bytes = Deterministic(first);
  Message second;
  FUZZ_CHECK(second.ParseFromString(bytes), first.GetTypeName());
  // Results carry NaN where a statistic is undefined; NaN equals NaN here.
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  FUZZ_CHECK(differencer.Compare(first, second),
             first.ShortDebugString().substr(0, 400));
  FUZZ_CHECK(Deterministic(second) == bytes, first.GetTypeName());
}

}  // namespace
}  // namespace backtest::jobs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace backtest::jobs;
  if (size < 1) return 0;
  const absl::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  const std::vector<size_t> cuts = backtest::fuzz::ReadSizes(data[0], 256);

  const Decoded whole = Decode(stream, {}, kMaxFrameBytes);
  CheckFraming(stream, whole, kMaxFrameBytes);
  const Decoded pieces = Decode(stream, cuts, kMaxFrameBytes);
  FUZZ_CHECK(pieces.frames == whole.frames && pieces.error == whole.error &&
                 (!whole.error.ok() || pieces.buffered == whole.buffered),
             absl::StrCat(pieces.frames.size(), " frames in pieces, ", whole.frames.size(),
                          " at once"));

  // A small limit (the runner reads its spec with 1 MiB) refuses exactly the larger frames.
  const uint32_t small = 64;
  const Decoded limited = Decode(stream, cuts, small);
  CheckFraming(stream, limited, small);

  for (const std::string& frame : whole.frames) {
    CheckMessageRoundTrip<backtest::runner::v1::RunnerEvent>(frame);
    CheckMessageRoundTrip<backtest::runner::v1::RunSpec>(frame);
    CheckMessageRoundTrip<backtest::runner::v1::ServerMessage>(frame);
  }
  return 0;
}
