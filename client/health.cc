// btctl health: asks the server's grpc.health.v1 service whether it serves. Needs no token, so
// container health checks and scripts can use it. Exit 0 SERVING, 1 otherwise, 3 unreachable.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "client/commands.h"
#include "client/context.h"

namespace backtest::client {
namespace {

struct HealthOptions {
  std::string service;
};

int Health(Context& ctx, const HealthOptions& o) {
  auto client = ctx.client(/*need_token=*/false);
  if (!client.ok()) return ctx.Fail(client.status());
  auto status = (*client)->CheckHealth(o.service);
  if (!status.ok()) return ctx.Fail(status.status(), "health");
  static const char* const kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  const int value = *status;
  std::printf("%s\n", value >= 0 && value <= 3 ? kNames[value] : "UNKNOWN");
  return value == 1 ? kExitOk : kExitFailed;
}

}  // namespace

void AddHealthCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<HealthOptions>();
  CLI::App* cmd = app.add_subcommand("health", "whether the server serves (no token needed)");
  cmd->add_option("--service", o->service, "a named service (default: the whole server)");
  cmd->callback([o, &ctx] { ctx.exit_code = Health(ctx, *o); });
}

}  // namespace backtest::client
