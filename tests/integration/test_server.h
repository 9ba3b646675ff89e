// A real backtestd in-process on 127.0.0.1 with an ephemeral port and a private temp dir, plus
// stubs that send the bootstrap staff token. Runner processes are the built backtest-runner.
#ifndef BACKTEST_TESTS_INTEGRATION_TEST_SERVER_H_
#define BACKTEST_TESTS_INTEGRATION_TEST_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "backtest/v1/backtest_service.grpc.pb.h"
#include "backtest/v1/preset_service.grpc.pb.h"
#include "backtest/v1/trace_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/testing/project_dirs.h"
#include "tests/testing/temp_dir.h"

namespace backtest::testing {

class TestServer {
 public:
  explicit TestServer(ServerOptions options = {}) : options_(std::move(options)) {
    options_.listen = "127.0.0.1:0";
    options_.db_path = dir_.File("var/backtest.db");
    options_.runner_path = BinDir() + "/backtest-runner";
  }
  ~TestServer() { Stop(); }

  ServerOptions& options() { return options_; }
  const TempDir& dir() const { return dir_; }

  void Start() {
    auto server = Server::Start(options_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    std::ifstream token(server_->token_file());
    std::getline(token, admin_token_);
    // Large results (1M bars) exceed gRPC's default 4 MB receive limit.
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(512 << 20);
    channel_ = grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(),
                                         args);
    jobs_ = backtest::v1::BacktestService::NewStub(channel_);
    presets_ = backtest::v1::PresetService::NewStub(channel_);
    traces_ = backtest::v1::TraceService::NewStub(channel_);
  }
  void Stop() {
    jobs_.reset();
    presets_.reset();
    traces_.reset();
    channel_.reset();
    server_.reset();
  }
  void Restart() {
    Stop();
    Start();
  }

  Server& server() { return *server_; }
  const std::string& admin_token() const { return admin_token_; }
  backtest::v1::BacktestService::Stub& jobs() { return *jobs_; }
  backtest::v1::PresetService::Stub& presets() { return *presets_; }
  backtest::v1::TraceService::Stub& traces() { return *traces_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }

  // A client context carrying `token` (the admin token when empty) and a deadline.
  std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "",
                                               int deadline_seconds = 60) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Token " + (token.empty() ? admin_token_ : token));
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(deadline_seconds));
    return context;
  }

  // RunBacktest with string parameters as the admin; the job's id, or empty with a test failure.
  std::string Submit(const std::map<std::string, std::string>& params) {
    backtest::v1::RunBacktestRequest request;
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    backtest::v1::RunBacktestResponse response;
    grpc::Status s = jobs_->RunBacktest(Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.job_id();
  }

  // GetJob as the admin: its status, and the job when it is OK.
  grpc::Status GetJob(const std::string& id, backtest::v1::Job* job) {
    backtest::v1::GetJobRequest request;
    request.set_job_id(id);
    backtest::v1::GetJobResponse response;
    grpc::Status s = jobs_->GetJob(Context().get(), request, &response);
    if (s.ok()) *job = response.job();
    return s;
  }

 private:
  TempDir dir_;
  ServerOptions options_;
  std::unique_ptr<Server> server_;
  std::string admin_token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<backtest::v1::BacktestService::Stub> jobs_;
  std::unique_ptr<backtest::v1::PresetService::Stub> presets_;
  std::unique_ptr<backtest::v1::TraceService::Stub> traces_;
};

// Polls `condition` until it holds or `seconds` pass; returns whether it held.
template <typename F>
bool PollUntil(F condition, double seconds = 30) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace backtest::testing

#endif  // BACKTEST_TESTS_INTEGRATION_TEST_SERVER_H_
