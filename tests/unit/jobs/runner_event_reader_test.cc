// A result and its digest as the job path takes them (docs/runner-protocol.md): the digest in
// the result, or in a ResultDigestEvent after a result that came without one. The result is whole
// only with its digest; a digest nobody waits for, or one that is no SHA-256 hex, is a protocol
// error.
#include "server/jobs/runner_event_reader.h"

#include <string>
#include <vector>

#include "backtest/runner/v1/runner.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace backtest::jobs {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class RecordingSink : public RunnerEventReader::Sink {
 public:
  void FlushQueued() override {}
  absl::Status StoreTraceRows(const std::vector<db::TraceRowRecord>&) override {
    return absl::OkStatus();
  }
  absl::Status StoreDataset(const backtest::runner::v1::DatasetEvent&) override {
    return absl::OkStatus();
  }
  absl::Status StoreResult(std::string, const backtest::runner::v1::RunOutput& facts) override {
    results.push_back(facts.digest());
    return absl::OkStatus();
  }
  absl::Status StoreDigest(const std::string& digest) override {
    digests.push_back(digest);
    return digest_status;
  }

  std::vector<std::string> results;  // each stored result's digest as it came
  std::vector<std::string> digests;  // digests stored apart
  absl::Status digest_status;
};

std::string Result(const std::string& digest) {
  backtest::runner::v1::RunnerEvent e;
  e.mutable_result()->set_strategy("sma_cross");
  e.mutable_result()->set_digest(digest);
  return e.SerializeAsString();
}

std::string Digest(const std::string& digest) {
  backtest::runner::v1::RunnerEvent e;
  e.mutable_result_digest()->set_digest(digest);
  return e.SerializeAsString();
}

const std::string kDigest(64, 'a');

class RunnerEventReaderTest : public ::testing::Test {
 protected:
  RecordingSink sink_;
  RunnerEventReader reader_{sink_, [] { return int64_t{1000}; }, 1000};
};

TEST_F(RunnerEventReaderTest, AResultWithItsDigestIsWhole) {
  reader_.Handle(Result(kDigest));
  EXPECT_TRUE(reader_.got_result());
  EXPECT_EQ(sink_.results, std::vector<std::string>{kDigest});
  EXPECT_THAT(sink_.digests, IsEmpty());
}

TEST_F(RunnerEventReaderTest, AResultWithoutItsDigestIsWholeWhenTheDigestComes) {
  reader_.Handle(Result(""));
  EXPECT_EQ(sink_.results.size(), 1u);
  EXPECT_FALSE(reader_.got_result());  // a run that ended here would have no result
  reader_.Handle(Digest(kDigest));
  EXPECT_TRUE(reader_.got_result());
  EXPECT_EQ(sink_.digests, std::vector<std::string>{kDigest});
  EXPECT_THAT(reader_.protocol_error(), IsEmpty());
}

TEST_F(RunnerEventReaderTest, ADigestWithoutAResultWaitingForItIsAProtocolError) {
  reader_.Handle(Digest(kDigest));
  EXPECT_THAT(reader_.protocol_error(), HasSubstr("without a result waiting for one"));
  EXPECT_FALSE(reader_.got_result());
  EXPECT_THAT(sink_.digests, IsEmpty());
}

TEST_F(RunnerEventReaderTest, ASecondDigestIsAProtocolError) {
  reader_.Handle(Result(kDigest));
  reader_.Handle(Digest(std::string(64, 'b')));
  EXPECT_THAT(reader_.protocol_error(), HasSubstr("without a result waiting for one"));
  EXPECT_THAT(sink_.digests, IsEmpty());
}

TEST_F(RunnerEventReaderTest, ADigestThatIsNoSha256HexIsAProtocolError) {
  for (const std::string& bad : {std::string(63, 'a'), std::string(64, 'A'), std::string(65, 'a'),
                                 std::string(63, 'a') + "g", std::string()}) {
    RecordingSink sink;
    RunnerEventReader reader(sink, [] { return int64_t{1000}; }, 1000);
    reader.Handle(Result(""));
    reader.Handle(Digest(bad));
    EXPECT_THAT(reader.protocol_error(), HasSubstr("not 64 lower-case hex digits")) << bad;
    EXPECT_FALSE(reader.got_result()) << bad;
    EXPECT_THAT(sink.digests, IsEmpty()) << bad;
  }
}

TEST_F(RunnerEventReaderTest, ADigestTheStoreCannotTakeFailsTheResult) {
  sink_.digest_status = absl::UnavailableError("disk full");
  reader_.Handle(Result(""));
  reader_.Handle(Digest(kDigest));
  EXPECT_FALSE(reader_.got_result());
  EXPECT_THAT(reader_.result_error(), HasSubstr("disk full"));
  EXPECT_THAT(reader_.protocol_error(), IsEmpty());
}

}  // namespace
}  // namespace backtest::jobs
