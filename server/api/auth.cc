#include "server/api/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "db/database.h"
#include "db/user_store.h"

namespace backtest::api {
namespace {

constexpr absl::string_view kMissing =
    "missing credentials: send the metadata (or HTTP header) \"authorization: Token <token>\"";
constexpr absl::string_view kMalformed =
    "malformed authorization: expected \"Token <token>\"";
constexpr absl::string_view kRejected = "invalid or revoked token";

}  // namespace

Authenticator::Authenticator(std::unique_ptr<db::Database> db,
                             std::unique_ptr<db::UserStore> users, AuthenticatorOptions options)
    : options_(std::move(options)), db_(std::move(db)), users_(std::move(users)) {}

Authenticator::~Authenticator() = default;

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(
    const std::string& db_path, AuthenticatorOptions options) {
  auto db = db::Database::Open(db_path);
  if (!db.ok()) return db.status();
  auto users = db::UserStore::Create(db->get());
  if (!users.ok()) return users.status();
  return std::unique_ptr<Authenticator>(
      new Authenticator(*std::move(db), *std::move(users), std::move(options)));
}

absl::Time Authenticator::Now() const { return options_.clock ? options_.clock() : absl::Now(); }

absl::StatusOr<Caller> Authenticator::Authenticate(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return absl::UnauthenticatedError(kMissing);
  return AuthenticateHeader(absl::string_view(it->second.data(), it->second.size()));
}

absl::StatusOr<Caller> Authenticator::AuthenticateHeader(absl::string_view authorization) {
  authorization = absl::StripAsciiWhitespace(authorization);
  if (authorization.empty()) return absl::UnauthenticatedError(kMissing);
  size_t space = authorization.find(' ');
  if (space == absl::string_view::npos) return absl::UnauthenticatedError(kMalformed);
  absl::string_view scheme = authorization.substr(0, space);
  if (!absl::EqualsIgnoreCase(scheme, "token") && !absl::EqualsIgnoreCase(scheme, "bearer")) {
    return absl::UnauthenticatedError(kMalformed);
  }
  return AuthenticateToken(absl::StripLeadingAsciiWhitespace(authorization.substr(space + 1)));
}

absl::StatusOr<Caller> Authenticator::AuthenticateToken(absl::string_view token) {
  // Garbage never reaches the database (and never reaches a log: messages do not quote tokens).
  if (!db::LooksLikeToken(token)) return absl::UnauthenticatedError(kRejected);
  std::string hash = db::HashToken(token);
  const absl::Time now = Now();
  std::lock_guard lock(mu_);
  if (auto it = cache_.find(hash); it != cache_.end()) {
    if (it->second.expires > now) return it->second.caller;
    cache_.erase(it);
  }
  auto user = users_->Authenticate(token);
  if (!user.ok()) {
    if (absl::IsUnauthenticated(user.status())) return absl::UnauthenticatedError(kRejected);
    return user.status();
  }
  Caller caller{user->id, user->name, user->is_staff};
  if (cache_.size() >= options_.cache_capacity) cache_.clear();
  cache_[hash] = CacheEntry{caller, now + options_.cache_ttl};
  return caller;
}

void Authenticator::Forget() {
  std::lock_guard lock(mu_);
  cache_.clear();
}

}  // namespace backtest::api
