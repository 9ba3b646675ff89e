// RunnerStream: the runner protocol's checks on the server's side (docs/runner-protocol.md): the
// handshake (a runner of another version, or of version 1 without one, is refused), sequence
// numbers, parts joined, the end kept, nothing after it.
#include "server/jobs/runner_stream.h"

#include <string>
#include <vector>

#include "backtest/runner/v1/runner.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/jobs/frame_codec.h"

namespace backtest::jobs {
namespace {

namespace v1 = backtest::runner::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Frame(v1::RunnerEvent event, uint64_t seq) {
  if (seq > 0) event.set_seq(seq);
  std::string out;
  AppendFrame(event.SerializeAsString(), &out);
  return out;
}

v1::RunnerEvent Hello(int version) {
  v1::RunnerEvent e;
  e.mutable_hello()->set_protocol_version(version);
  e.mutable_hello()->set_runner("test");
  return e;
}

v1::RunnerEvent Log(const std::string& text) {
  v1::RunnerEvent e;
  e.mutable_log()->set_level("info");
  e.mutable_log()->set_text(text);
  return e;
}

v1::RunnerEvent End(v1::RunEnd::Outcome outcome) {
  v1::RunnerEvent e;
  e.mutable_end()->set_outcome(outcome);
  return e;
}

struct Read {
  std::vector<v1::RunnerEvent> events;
  RunnerStream stream;

  void Feed(const std::string& bytes) {
    stream.Feed(bytes.data(), bytes.size(), [&](std::string event) {
      v1::RunnerEvent e;
      ASSERT_TRUE(e.ParseFromString(event));
      events.push_back(e);
    });
  }
};

TEST(RunnerStreamTest, AHelloNumberedEventsAndAnEnd) {
  Read r;
  r.Feed(Frame(Hello(kRunnerProtocolVersion), 1) + Frame(Log("a"), 2) +
         Frame(End(v1::RunEnd::OUTCOME_FINISHED), 3));
  r.stream.Close();
  EXPECT_THAT(r.stream.protocol_error(), IsEmpty());
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_TRUE(r.events[0].has_hello());
  EXPECT_EQ(r.events[1].log().text(), "a");
  ASSERT_TRUE(r.stream.end().has_value());
  EXPECT_EQ(r.stream.end()->outcome, v1::RunEnd::OUTCOME_FINISHED);
}

TEST(RunnerStreamTest, ARunnerOfAnotherVersionIsRefused) {
  Read r;
  r.Feed(Frame(Hello(3), 1) + Frame(Log("a"), 2));
  EXPECT_THAT(r.stream.protocol_error(), HasSubstr("speaks protocol version 3"));
  EXPECT_THAT(r.stream.protocol_error(), HasSubstr("this server speaks version 2"));
  EXPECT_TRUE(r.events.empty());  // nothing of it is taken
}

TEST(RunnerStreamTest, ARunnerOfVersionOneWithoutAHelloIsRefused) {
  v1::RunnerEvent heartbeat;
  heartbeat.mutable_heartbeat()->set_time_ms(1);
  Read r;
  r.Feed(Frame(heartbeat, 0));
  EXPECT_THAT(r.stream.protocol_error(), HasSubstr("older protocol (version 1"));
  EXPECT_TRUE(r.events.empty());
}

TEST(RunnerStreamTest, AGapARepeatOrAMissingNumberIsAProtocolError) {
  for (uint64_t seq : {3u, 1u, 0u}) {
    Read r;
    r.Feed(Frame(Hello(kRunnerProtocolVersion), 1) + Frame(Log("a"), seq) + Frame(Log("b"), 4));
    EXPECT_THAT(r.stream.protocol_error(), HasSubstr(seq == 0 ? "without its number" : "was due"))
        << seq;
    EXPECT_EQ(r.events.size(), 1u) << seq;  // the hello only
  }
}

TEST(RunnerStreamTest, NothingAfterTheEnd) {
  Read r;
  r.Feed(Frame(Hello(kRunnerProtocolVersion), 1) + Frame(End(v1::RunEnd::OUTCOME_FAILED), 2) +
         Frame(Log("late"), 3));
  EXPECT_THAT(r.stream.protocol_error(), HasSubstr("after the run's end"));
  EXPECT_EQ(r.stream.end()->outcome, v1::RunEnd::OUTCOME_FAILED);
}

TEST(RunnerStreamTest, PartsAreJoinedIntoTheirEventFedInAnyPieces) {
  v1::RunnerEvent big = Log(std::string(2500, 'x'));
  const std::string whole = big.SerializeAsString();
  std::string stream = Frame(Hello(kRunnerProtocolVersion), 1);
  uint64_t seq = 2;
  for (size_t at = 0; at < whole.size(); at += 1000) {
    v1::RunnerEvent part;
    part.mutable_part()->set_data(whole.substr(at, 1000));
    part.mutable_part()->set_last(at + 1000 >= whole.size());
    part.mutable_part()->set_total_bytes(static_cast<int64_t>(whole.size()));
    stream += Frame(part, seq++);
  }
  stream += Frame(Log("after"), seq++);
  Read r;
  for (size_t at = 0; at < stream.size(); at += 7) r.Feed(stream.substr(at, 7));
  r.stream.Close();
  EXPECT_THAT(r.stream.protocol_error(), IsEmpty());
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[1].log().text(), std::string(2500, 'x'));
  EXPECT_EQ(r.events[2].log().text(), "after");
}

TEST(RunnerStreamTest, PartsThatDoNotAddUpOrAnEventAmongThemAreRefused) {
  const std::string whole = Log(std::string(100, 'x')).SerializeAsString();
  auto part = [&](size_t from, size_t n, bool last, int64_t total) {
    v1::RunnerEvent e;
    e.mutable_part()->set_data(whole.substr(from, n));
    e.mutable_part()->set_last(last);
    e.mutable_part()->set_total_bytes(total);
    return e;
  };
  const std::string hello = Frame(Hello(kRunnerProtocolVersion), 1);
  {
    Read r;  // short of its total
    r.Feed(hello + Frame(part(0, 50, true, static_cast<int64_t>(whole.size())), 2));
    EXPECT_THAT(r.stream.protocol_error(), HasSubstr("do not add up"));
  }
  {
    Read r;  // another event between parts
    r.Feed(hello + Frame(part(0, 50, false, static_cast<int64_t>(whole.size())), 2) +
           Frame(Log("x"), 3));
    EXPECT_THAT(r.stream.protocol_error(), HasSubstr("between the parts"));
  }
  {  // over the limit
    RunnerStream small(64);
    std::string bytes = hello + Frame(part(0, 50, false, 1000), 2);
    small.Feed(bytes.data(), bytes.size(), [](std::string) {});
    EXPECT_THAT(small.protocol_error(), HasSubstr("an event of 1000 bytes (limit 64)"));
  }
}

TEST(RunnerStreamTest, AFrameCutByTheEndOfTheStream) {
  Read r;
  const std::string log = Frame(Log("abc"), 2);
  r.Feed(Frame(Hello(kRunnerProtocolVersion), 1) + log.substr(0, log.size() - 1));
  r.stream.Close();
  EXPECT_TRUE(r.stream.stream_cut());
  EXPECT_THAT(r.stream.protocol_error(), HasSubstr("ended inside a frame"));
}

TEST(RunnerStreamTest, TheSpecFrameCarriesTheProtocolVersion) {
  v1::RunSpec spec;
  spec.set_job_id("j");
  const std::string frame = SpecFrame(spec);
  FrameDecoder decoder;
  decoder.Append(frame.data(), frame.size());
  auto payload = decoder.Next();
  ASSERT_TRUE(payload.ok() && payload->has_value());
  v1::ServerMessage message;
  ASSERT_TRUE(message.ParseFromString(**payload));
  EXPECT_EQ(message.spec().job_id(), "j");
  EXPECT_EQ(message.spec().protocol_version(), kRunnerProtocolVersion);
}

}  // namespace
}  // namespace backtest::jobs
