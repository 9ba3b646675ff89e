// The btctl subcommands, one file each. Every Add…Command adds its subcommand to `app`; when the
// subcommand is chosen, its callback runs it and sets ctx.exit_code.
#ifndef BACKTEST_CLIENT_COMMANDS_H_
#define BACKTEST_CLIENT_COMMANDS_H_

namespace CLI {
class App;
}

namespace backtest::client {

class Context;

void AddRunCommand(CLI::App& app, Context& ctx);      // run.cc
void AddStatusCommand(CLI::App& app, Context& ctx);   // status.cc
void AddJobsCommand(CLI::App& app, Context& ctx);     // jobs.cc
void AddLogsCommand(CLI::App& app, Context& ctx);     // logs.cc
void AddResultCommand(CLI::App& app, Context& ctx);   // result.cc
void AddCancelCommand(CLI::App& app, Context& ctx);   // cancel.cc
void AddPresetsCommand(CLI::App& app, Context& ctx);  // presets.cc
void AddTraceCommand(CLI::App& app, Context& ctx);    // trace.cc
void AddExplainCommand(CLI::App& app, Context& ctx);  // explain.cc
void AddParamsCommand(CLI::App& app, Context& ctx);   // params.cc
void AddHealthCommand(CLI::App& app, Context& ctx);   // health.cc
void AddCompareCommand(CLI::App& app, Context& ctx);  // compare.cc
void AddSweepCommand(CLI::App& app, Context& ctx);    // sweep.cc

}  // namespace backtest::client

#endif  // BACKTEST_CLIENT_COMMANDS_H_
