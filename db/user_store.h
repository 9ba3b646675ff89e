// Users and their API tokens. A token is shown once, when it is issued; only its hex SHA-256 is
// stored, so a stolen database does not hand out working tokens.
//
// Owned by whoever opened the Database it uses; not thread-safe (one UserStore per connection).
#ifndef BACKTEST_DB_USER_STORE_H_
#define BACKTEST_DB_USER_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace SQLite {
class Statement;
}

namespace backtest::db {

class Database;

// A user's own quota; an empty value takes the server's (--max-active-jobs-per-user,
// --submissions-per-minute), 0 is no limit.
struct UserLimits {
  std::optional<int> max_active_jobs;
  std::optional<int> submissions_per_minute;
};

struct UserRecord {
  int64_t id = 0;
  std::string name;
  bool is_staff = false;
  int64_t created_ms = 0;
  UserLimits limits;
};

// A newly issued token: `token` is the plaintext, to be shown to its user once and never stored.
struct IssuedToken {
  int64_t token_id = 0;
  std::string token;
};

// The prefix of every token backtestd issues ("bt_" + 43 characters of url-safe base64).
inline constexpr absl::string_view kTokenPrefix = "bt_";

// Hex SHA-256 of `token`, as stored in tokens.token_hash.
std::string HashToken(absl::string_view token);

// True when `token` has the shape of an issued token (prefix, length, alphabet). Cheap: lets
// callers reject garbage without a database lookup.
bool LooksLikeToken(absl::string_view token);

// InvalidArgument unless `name` is 1-64 characters of letters, digits, '.', '_' or '-'.
absl::Status ValidateUserName(absl::string_view name);

class UserStore {
 public:
  // Prepares the statements. Errors: Internal/Unavailable from SQLite (e.g. an unmigrated file).
  static absl::StatusOr<std::unique_ptr<UserStore>> Create(Database* db);

  ~UserStore();
  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  // Creates a user. InvalidArgument for a bad name (see ValidateUserName); AlreadyExists when the
  // name is taken.
  absl::StatusOr<UserRecord> CreateUser(absl::string_view name, bool is_staff);

  // The user of that name. NotFound when there is none.
  absl::StatusOr<UserRecord> FindUser(absl::string_view name);

  // Every user, by id.
  absl::StatusOr<std::vector<UserRecord>> ListUsers();

  // Sets a user's own limits (both; an empty one goes back to the server's). A running server
  // applies them from the next submission. NotFound when the user does not exist;
  // InvalidArgument for a negative limit.
  absl::StatusOr<UserRecord> SetLimits(absl::string_view name, const UserLimits& limits);

  // Issues a new token for a user: 32 random bytes from the OS, url-safe base64, prefixed "bt_".
  // Returns the plaintext once. NotFound when the user does not exist.
  absl::StatusOr<IssuedToken> IssueToken(int64_t user_id, absl::string_view label);

  // The user a token belongs to. Unauthenticated when the token is unknown or revoked (the two are
  // not told apart).
  absl::StatusOr<UserRecord> Authenticate(absl::string_view token);

  // Revokes one token (by its plaintext). NotFound when no active token matches.
  absl::Status RevokeToken(absl::string_view token);

  // Revokes every active token of a user; returns how many. NotFound when the user does not exist.
  absl::StatusOr<int> RevokeUserTokens(absl::string_view name);

  // On a database without users: creates the staff user "admin", issues it a token and writes the
  // token to `token_file_path` (mode 0600, written to a temporary file and renamed into place, all
  // inside the transaction that creates the user, so no admin exists without its file). Returns
  // true when it did so. When users exist it changes nothing and returns false (a lost file is
  // replaced with `backtestd user add`). Errors: Unavailable when the file cannot be written (the
  // user is then not created either).
  absl::StatusOr<bool> EnsureBootstrapAdmin(const std::string& token_file_path);

 private:
  explicit UserStore(Database* db);
  absl::StatusOr<UserRecord> InsertUser(absl::string_view name, bool is_staff);
  absl::StatusOr<IssuedToken> InsertToken(int64_t user_id, absl::string_view label);

  Database* db_;
  std::unique_ptr<SQLite::Statement> insert_user_;
  std::unique_ptr<SQLite::Statement> find_user_;
  std::unique_ptr<SQLite::Statement> list_users_;
  std::unique_ptr<SQLite::Statement> insert_token_;
  std::unique_ptr<SQLite::Statement> authenticate_;
  std::unique_ptr<SQLite::Statement> revoke_token_;
  std::unique_ptr<SQLite::Statement> revoke_user_tokens_;
  std::unique_ptr<SQLite::Statement> count_users_;
  std::unique_ptr<SQLite::Statement> set_limits_;
};

// Writes `contents` to `path` with mode 0600: a temporary file beside it, fsync, rename.
// Unavailable with the reason when any step fails (the temporary file is removed).
absl::Status WriteSecretFile(const std::string& path, absl::string_view contents);

}  // namespace backtest::db

#endif  // BACKTEST_DB_USER_STORE_H_
