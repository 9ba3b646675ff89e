// An in-process gRPC server on 127.0.0.1 with an ephemeral port, serving PresetService and
// TraceService on a private database, plus helpers to make users, tokens and jobs. For the tests of
// issue 5's services until (and independently of) their wiring into backtest::Server.
#ifndef BACKTEST_TESTS_INTEGRATION_API_TEST_SERVER_H_
#define BACKTEST_TESTS_INTEGRATION_API_TEST_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "backtest/v1/preset_service.grpc.pb.h"
#include "backtest/v1/trace_service.grpc.pb.h"
#include "db/database.h"
#include "db/user_store.h"
#include "gtest/gtest.h"
#include "server/api/auth.h"
#include "server/api/preset_service.h"
#include "server/api/trace_service.h"
#include "tests/testing/temp_dir.h"

namespace backtest::testing {

struct TestUser {
  int64_t id = 0;
  std::string name;
  std::string token;
};

class ApiTestServer {
 public:
  explicit ApiTestServer(api::AuthenticatorOptions auth_options = {}) {
    db_path_ = dir_.File("var/backtest.db");
    auto db = db::Database::Open(db_path_);
    EXPECT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    users_ = *db::UserStore::Create(db_.get());
    auto auth = api::Authenticator::Create(db_path_, std::move(auth_options));
    EXPECT_TRUE(auth.ok()) << auth.status();
    auth_ = *std::move(auth);
    presets_ = std::make_unique<api::PresetServiceImpl>(db_path_, *auth_);
    traces_ = std::make_unique<api::TraceServiceImpl>(db_path_, *auth_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(presets_.get());
    builder.RegisterService(traces_.get());
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
    preset_stub_ = backtest::v1::PresetService::NewStub(channel_);
    trace_stub_ = backtest::v1::TraceService::NewStub(channel_);
  }

  ~ApiTestServer() {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  TestUser AddUser(const std::string& name, bool staff = false) {
    auto user = users_->CreateUser(name, staff);
    EXPECT_TRUE(user.ok()) << user.status();
    auto token = users_->IssueToken(user->id, "test");
    EXPECT_TRUE(token.ok()) << token.status();
    return {user->id, user->name, token->token};
  }

  // A job row owned by `owner`; its id is 32 hex digits like the job service's.
  std::string AddJob(int64_t owner, const std::string& status, const std::string& params_json,
                     int64_t bars_total = 0) {
    std::string id = absl::StrCat(std::string(24, 'a'), absl::Hex(next_job_++, absl::kZeroPad8));
    SQLite::Statement insert(db_->connection(),
                             "INSERT INTO jobs(id, owner_id, status, params_json, created_ms, "
                             "bars_total) VALUES(?1, ?2, ?3, ?4, 1, ?5)");
    insert.bind(1, id);
    insert.bind(2, static_cast<int64_t>(owner));
    insert.bind(3, status);
    insert.bind(4, params_json);
    insert.bind(5, static_cast<int64_t>(bars_total));
    insert.exec();
    return id;
  }

  // A context carrying `authorization: Token <token>` (none when `token` is empty).
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Token ", token));
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  db::Database& db() { return *db_; }
  db::UserStore& users() { return *users_; }
  api::Authenticator& auth() { return *auth_; }
  const std::string& db_path() const { return db_path_; }
  backtest::v1::PresetService::Stub& presets() { return *preset_stub_; }
  backtest::v1::TraceService::Stub& traces() { return *trace_stub_; }

 private:
  TempDir dir_;
  std::string db_path_;
  std::unique_ptr<db::Database> db_;
  std::unique_ptr<db::UserStore> users_;
  std::unique_ptr<api::Authenticator> auth_;
  std::unique_ptr<api::PresetServiceImpl> presets_;
  std::unique_ptr<api::TraceServiceImpl> traces_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<backtest::v1::PresetService::Stub> preset_stub_;
  std::unique_ptr<backtest::v1::TraceService::Stub> trace_stub_;
  int next_job_ = 0;
};

}  // namespace backtest::testing

#endif  // BACKTEST_TESTS_INTEGRATION_API_TEST_SERVER_H_
