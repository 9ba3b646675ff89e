// Token authentication of gRPC calls: `authorization: Token <token>` metadata (the REST bridge
// passes the HTTP header of the same name through) → the calling user.
//
// Where it is enforced, and why there: every handler's first step is Authenticate (directly, or
// through ServeAuthenticated below for unary calls). The usual single points do not work with
// gRPC 1.51's callback API on an insecure port:
//   - an AuthMetadataProcessor is only consulted for secure server credentials (with
//     InsecureServerCredentials, SetAuthMetadataProcessor asserts);
//   - a server interceptor sees the metadata but cannot fail the call with a status of its own
//     (it can only let it through or tear it down as CANCELLED), and a handler would still need the
//     caller for per-owner scoping.
// So the one enforcement point is Authenticator::Authenticate, called first by every handler of
// BacktestService, PresetService and TraceService. Health and reflection are gRPC's own services
// and stay open. A new RPC must authenticate too: the integration tests call every RPC without a
// token and expect UNAUTHENTICATED.
//
// Tokens are never logged.
#ifndef BACKTEST_SERVER_API_AUTH_H_
#define BACKTEST_SERVER_API_AUTH_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/api/status_conversion.h"

namespace backtest {
namespace db {
class Database;
class UserStore;
}  // namespace db

namespace api {

// The authenticated user of a call.
struct Caller {
  int64_t user_id = 0;
  std::string name;
  bool is_staff = false;

  // Whether the caller may see something owned by `owner_id` (its owner and staff may).
  bool CanSee(int64_t owner_id) const { return is_staff || owner_id == user_id; }
};

struct AuthenticatorOptions {
  // How long a checked token is trusted without asking the database again. A token revoked by
  // another process (`backtestd user revoke`) stops working within this time; Forget() makes a
  // revocation in this process take effect at once.
  absl::Duration cache_ttl = absl::Seconds(5);
  // Entries kept at most; the cache is emptied when full.
  size_t cache_capacity = 4096;
  // The clock (tests inject one); empty: absl::Now.
  std::function<absl::Time()> clock;
};

// Checks tokens against the users and tokens tables, with a small cache of token hash → caller.
// Owns its own database connection. Thread-safe (one mutex around the cache and the connection;
// a check that misses the cache is one indexed SELECT).
class Authenticator {
 public:
  // Opens its own connection to the (already migrated) database at `db_path`.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const std::string& db_path,
                                                               AuthenticatorOptions options = {});
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // The caller of a gRPC call. UNAUTHENTICATED when the authorization metadata is missing,
  // malformed, or names an unknown or revoked token; Unavailable/Internal when the database
  // cannot be read.
  absl::StatusOr<Caller> Authenticate(const grpc::CallbackServerContext& context);

  // The same from the value of an authorization header ("Token bt_…"; "Bearer bt_…" is accepted
  // too).
  absl::StatusOr<Caller> AuthenticateHeader(absl::string_view authorization);

  // The same from a bare token.
  absl::StatusOr<Caller> AuthenticateToken(absl::string_view token);

  // Drops every cached token (call after revoking tokens through another connection).
  void Forget();

 private:
  struct CacheEntry {
    Caller caller;
    absl::Time expires;
  };

  Authenticator(std::unique_ptr<db::Database> db, std::unique_ptr<db::UserStore> users,
                AuthenticatorOptions options);
  absl::Time Now() const;

  AuthenticatorOptions options_;
  std::mutex mu_;
  std::unique_ptr<db::Database> db_;      // guarded by mu_
  std::unique_ptr<db::UserStore> users_;  // guarded by mu_
  absl::flat_hash_map<std::string, CacheEntry> cache_;  // token hash → caller; guarded by mu_
};

// Serves a unary call for an authenticated caller: authenticates, runs `body(caller)` (an
// absl::Status) only when that succeeded, and finishes the call with the status (converted by
// ToGrpcStatus). Use it as the whole body of a unary handler:
//
//   return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
//     return DoTheWork(caller, *request, response);
//   });
template <typename Body>
grpc::ServerUnaryReactor* ServeAuthenticated(Authenticator& auth,
                                             grpc::CallbackServerContext* context, Body&& body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Caller> caller = auth.Authenticate(*context);
  absl::Status status = caller.ok() ? std::forward<Body>(body)(*caller) : caller.status();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// A server-streaming reactor that finishes at once with `status` (e.g. UNAUTHENTICATED) and deletes
// itself when gRPC is done with it.
template <typename Response>
grpc::ServerWriteReactor<Response>* FinishedWriteReactor(const grpc::Status& status) {
  class Finished : public grpc::ServerWriteReactor<Response> {
   public:
    explicit Finished(const grpc::Status& s) { this->Finish(s); }
    void OnDone() override { delete this; }
  };
  return new Finished(status);
}

}  // namespace api
}  // namespace backtest

#endif  // BACKTEST_SERVER_API_AUTH_H_
