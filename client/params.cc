// btctl params: the parameter registry as a table (names, aliases, types, defaults, bounds, help).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/context.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct ParamsOptions {
  std::string strategy;
  bool all = false;
  bool json = false;
};

// "(0, 0.1]", ">= 2", "M1|M5|…"; empty when unbounded.
std::string Bounds(const v1::ParamDefinition& p) {
  if (p.choices_size() > 0) return absl::StrJoin(p.choices(), "|");
  if (p.has_min() && p.has_max()) {
    return absl::StrCat(p.min_exclusive() ? "(" : "[", FormatNumber(p.min()), ", ",
                        FormatNumber(p.max()), p.max_exclusive() ? ")" : "]");
  }
  if (p.has_min()) return absl::StrCat(p.min_exclusive() ? "> " : ">= ", FormatNumber(p.min()));
  if (p.has_max()) return absl::StrCat(p.max_exclusive() ? "< " : "<= ", FormatNumber(p.max()));
  return "";
}

int Params(Context& ctx, const ParamsOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::ListParamsRequest request;
  request.set_strategy(o.strategy);
  auto response = (*client)->ListParams(request);
  if (!response.ok()) return ctx.Fail(response.status(), "params");
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
    return kExitOk;
  }
  Table table({"NAME", "ALIAS", "TYPE", "GROUP", "DEFAULT", "ALLOWED", "STRATEGY", "HELP"});
  for (const v1::ParamDefinition& p : response->params()) {
    if (p.hidden() && !o.all) continue;
    table.AddRow({p.name(), p.alias(), p.type(), p.group(),
                  p.default_value().empty() && p.optional() ? "(unset)" : p.default_value(),
                  Bounds(p), p.strategy().empty() ? "all" : p.strategy(), p.help()});
  }
  table.Print(stdout);
  return kExitOk;
}

}  // namespace

void AddParamsCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<ParamsOptions>();
  CLI::App* cmd = app.add_subcommand("params", "the parameters a run takes, with defaults");
  cmd->add_option("--strategy", o->strategy, "only the parameters this strategy reads");
  cmd->add_flag("--all", o->all, "also the hidden ones (accepted, not on forms)");
  cmd->add_flag("--json", o->json, "print the registry as JSON");
  cmd->callback([o, &ctx] { ctx.exit_code = Params(ctx, *o); });
}

}  // namespace backtest::client
