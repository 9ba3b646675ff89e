// btctl presets list|get|save|delete: the caller's named parameter presets.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/commands.h"
#include "client/context.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct PresetOptions {
  std::string name;
  std::vector<std::string> params;
  std::string params_file;
  bool json = false;
};

int List(Context& ctx, const PresetOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  auto response = (*client)->ListPresets(v1::ListPresetsRequest());
  if (!response.ok()) return ctx.Fail(response.status(), "presets");
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
    return kExitOk;
  }
  for (const std::string& name : response->names()) std::printf("%s\n", name.c_str());
  return kExitOk;
}

void PrintValues(const ParamMap& values) {
  std::map<std::string, std::string> sorted;
  for (const auto& [name, value] : values) sorted[name] = ValueText(value);
  Table table({"NAME", "VALUE"});
  for (const auto& [name, value] : sorted) table.AddRow({name, value});
  table.Print(stdout);
}

int Get(Context& ctx, const PresetOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::GetPresetRequest request;
  request.set_name(o.name);
  auto response = (*client)->GetPreset(request);
  if (!response.ok()) return ctx.Fail(response.status(), "preset " + o.name);
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
  } else {
    PrintValues(response->preset().values());
  }
  return kExitOk;
}

int Save(Context& ctx, const PresetOptions& o) {
  v1::UpsertPresetRequest request;
  request.set_name(o.name);
  if (!o.params_file.empty()) {
    absl::Status read = ReadParamsFile(o.params_file, request.mutable_values());
    if (!read.ok()) return ctx.Fail(read);
  }
  absl::Status parsed = ParseParams(o.params, request.mutable_values());
  if (!parsed.ok()) return ctx.Fail(parsed);
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  auto response = (*client)->UpsertPreset(request);
  if (!response.ok()) return ctx.Fail(response.status(), "save preset " + o.name);
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
  } else {
    std::printf("%s preset %s (%d values)\n", response->created() ? "created" : "replaced",
                response->preset().name().c_str(), response->preset().values_size());
  }
  return kExitOk;
}

int Delete(Context& ctx, const PresetOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::DeletePresetRequest request;
  request.set_name(o.name);
  auto response = (*client)->DeletePreset(request);
  if (!response.ok()) return ctx.Fail(response.status(), "delete preset " + o.name);
  std::printf("deleted preset %s\n", o.name.c_str());
  return kExitOk;
}

}  // namespace

void AddPresetsCommand(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("presets", "save, load and delete parameter presets");
  cmd->require_subcommand(1);

  auto list = std::make_shared<PresetOptions>();
  CLI::App* sub = cmd->add_subcommand("list", "names of your presets");
  sub->add_flag("--json", list->json, "print as JSON");
  sub->callback([list, &ctx] { ctx.exit_code = List(ctx, *list); });

  auto get = std::make_shared<PresetOptions>();
  sub = cmd->add_subcommand("get", "one preset's values");
  sub->add_option("name", get->name, "preset name")->required();
  sub->add_flag("--json", get->json, "print as JSON");
  sub->callback([get, &ctx] { ctx.exit_code = Get(ctx, *get); });

  auto save = std::make_shared<PresetOptions>();
  sub = cmd->add_subcommand("save", "create or replace a preset");
  sub->add_option("name", save->name, "preset name")->required();
  sub->add_option("-p,--param", save->params, "value NAME=VALUE (repeat it)");
  sub->add_option("--params-file", save->params_file, "JSON object of values (before --param)");
  sub->add_flag("--json", save->json, "print the stored preset as JSON");
  sub->callback([save, &ctx] { ctx.exit_code = Save(ctx, *save); });

  auto del = std::make_shared<PresetOptions>();
  sub = cmd->add_subcommand("delete", "delete a preset");
  sub->add_option("name", del->name, "preset name")->required();
  sub->callback([del, &ctx] { ctx.exit_code = Delete(ctx, *del); });
}

}  // namespace backtest::client
