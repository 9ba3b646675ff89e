#include "server/cli/backup_command.h"

#include <signal.h>

#include <ostream>

#include "absl/strings/str_format.h"
#include "db/backup.h"

namespace backtest::cli {
namespace {

// The signals that stop a backup (Ctrl-C, systemd's and Kubernetes' stop): blocked while it runs
// and looked for between steps, so the copy stops cleanly and leaves no temporary file.
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

bool StopRequested() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1 ||
         sigismember(&pending, SIGHUP) == 1;
}

}  // namespace

int RunBackup(const BackupCommandOptions& options, std::ostream& out, std::ostream& err) {
  db::BackupOptions backup;
  backup.pages_per_step = options.pages_per_step;
  backup.pause = std::chrono::milliseconds(options.pause_ms);
  const sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  backup.should_stop = StopRequested;
  auto report = db::BackupDatabase(options.db_path, options.target, backup);
  if (!report.ok()) {
    err << "backtestd: " << report.status().message()
        << (absl::IsCancelled(report.status()) ? "; " + options.target + " is as it was" : "")
        << "\n";
    return 1;
  }
  // A signal that came during the last step or the check: the backup is complete, so keep it.
  out << absl::StrFormat(
      "backed up %s to %s: %.1f MB (%d pages, schema version %d) copied in %.2f s, "
      "integrity_check ok in %.2f s\n",
      options.db_path, options.target, report->bytes / 1e6, report->pages,
      report->schema_version, report->copy_seconds, report->verify_seconds);
  return 0;
}

}  // namespace backtest::cli
