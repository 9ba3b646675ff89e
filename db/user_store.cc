#include "db/user_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/sqlite_status.h"
#include "db/statement_scope.h"

namespace backtest::db {
namespace {

constexpr size_t kTokenRandomBytes = 32;
// 32 bytes in url-safe base64 without padding.
constexpr size_t kTokenBodyLength = 43;
constexpr size_t kMaxUserNameLength = 64;

// What ReadUser reads, in order.
constexpr absl::string_view kUserColumns =
    "id, name, is_staff, created_ms, max_active_jobs, submissions_per_minute";

UserRecord ReadUser(SQLite::Statement& stmt) {
  UserRecord user;
  user.id = stmt.getColumn(0).getInt64();
  user.name = stmt.getColumn(1).getString();
  user.is_staff = stmt.getColumn(2).getInt() != 0;
  user.created_ms = stmt.getColumn(3).getInt64();
  if (!stmt.getColumn(4).isNull()) user.limits.max_active_jobs = stmt.getColumn(4).getInt();
  if (!stmt.getColumn(5).isNull()) user.limits.submissions_per_minute = stmt.getColumn(5).getInt();
  return user;
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

std::string HashToken(absl::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

bool LooksLikeToken(absl::string_view token) {
  if (!absl::StartsWith(token, kTokenPrefix)) return false;
  absl::string_view body = token.substr(kTokenPrefix.size());
  if (body.size() != kTokenBodyLength) return false;
  for (char c : body) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

absl::Status ValidateUserName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxUserNameLength;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') ok = false;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: must be 1-64 letters, digits, '.', '_' or '-', got \"",
                     absl::CHexEscape(name.substr(0, kMaxUserNameLength)), "\""));
  }
  return absl::OkStatus();
}

UserStore::UserStore(Database* db) : db_(db) {}
UserStore::~UserStore() = default;

absl::StatusOr<std::unique_ptr<UserStore>> UserStore::Create(Database* db) {
  std::unique_ptr<UserStore> store(new UserStore(db));
  SQLite::Database& conn = db->connection();
  try {
    store->insert_user_ = std::make_unique<SQLite::Statement>(
        conn, absl::StrCat("INSERT INTO users(name, is_staff, created_ms) VALUES(?1, ?2, ?3) RETURNING ",
                           kUserColumns));
    store->find_user_ = std::make_unique<SQLite::Statement>(
        conn, absl::StrCat("SELECT ", kUserColumns, " FROM users WHERE name = ?1"));
    store->list_users_ = std::make_unique<SQLite::Statement>(
        conn, absl::StrCat("SELECT ", kUserColumns, " FROM users ORDER BY id"));
    store->insert_token_ = std::make_unique<SQLite::Statement>(
        conn, "INSERT INTO tokens(user_id, token_hash, label, created_ms) VALUES(?1, ?2, ?3, ?4)");
    store->authenticate_ = std::make_unique<SQLite::Statement>(
        conn, absl::StrCat("SELECT ", kUserColumns, " FROM users WHERE id = (SELECT user_id FROM "
                           "tokens WHERE token_hash = ?1 AND revoked_ms IS NULL)"));
    store->revoke_token_ = std::make_unique<SQLite::Statement>(
        conn, "UPDATE tokens SET revoked_ms = ?2 WHERE token_hash = ?1 AND revoked_ms IS NULL");
    store->revoke_user_tokens_ = std::make_unique<SQLite::Statement>(
        conn, "UPDATE tokens SET revoked_ms = ?2 WHERE revoked_ms IS NULL AND "
              "user_id = (SELECT id FROM users WHERE name = ?1)");
    store->count_users_ = std::make_unique<SQLite::Statement>(conn, "SELECT count(*) FROM users");
    store->set_limits_ = std::make_unique<SQLite::Statement>(
        conn, absl::StrCat("UPDATE users SET max_active_jobs = ?2, submissions_per_minute = ?3 "
                           "WHERE name = ?1 RETURNING ", kUserColumns));
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot prepare user statements");
  }
  return store;
}

absl::StatusOr<UserRecord> UserStore::InsertUser(absl::string_view name, bool is_staff) {
  StatementScope stmt(*insert_user_);
  BindText(*stmt, 1, name);
  stmt->bind(2, is_staff ? 1 : 0);
  stmt->bind(3, static_cast<int64_t>(NowMs()));
  if (!stmt->executeStep()) return absl::InternalError("INSERT … RETURNING returned no row");
  return ReadUser(*stmt);
}

absl::StatusOr<IssuedToken> UserStore::InsertToken(int64_t user_id, absl::string_view label) {
  unsigned char random[kTokenRandomBytes];
  if (RAND_bytes(random, sizeof random) != 1) {
    return absl::UnavailableError("cannot issue a token: the random number generator failed");
  }
  IssuedToken issued;
  issued.token = absl::StrCat(
      kTokenPrefix,
      absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<const char*>(random),
                                                  sizeof random)));
  std::string hash = HashToken(issued.token);
  StatementScope stmt(*insert_token_);
  stmt->bind(1, static_cast<int64_t>(user_id));
  BindText(*stmt, 2, hash);
  BindText(*stmt, 3, label);
  stmt->bind(4, static_cast<int64_t>(NowMs()));
  stmt->exec();
  issued.token_id = db_->connection().getLastInsertRowid();
  return issued;
}

absl::StatusOr<UserRecord> UserStore::CreateUser(absl::string_view name, bool is_staff) {
  if (absl::Status s = ValidateUserName(name); !s.ok()) return s;
  try {
    return InsertUser(name, is_staff);
  } catch (const SQLite::Exception& e) {
    absl::Status s = StatusFromSqlite(e, "cannot create user");
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat("user \"", name, "\" already exists"));
    }
    return s;
  }
}

absl::StatusOr<UserRecord> UserStore::FindUser(absl::string_view name) {
  try {
    StatementScope stmt(*find_user_);
    BindText(*stmt, 1, name);
    if (!stmt->executeStep()) {
      return absl::NotFoundError(
          absl::StrCat("no user \"", absl::CHexEscape(name.substr(0, kMaxUserNameLength)), "\""));
    }
    return ReadUser(*stmt);
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot look up user");
  }
}

absl::StatusOr<std::vector<UserRecord>> UserStore::ListUsers() {
  try {
    StatementScope stmt(*list_users_);
    std::vector<UserRecord> users;
    while (stmt->executeStep()) users.push_back(ReadUser(*stmt));
    return users;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot list users");
  }
}

absl::StatusOr<UserRecord> UserStore::SetLimits(absl::string_view name, const UserLimits& limits) {
  for (const auto& [field, value] : {std::pair{"max_active_jobs", limits.max_active_jobs},
                                     std::pair{"submissions_per_minute",
                                               limits.submissions_per_minute}}) {
    if (value.has_value() && *value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must be 0 (no limit) or more, got ", *value));
    }
  }
  try {
    StatementScope stmt(*set_limits_);
    BindText(*stmt, 1, name);
    for (int i = 0; i < 2; ++i) {
      const std::optional<int>& value =
          i == 0 ? limits.max_active_jobs : limits.submissions_per_minute;
      if (value.has_value()) {
        stmt->bind(2 + i, *value);
      } else {
        stmt->bind(2 + i);  // NULL: the server's
      }
    }
    if (!stmt->executeStep()) {
      return absl::NotFoundError(
          absl::StrCat("no user \"", absl::CHexEscape(name.substr(0, kMaxUserNameLength)), "\""));
    }
    return ReadUser(*stmt);
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot set a user's limits");
  }
}

absl::StatusOr<IssuedToken> UserStore::IssueToken(int64_t user_id, absl::string_view label) {
  try {
    return InsertToken(user_id, label);
  } catch (const SQLite::Exception& e) {
    absl::Status s = StatusFromSqlite(e, "cannot issue token");
    // The foreign key on tokens.user_id is the only constraint a valid call can hit.
    if (absl::IsFailedPrecondition(s)) {
      return absl::NotFoundError(absl::StrCat("no user with id ", user_id));
    }
    return s;
  }
}

absl::StatusOr<UserRecord> UserStore::Authenticate(absl::string_view token) {
  if (token.empty()) return absl::UnauthenticatedError("missing token");
  std::string hash = HashToken(token);
  try {
    StatementScope stmt(*authenticate_);
    BindText(*stmt, 1, hash);
    if (!stmt->executeStep()) return absl::UnauthenticatedError("invalid or revoked token");
    return ReadUser(*stmt);
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot check token");
  }
}

absl::Status UserStore::RevokeToken(absl::string_view token) {
  std::string hash = HashToken(token);
  try {
    StatementScope stmt(*revoke_token_);
    BindText(*stmt, 1, hash);
    stmt->bind(2, static_cast<int64_t>(NowMs()));
    if (stmt->exec() == 0) return absl::NotFoundError("no active token matches");
    return absl::OkStatus();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot revoke token");
  }
}

absl::StatusOr<int> UserStore::RevokeUserTokens(absl::string_view name) {
  auto user = FindUser(name);
  if (!user.ok()) return user.status();
  try {
    StatementScope stmt(*revoke_user_tokens_);
    BindText(*stmt, 1, name);
    stmt->bind(2, static_cast<int64_t>(NowMs()));
    return stmt->exec();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot revoke tokens");
  }
}

absl::StatusOr<bool> UserStore::EnsureBootstrapAdmin(const std::string& token_file_path) {
  try {
    // IMMEDIATE: two servers starting on one fresh file cannot both create an admin.
    SQLite::Transaction tx(db_->connection(), SQLite::TransactionBehavior::IMMEDIATE);
    int64_t users = 0;
    {
      StatementScope count(*count_users_);
      count->executeStep();
      users = count->getColumn(0).getInt64();
    }
    if (users > 0) return false;
    auto admin = InsertUser("admin", /*is_staff=*/true);
    if (!admin.ok()) return admin.status();
    auto token = InsertToken(admin->id, "bootstrap");
    if (!token.ok()) return token.status();
    // The file is in place before the commit: a failed commit leaves a dead token in the file
    // (replaced on the next start), never an admin nobody can log in as.
    if (absl::Status s = WriteSecretFile(token_file_path, absl::StrCat(token->token, "\n"));
        !s.ok()) {
      return s;
    }
    tx.commit();
    return true;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot create the bootstrap admin");
  }
}

absl::Status WriteSecretFile(const std::string& path, absl::string_view contents) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("create", tmp);
  // The umask can only narrow the mode; make it exactly 0600 even on a file left by a crash.
  bool ok = fchmod(fd, 0600) == 0;
  size_t written = 0;
  while (ok && written < contents.size()) {
    ssize_t n = write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else written += static_cast<size_t>(n);
  }
  if (ok) ok = fsync(fd) == 0;
  absl::Status status = ok ? absl::OkStatus() : Errno("write", tmp);
  if (close(fd) != 0 && status.ok()) status = Errno("close", tmp);
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) status = Errno("rename to", path);
  if (!status.ok()) unlink(tmp.c_str());
  return status;
}

}  // namespace backtest::db
