// btctl sweep: parameter sweeps (docs/sweeps.md).
//   btctl sweep run -p strategy=sma_cross --range fast_period=5:104 --range slow_period=110:209
//       --constraint "fast_period < slow_period" --objective return_pct [--dry-run] [-f|-w]
//   btctl sweep show SWEEP            summary, best row, the objective's distribution
//   btctl sweep rows SWEEP [--order-by STAT] [--desc] [--filter "trades >= 10"] [--limit N]
//   btctl sweep open SWEEP ROW        the row as a normal job (prints its id)
// A range is NAME=START:STOP[:STEP], NAME=log:START:STOP:COUNT or NAME=V1,V2,…
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "client/context.h"
#include "client/follow.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct SweepOptions {
  // run
  std::vector<std::string> params;
  std::string params_file;
  std::string preset;
  std::vector<std::string> ranges;
  std::vector<std::string> constraints;
  std::string method = "grid";
  int count = 0;
  int seed = 0;
  std::string objective = "sharpe";
  bool minimize = false;
  bool dry_run = false;
  bool follow = false;
  bool wait = false;
  double reconnect_timeout = 120;
  // show, rows, open
  std::string sweep_id;
  int row = 0;
  std::string order_by;
  bool descending = false;
  std::string filter;
  int limit = 20;
  bool json = false;
};

double Number(absl::string_view text, bool* ok) {
  double v = 0;
  *ok = *ok && absl::SimpleAtod(text, &v);
  return v;
}

// NAME=START:STOP[:STEP] | NAME=log:START:STOP:COUNT | NAME=V1,V2,…
absl::Status ParseRange(const std::string& text, v1::SweepRange* out) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return UsageError(absl::StrCat("--range ", text, ": expected NAME=START:STOP[:STEP], ",
                                   "NAME=log:START:STOP:COUNT or NAME=V1,V2,…"));
  }
  out->set_name(text.substr(0, eq));
  const std::string spec = text.substr(eq + 1);
  std::vector<std::string> parts = absl::StrSplit(spec, ':');
  bool ok = true;
  if (parts.size() == 4 && parts[0] == "log") {
    out->set_log(true);
    out->set_start(Number(parts[1], &ok));
    out->set_stop(Number(parts[2], &ok));
    int count = 0;
    ok = ok && absl::SimpleAtoi(parts[3], &count);
    out->set_count(count);
  } else if (parts.size() == 2 || parts.size() == 3) {
    out->set_start(Number(parts[0], &ok));
    out->set_stop(Number(parts[1], &ok));
    if (parts.size() == 3) out->set_step(Number(parts[2], &ok));
  } else if (parts.size() == 1) {
    for (absl::string_view v : absl::StrSplit(spec, ',')) {
      double x = 0;
      if (absl::SimpleAtod(v, &x)) {
        out->add_values()->set_number_value(x);
      } else {
        out->add_values()->set_string_value(std::string(v));
      }
    }
  } else {
    ok = false;
  }
  if (!ok) return UsageError(absl::StrCat("--range ", text, ": not a range"));
  return absl::OkStatus();
}

std::string ParamsText(const v1::SweepRow& row) {
  std::string out;
  for (const auto& [name, value] : row.params()) absl::StrAppend(&out, out.empty() ? "" : " ", name, "=", value);
  return out;
}

int Run(Context& ctx, const SweepOptions& o) {
  v1::RunSweepRequest request;
  if (!o.params_file.empty()) {
    if (absl::Status s = ReadParamsFile(o.params_file, request.mutable_params()); !s.ok()) {
      return ctx.Fail(s);
    }
  }
  if (absl::Status s = ParseParams(o.params, request.mutable_params()); !s.ok()) return ctx.Fail(s);
  for (const std::string& r : o.ranges) {
    if (absl::Status s = ParseRange(r, request.add_ranges()); !s.ok()) return ctx.Fail(s);
  }
  for (const std::string& c : o.constraints) request.add_constraints(c);
  request.set_preset(o.preset);
  request.set_method(o.method);
  request.set_count(o.count);
  request.set_seed(o.seed);
  request.mutable_objective()->set_stat(o.objective);
  request.mutable_objective()->set_minimize(o.minimize);
  request.set_dry_run(o.dry_run);
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  auto response = (*client)->RunSweep(request);
  if (!response.ok()) return ctx.Fail(response.status(), "sweep");
  if (o.json) {
    std::printf("%s\n", ToJson(*response, !(o.follow || o.wait)).c_str());
  } else if (o.dry_run) {
    std::printf("%d combinations (grid of %d)\n", response->combinations(), response->grid_size());
  } else {
    std::printf("%s\n", response->sweep_id().c_str());
    std::fprintf(stderr, "sweep of %d combinations queued\n", response->combinations());
  }
  std::fflush(stdout);
  if (o.dry_run || (!o.follow && !o.wait)) return kExitOk;
  return WaitForJobEnd(ctx, **client, response->sweep_id(), o.follow, o.json, false,
                       o.reconnect_timeout);
}

int Show(Context& ctx, const SweepOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::GetSweepRequest request;
  request.set_sweep_id(o.sweep_id);
  auto response = (*client)->GetSweep(request);
  if (!response.ok()) return ctx.Fail(response.status(), "sweep " + o.sweep_id);
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
    return kExitOk;
  }
  const v1::Sweep& s = response->sweep();
  const v1::SweepDistribution& d = s.distribution();
  std::printf("sweep %s: %s, %d of %d combinations (%d failed)\n", s.sweep_id().c_str(),
              s.job().status().c_str(), s.rows_done(), s.combinations(), s.rows_failed());
  std::printf("objective: %s %s\n", s.request().objective().minimize() ? "minimize" : "maximize",
              d.stat().c_str());
  if (s.has_best()) {
    std::printf("best: row %d (%s): %s\n", s.best().row(), ParamsText(s.best()).c_str(),
                FormatNumber(s.best().objective()).c_str());
  }
  if (d.count() > 0) {
    std::printf("distribution of %d rows (%d undefined): min %s, median %s, mean %s, max %s\n",
                d.count(), d.undefined(), FormatNumber(d.min()).c_str(),
                FormatNumber(d.median()).c_str(), FormatNumber(d.mean()).c_str(),
                FormatNumber(d.max()).c_str());
  }
  return kExitOk;
}

int Rows(Context& ctx, const SweepOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::ListSweepRowsRequest request;
  request.set_sweep_id(o.sweep_id);
  request.set_order_by(o.order_by);
  request.set_descending(o.descending);
  request.set_filter(o.filter);
  request.set_page_size(o.limit);
  auto response = (*client)->ListSweepRows(request);
  if (!response.ok()) return ctx.Fail(response.status(), "sweep " + o.sweep_id);
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
    return kExitOk;
  }
  Table table({"ROW", "PARAMETERS", "OBJECTIVE", "RETURN %", "SHARPE", "MAX DD %", "TRADES", "JOB"});
  for (int c : {0, 2, 3, 4, 5, 6}) table.AlignRight(static_cast<size_t>(c));
  for (const v1::SweepRow& r : response->rows()) {
    table.AddRow({absl::StrCat(r.row()), ParamsText(r), FormatNumber(r.objective()),
                  r.error().empty() ? FormatFixed(r.stats().return_pct(), 2) : "failed",
                  FormatFixed(r.stats().sharpe(), 3), FormatFixed(r.stats().max_drawdown_pct(), 2),
                  absl::StrCat(r.stats().trades()), r.job_id()});
  }
  table.Print(stdout);
  std::fprintf(stderr, "%d of %d rows\n", response->rows_size(), response->total_size());
  return kExitOk;
}

int Open(Context& ctx, const SweepOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::OpenSweepRowRequest request;
  request.set_sweep_id(o.sweep_id);
  request.set_row(o.row);
  auto response = (*client)->OpenSweepRow(request);
  if (!response.ok()) return ctx.Fail(response.status(), "sweep " + o.sweep_id);
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
  } else {
    std::printf("%s\n", response->job_id().c_str());
  }
  return kExitOk;
}

}  // namespace

void AddSweepCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* sweep = app.add_subcommand("sweep", "parameter sweeps: run, show, rows, open");
  sweep->require_subcommand(1);

  CLI::App* run = sweep->add_subcommand("run", "submit a sweep; prints its id");
  run->add_option("-p,--param", o->params, "base parameter NAME=VALUE (repeat it)");
  run->add_option("--params-file", o->params_file, "JSON object of base parameters");
  run->add_option("--preset", o->preset, "start from this saved preset; --param overrides it");
  run->add_option("-r,--range", o->ranges,
                  "varied parameter: NAME=START:STOP[:STEP], NAME=log:START:STOP:COUNT or "
                  "NAME=V1,V2,… (repeat it)")
      ->required();
  run->add_option("-c,--constraint", o->constraints,
                  "rule a combination must satisfy, e.g. \"fast_period < slow_period\"");
  run->add_option("--method", o->method, "grid or random")->capture_default_str();
  run->add_option("--count", o->count, "random: combinations to pick");
  run->add_option("--seed", o->seed, "random: the seed");
  run->add_option("--objective", o->objective, "the stat to rank rows by")->capture_default_str();
  run->add_flag("--minimize", o->minimize, "lower objective is better");
  run->add_flag("--dry-run", o->dry_run, "validate and print the combination count only");
  run->add_flag("-f,--follow", o->follow, "stream the sweep's log until it ends");
  run->add_flag("-w,--wait", o->wait, "wait quietly until it ends");
  run->add_flag("--json", o->json, "print the answer as JSON");
  run->add_option("--reconnect-timeout", o->reconnect_timeout,
                  "seconds to keep trying to resume a dropped stream")
      ->capture_default_str();
  run->callback([o, &ctx] { ctx.exit_code = Run(ctx, *o); });

  CLI::App* show = sweep->add_subcommand("show", "a sweep's progress, best row and distribution");
  show->add_option("sweep", o->sweep_id, "sweep id")->required();
  show->add_flag("--json", o->json, "print the answer as JSON");
  show->callback([o, &ctx] { ctx.exit_code = Show(ctx, *o); });

  CLI::App* rows = sweep->add_subcommand("rows", "a sweep's rows, best first");
  rows->add_option("sweep", o->sweep_id, "sweep id")->required();
  rows->add_option("--order-by", o->order_by, "a stat or varied parameter (default: objective)");
  rows->add_flag("--desc", o->descending, "with --order-by: descending");
  rows->add_option("--filter", o->filter, "e.g. \"trades >= 10, fast_period < 20\"");
  rows->add_option("-n,--limit", o->limit, "rows to print (1-10000)")->capture_default_str();
  rows->add_flag("--json", o->json, "print the answer as JSON");
  rows->callback([o, &ctx] { ctx.exit_code = Rows(ctx, *o); });

  CLI::App* open = sweep->add_subcommand("open", "run a row as a normal job; prints its id");
  open->add_option("sweep", o->sweep_id, "sweep id")->required();
  open->add_option("row", o->row, "row index")->required();
  open->add_flag("--json", o->json, "print the answer as JSON");
  open->callback([o, &ctx] { ctx.exit_code = Open(ctx, *o); });
}

}  // namespace backtest::client
