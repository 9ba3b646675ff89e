#include "server/jobs/runner_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "backtest/runner/v1/runner.pb.h"
#include "google/protobuf/wire_format_lite.h"

namespace backtest::jobs {
namespace {

using backtest::runner::v1::RunnerEvent;
using google::protobuf::internal::WireFormatLite;

// What the server reads of every frame before anything else: the kind of event (the field
// number of RunnerEvent's oneof that is set, 0 for none) and its number, without parsing the
// event itself (a result's megabytes are only skipped).
struct Envelope {
  int field = 0;
  uint64_t seq = 0;
};

// The varint at p (before end) into *v; the byte after it, or nullptr when it is malformed.
const uint8_t* ReadVarint(const uint8_t* p, const uint8_t* end, uint64_t* v) {
  uint64_t x = 0;
  for (int shift = 0; p < end && shift < 64; shift += 7) {
    const uint8_t b = *p++;
    x |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) {
      *v = x;
      return p;
    }
  }
  return nullptr;
}

// Every frame's fields walked once, by hand (a thousand frames a job: no CodedInputStream each),
// the length-delimited ones skipped, not read.
bool ReadEnvelope(const std::string& bytes, Envelope* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t* const end = p + bytes.size();
  while (p < end) {
    uint64_t tag = 0;
    if ((p = ReadVarint(p, end, &tag)) == nullptr) return false;
    const uint64_t field = tag >> 3;
    const auto wire_type = static_cast<WireFormatLite::WireType>(tag & 7);
    if (field == 0 || field > 536870911) return false;
    if (field == RunnerEvent::kSeqFieldNumber && wire_type == WireFormatLite::WIRETYPE_VARINT) {
      if ((p = ReadVarint(p, end, &out->seq)) == nullptr) return false;
      continue;
    }
    if (out->field == 0) out->field = static_cast<int>(field);
    uint64_t n = 0;
    switch (wire_type) {
      case WireFormatLite::WIRETYPE_VARINT:
        if ((p = ReadVarint(p, end, &n)) == nullptr) return false;
        break;
      case WireFormatLite::WIRETYPE_FIXED64:
        if (end - p < 8) return false;
        p += 8;
        break;
      case WireFormatLite::WIRETYPE_LENGTH_DELIMITED:
        if ((p = ReadVarint(p, end, &n)) == nullptr || n > static_cast<uint64_t>(end - p)) {
          return false;
        }
        p += n;
        break;
      case WireFormatLite::WIRETYPE_FIXED32:
        if (end - p < 4) return false;
        p += 4;
        break;
      default:
        return false;  // groups: no message of the protocol has one
    }
  }
  return true;
}

std::string Framed(const backtest::runner::v1::ServerMessage& message) {
  std::string frame;
  AppendFrame(message.SerializeAsString(), &frame);
  return frame;
}

}  // namespace

std::string SpecFrame(const backtest::runner::v1::RunSpec& spec) {
  backtest::runner::v1::ServerMessage message;
  *message.mutable_spec() = spec;
  message.mutable_spec()->set_protocol_version(kRunnerProtocolVersion);
  return Framed(message);
}

std::string PrefetchFrame(const backtest::runner::v1::RunSpec& like) {
  backtest::runner::v1::ServerMessage message;
  *message.mutable_prefetch() = like;
  return Framed(message);
}

std::string CancelFrame() {
  backtest::runner::v1::ServerMessage message;
  message.mutable_cancel()->set_reason("cancelled by the server");
  return Framed(message);
}

void RunnerStream::Feed(const char* data, size_t size,
                        const std::function<void(std::string)>& on_event) {
  if (!protocol_error_.empty()) return;
  decoder_.Append(data, size);
  while (protocol_error_.empty()) {
    auto frame = decoder_.Next();
    if (!frame.ok()) {
      Error(std::string(frame.status().message()));
      return;
    }
    if (!frame->has_value()) return;
    Handle(*std::move(*frame), on_event);
  }
}

void RunnerStream::Close() {
  if (decoder_.buffered() > 0 && protocol_error_.empty()) {
    stream_cut_ = true;
    Error(absl::StrCat("event stream ended inside a frame (", decoder_.buffered(), " bytes)"));
  }
}

void RunnerStream::Handle(std::string frame, const std::function<void(std::string)>& on_event) {
  Envelope envelope;
  if (!ReadEnvelope(frame, &envelope)) return Error("an event could not be decoded");
  if (!hello_) {
    // The handshake: before anything else, the runner's protocol version.
    if (envelope.field != RunnerEvent::kHelloFieldNumber) {
      return Error(absl::StrCat(
          "the runner speaks an older protocol (version 1: its first event is no hello); this "
          "server speaks version ", kRunnerProtocolVersion,
          ": install the runner (backtest-runner, the SDK) of this backtestd"));
    }
    RunnerEvent hello;
    if (!hello.ParseFromString(frame)) return Error("the runner's hello could not be decoded");
    if (hello.hello().protocol_version() != kRunnerProtocolVersion) {
      return Error(absl::StrCat(
          "the runner (", hello.hello().runner().substr(0, 64), ") speaks protocol version ",
          hello.hello().protocol_version(), "; this server speaks version ",
          kRunnerProtocolVersion, ": install the runner (backtest-runner, the SDK) of this backtestd"));
    }
    hello_ = true;
  }
  if (envelope.seq != next_seq_) {
    return Error(envelope.seq == 0
                     ? absl::StrCat("event ", next_seq_, " came without its number")
                     : absl::StrCat("event ", envelope.seq, " came where ", next_seq_,
                                    " was due (an event lost, repeated or out of order)"));
  }
  ++next_seq_;
  if (end_.has_value()) return Error("an event after the run's end");
  if (envelope.field == RunnerEvent::kPartFieldNumber) {
    RunnerEvent part;
    if (!part.ParseFromString(frame)) return Error("an event part could not be decoded");
    const auto& p = part.part();
    if (joined_total_ < 0) {
      if (p.total_bytes() <= 0 || static_cast<uint64_t>(p.total_bytes()) > max_event_bytes_) {
        return Error(absl::StrCat("an event of ", p.total_bytes(), " bytes (limit ",
                                  max_event_bytes_, ")"));
      }
      joined_total_ = p.total_bytes();
      joined_.reserve(static_cast<size_t>(joined_total_));
    }
    if (p.total_bytes() != joined_total_ ||
        joined_.size() + p.data().size() > static_cast<size_t>(joined_total_) ||
        (p.last() && joined_.size() + p.data().size() != static_cast<size_t>(joined_total_))) {
      return Error("an event's parts do not add up to its size");
    }
    joined_ += p.data();
    if (!p.last()) return;
    std::string event = std::move(joined_);
    joined_.clear();
    joined_total_ = -1;
    Envelope inner;
    if (!ReadEnvelope(event, &inner) || inner.field == RunnerEvent::kPartFieldNumber) {
      return Error("an event made of parts could not be decoded");
    }
    return Deliver(std::move(event), inner.field, on_event);
  }
  if (joined_total_ >= 0) return Error("an event came between the parts of another");
  Deliver(std::move(frame), envelope.field, on_event);
}

void RunnerStream::Deliver(std::string event, int field,
                           const std::function<void(std::string)>& on_event) {
  if (field == RunnerEvent::kEndFieldNumber) {
    RunnerEvent end;
    if (!end.ParseFromString(event)) return Error("the run's end could not be decoded");
    end_ = RunEndFrame{end.end().outcome(), end.end().code(), end.end().message()};
  }
  on_event(std::move(event));
}

}  // namespace backtest::jobs
