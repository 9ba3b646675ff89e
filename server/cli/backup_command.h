// `backtestd backup --db DB --to FILE`: an online backup of the database (SQLite's backup API),
// consistent while the server runs. The copy appears under FILE only once it is complete and
// passes integrity_check (db/backup.h).
#ifndef BACKTEST_SERVER_CLI_BACKUP_COMMAND_H_
#define BACKTEST_SERVER_CLI_BACKUP_COMMAND_H_

#include <iosfwd>
#include <string>

namespace backtest::cli {

struct BackupCommandOptions {
  std::string db_path;
  std::string target;         // --to
  int pages_per_step = 1024;  // --step-pages
  int pause_ms = 2;           // --step-pause-ms
};

// Writes the backup and prints one line saying what was copied on `out`; an error is one line
// on `err`. Returns the exit code (0 ok, 1 error). SIGINT, SIGTERM and SIGHUP are blocked from
// here on (the command is the process's last act): one that arrives while pages are copied stops
// the copy, which removes its temporary file and leaves FILE as it was.
int RunBackup(const BackupCommandOptions& options, std::ostream& out, std::ostream& err);

}  // namespace backtest::cli

#endif  // BACKTEST_SERVER_CLI_BACKUP_COMMAND_H_
