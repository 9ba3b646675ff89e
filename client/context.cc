#include "client/context.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace backtest::client {
namespace {

constexpr char kDefaultTokenFile[] = "var/admin.token";

constexpr char kLocalMark[] = "btctl: ";

bool IsLocal(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument &&
         absl::StartsWith(status.message(), kLocalMark);
}

}  // namespace

absl::Status UsageError(std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(kLocalMark, std::string(message)));
}

absl::StatusOr<std::string> ResolveToken(const GlobalOptions& options) {
  std::string token = options.token;
  if (token.empty()) {
    const std::string path = options.token_file.empty() ? kDefaultTokenFile : options.token_file;
    std::ifstream in(path);
    if (!in) {
      return absl::NotFoundError(absl::StrCat(
          "no token: pass --token, set BACKTEST_TOKEN, or point --token-file at the admin.token "
          "file backtestd wrote beside its database (", path, " is not readable)"));
    }
    std::getline(in, token);
  }
  absl::string_view view = absl::StripAsciiWhitespace(token);
  absl::ConsumePrefix(&view, "Token ");
  view = absl::StripAsciiWhitespace(view);
  if (view.empty()) return absl::NotFoundError("no token: the token given is empty");
  return std::string(view);
}

namespace {

// The TLS files named by the flags, read into `connection`; UsageError naming an unreadable one.
absl::Status ReadTls(const GlobalOptions& options, ConnectionOptions& connection) {
  connection.tls = options.tls || !options.tls_ca.empty();
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return UsageError("--tls-cert and --tls-key go together");
  }
  const std::pair<const std::string*, std::string*> files[] = {
      {&options.tls_ca, &connection.tls_ca_pem},
      {&options.tls_cert, &connection.tls_cert_pem},
      {&options.tls_key, &connection.tls_key_pem}};
  for (const auto& [path, pem] : files) {
    if (path->empty()) continue;
    std::ifstream in(*path, std::ios::binary);
    pem->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in || pem->find("-----BEGIN ") == std::string::npos) {
      return UsageError(absl::StrCat("cannot read a PEM file at ", *path));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Client*> Context::client(bool need_token) {
  if (client_ == nullptr) {
    absl::StatusOr<std::string> token = ResolveToken(options);
    if (!token.ok() && need_token) return UsageError(std::string(token.status().message()));
    ConnectionOptions connection;
    if (absl::Status tls = ReadTls(options, connection); !tls.ok()) return tls;
    connection.address = options.server;
    connection.token = token.ok() ? *std::move(token) : "";
    connection.timeout_seconds = options.timeout_seconds;
    client_ = Client::Create(connection);
  }
  return client_.get();
}

int Context::Fail(const absl::Status& status, std::string_view what) const {
  std::string message(status.message());
  if (IsLocal(status)) {
    message = std::string(absl::StripPrefix(message, kLocalMark));
  } else if (status.code() == absl::StatusCode::kUnavailable) {
    message = absl::StrCat("cannot reach backtestd at ", options.server, ": ", message);
  } else if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    message = absl::StrCat("no answer from backtestd at ", options.server, " within ",
                           options.timeout_seconds, " s (--timeout)");
  }
  // The server's message as it is, so a script's grep finds it; the code names it for a person.
  std::string line = "btctl: ";
  if (!what.empty()) absl::StrAppend(&line, std::string(what), ": ");
  absl::StrAppend(&line, message);
  if (!IsLocal(status)) absl::StrAppend(&line, " (", absl::StatusCodeToString(status.code()), ")");
  std::fprintf(stderr, "%s\n", line.c_str());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUsage;
    default:
      return kExitFailed;
  }
}

}  // namespace backtest::client
