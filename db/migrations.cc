#include "db/migrations.h"

namespace backtest::db {
namespace {

// Times are UTC epoch milliseconds unless the column name says otherwise.
constexpr Migration kMigrations[] = {
    {1, "initial schema", R"sql(
CREATE TABLE users (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  is_staff    INTEGER NOT NULL DEFAULT 0 CHECK (is_staff IN (0, 1)),
  created_ms  INTEGER NOT NULL
);

-- API tokens, stored as the hex SHA-256 of the token; the token itself is never stored.
CREATE TABLE tokens (
  id          INTEGER PRIMARY KEY,
  user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash  TEXT NOT NULL UNIQUE,
  label       TEXT NOT NULL DEFAULT '',
  created_ms  INTEGER NOT NULL,
  revoked_ms  INTEGER
);
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE jobs (
  id                TEXT PRIMARY KEY,
  owner_id          INTEGER NOT NULL REFERENCES users(id),
  status            TEXT NOT NULL
                    CHECK (status IN ('queued', 'running', 'finished', 'failed', 'cancelled')),
  params_json       TEXT NOT NULL,
  preset            TEXT NOT NULL DEFAULT '',
  pid               INTEGER NOT NULL DEFAULT 0,
  error             TEXT NOT NULL DEFAULT '',
  progress_fraction REAL NOT NULL DEFAULT 0,
  progress_stage    TEXT NOT NULL DEFAULT '',
  bars_done         INTEGER NOT NULL DEFAULT 0,
  bars_total        INTEGER NOT NULL DEFAULT 0,
  created_ms        INTEGER NOT NULL,
  started_ms        INTEGER,
  finished_ms       INTEGER,
  heartbeat_ms      INTEGER,
  last_seq          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_owner_created ON jobs(owner_id, created_ms DESC, id);
CREATE INDEX jobs_status ON jobs(status, created_ms);

-- Every event of a job in order (log lines, progress, status changes, trace batch markers), for
-- StreamJobLog replay. payload holds the encoded event.
CREATE TABLE job_events (
  job_id   TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq      INTEGER NOT NULL,
  time_ms  INTEGER NOT NULL,
  kind     TEXT NOT NULL CHECK (kind IN ('log', 'progress', 'status', 'trace')),
  source   TEXT NOT NULL DEFAULT '',
  level    TEXT NOT NULL DEFAULT '',
  text     TEXT NOT NULL DEFAULT '',
  payload  BLOB,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- Decision-trace rows; the indexes serve the trace queries (by bar, by time).
CREATE TABLE trace_rows (
  job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  bar_index  INTEGER NOT NULL,
  ts         INTEGER NOT NULL,
  symbol     TEXT NOT NULL,
  section    TEXT NOT NULL,
  kind       TEXT NOT NULL,
  payload    TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE INDEX trace_rows_bar ON trace_rows(job_id, bar_index, seq);
CREATE INDEX trace_rows_ts ON trace_rows(job_id, ts, seq);

-- A finished job's result, encoded (format says how), with its digest.
CREATE TABLE results (
  job_id      TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  format      INTEGER NOT NULL,
  digest      TEXT NOT NULL,
  data        BLOB NOT NULL,
  created_ms  INTEGER NOT NULL
);

CREATE TABLE presets (
  owner_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  values_json  TEXT NOT NULL,
  updated_ms   INTEGER NOT NULL,
  PRIMARY KEY (owner_id, name)
);
)sql"},
    {2, "trace chunks, trace summaries, run reasons", R"sql(
-- Decision-trace rows, stored as chunks of consecutive rows (db/trace_chunk.h has the encoding):
-- one table row per batch of at most 1024 trace rows, so appending keeps up with the engine
-- (trace_rows of version 1, one b-tree entry per row and index, cannot). A bar or time lookup
-- finds the chunks whose [min, max] range holds it through the covering indexes below.
CREATE TABLE trace_chunks (
  job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  first_seq  INTEGER NOT NULL,
  last_seq   INTEGER NOT NULL,
  row_count  INTEGER NOT NULL,
  min_bar    INTEGER NOT NULL,
  max_bar    INTEGER NOT NULL,
  min_ts     INTEGER NOT NULL,
  max_ts     INTEGER NOT NULL,
  data       BLOB NOT NULL,
  UNIQUE (job_id, first_seq)
);
CREATE INDEX trace_chunks_bar ON trace_chunks(job_id, max_bar, min_bar);
CREATE INDEX trace_chunks_ts ON trace_chunks(job_id, max_ts, min_ts);

-- Whole-run decision reason counts (kept for every run, traced or not), in the engine's order
-- (position). sample_bars_json: [{"symbol": "EURUSD", "bar_index": 5, "ts": 1700000000}, …].
CREATE TABLE run_reasons (
  job_id            TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  position          INTEGER NOT NULL,
  reason            TEXT NOT NULL,
  count             INTEGER NOT NULL,
  sample_bars_json  TEXT NOT NULL DEFAULT '[]',
  description       TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job_id, reason)
) WITHOUT ROWID;

-- How a job's trace was recorded, so Explain can say why a bar has no rows (tracing off,
-- sampling, or the row limit cut the trace).
CREATE TABLE trace_summaries (
  job_id      TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  sampling    INTEGER NOT NULL DEFAULT 1,
  row_count   INTEGER NOT NULL DEFAULT 0,
  truncated   INTEGER NOT NULL DEFAULT 0 CHECK (truncated IN (0, 1)),
  updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
    {3, "drop trace_rows (replaced by trace_chunks in version 2)", R"sql(
-- Version 1's one-row-per-trace-row table was never written after version 2; its two indexes go
-- with it.
DROP TABLE trace_rows;
)sql"},
    {4, "job_events: kind checked by comparisons, not IN (…)", R"sql(
-- SQLite evaluates a CHECK's `kind IN ('log', …)` by building a temporary b-tree of the list for
-- every INSERT statement it runs: a third of the cost of storing a job's events (hundreds of log
-- lines a job). The same rule written as comparisons costs nothing. A CHECK cannot be altered in
-- place, so the table is rebuilt (nothing references it; its rows are copied as they are).
CREATE TABLE job_events_v4 (
  job_id   TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq      INTEGER NOT NULL,
  time_ms  INTEGER NOT NULL,
  kind     TEXT NOT NULL
           CHECK (kind = 'log' OR kind = 'progress' OR kind = 'status' OR kind = 'trace'),
  source   TEXT NOT NULL DEFAULT '',
  level    TEXT NOT NULL DEFAULT '',
  text     TEXT NOT NULL DEFAULT '',
  payload  BLOB,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
INSERT INTO job_events_v4 SELECT job_id, seq, time_ms, kind, source, level, text, payload
  FROM job_events;
DROP TABLE job_events;
ALTER TABLE job_events_v4 RENAME TO job_events;
)sql"},
    {5, "job_events: a row may hold a run of log lines", R"sql(
-- A job logs hundreds of lines; stored one row each, their INSERTs were most of the cost of
-- storing a job. A run of consecutive lines of one source and level now shares a row: its seq is
-- the first line's and event_count says how many seqs it holds (1 for every row before).
ALTER TABLE job_events ADD COLUMN event_count INTEGER NOT NULL DEFAULT 1;
)sql"},
    {6, "datasets: market data stored once, results refer to it", R"sql(
-- The market data jobs ran on, one row per distinct content: a symbol's prepared series (the
-- run's candles, warm-up excluded), keyed by its hash (engine::DatasetHash), with where it came
-- from first. data is a backtest.runner.v1.CandleColumns (format 1). Results of format 4 refer to
-- their datasets instead of carrying candles; results stored before keep theirs.
CREATE TABLE datasets (
  id          INTEGER PRIMARY KEY,
  hash        TEXT NOT NULL UNIQUE,
  source      TEXT NOT NULL,
  symbol      TEXT NOT NULL,
  timeframe   TEXT NOT NULL,
  first_time  INTEGER NOT NULL,  -- first bar's open time, epoch seconds
  last_time   INTEGER NOT NULL,  -- last bar's
  bars        INTEGER NOT NULL,
  format      INTEGER NOT NULL,
  data        BLOB NOT NULL,
  created_ms  INTEGER NOT NULL,
  used_ms     INTEGER NOT NULL   -- the last time a job stored or referred to it
);
-- The candidates offered to a job's runner: the last used of its source, symbol and timeframe.
CREATE INDEX datasets_source ON datasets(source, symbol, timeframe, used_ms);

-- Which datasets a job refers to: its result's series (position: the symbol's index in the run),
-- or, while it runs, those offered to its runner (position -1: a pin, so that a dataset the
-- runner may refer to is not removed before the result is stored).
CREATE TABLE job_datasets (
  job_id      TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,
  dataset_id  INTEGER NOT NULL REFERENCES datasets(id)
);
CREATE INDEX job_datasets_job ON job_datasets(job_id, position);
CREATE INDEX job_datasets_dataset ON job_datasets(dataset_id);

-- A dataset goes with the last reference to it (a deleted job takes its references with it).
CREATE TRIGGER job_datasets_release AFTER DELETE ON job_datasets
WHEN NOT EXISTS (SELECT 1 FROM job_datasets WHERE dataset_id = OLD.dataset_id)
BEGIN
  DELETE FROM datasets WHERE id = OLD.dataset_id;
END;
)sql"},
    {7, "jobs: the source hash of a strategy from the strategy folder", R"sql(
-- The strategy folder's strategies are code that changes: a job records the source hash its
-- strategy had when it was submitted (sha256:…), and runs that code or fails. Empty for the
-- built-in strategies and for jobs stored before.
ALTER TABLE jobs ADD COLUMN strategy_source_hash TEXT NOT NULL DEFAULT '';
)sql"},
    {8, "sweeps: a sweep job's combinations, its rows of stats, and the runs opened from them", R"sql(
-- A sweep is a job (jobs row, its params the base set) with a row here: the combinations it runs
-- (spec: a backtest.runner.v1.SweepSpec), the request as given (JSON, for display) and its
-- objective. Its rows are stats only, stored as chunks of columns (data: a SweepRowChunk) in
-- the order they arrive; runs opened from a row are ordinary jobs, linked here.
CREATE TABLE sweeps (
  job_id     TEXT PRIMARY KEY,
  spec       BLOB NOT NULL,
  request    TEXT NOT NULL,
  objective  TEXT NOT NULL,
  maximize   INTEGER NOT NULL,
  total      INTEGER NOT NULL,  -- combinations
  grid_size  INTEGER NOT NULL   -- the grid before constraints
) WITHOUT ROWID;
CREATE TABLE sweep_row_chunks (
  job_id  TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  rows    INTEGER NOT NULL,
  data    BLOB NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE TABLE sweep_row_jobs (
  sweep_id  TEXT NOT NULL,
  row       INTEGER NOT NULL,
  job_id    TEXT NOT NULL,
  PRIMARY KEY (sweep_id, row)
) WITHOUT ROWID;
-- A sweep goes with its job (a sweep row is written before its job, so no foreign key).
CREATE TRIGGER sweeps_release AFTER DELETE ON jobs
BEGIN
  DELETE FROM sweeps WHERE job_id = OLD.id;
  DELETE FROM sweep_row_chunks WHERE job_id = OLD.id;
  DELETE FROM sweep_row_jobs WHERE sweep_id = OLD.id OR job_id = OLD.id;
END;
)sql"},
    {9, "jobs: the request id of the call that submitted each", R"sql(
-- x-request-id of the RunBacktest call (the gateway's, or one backtestd made): a job can be
-- found from an access log line and the other way round. Empty for jobs stored before.
ALTER TABLE jobs ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
)sql"},
    {10, "sweeps: a sweep's walk-forward", R"sql(
-- The walk-forward of a sweep that asked for one (a backtest.runner.v1.WalkForwardEvent: each
-- window's choice and out-of-sample stats, the stitched equity and trades); NULL until it ran.
ALTER TABLE sweeps ADD COLUMN walk_forward BLOB;
)sql"},
    {11, "jobs: where each job's runner runs", R"sql(
-- An opaque reference to the job's runner: "local pid 1234", or for the Slurm backend "slurm job
-- 57 step 0 on node n12" (the runner says which when it starts). Empty before a runner started
-- and for jobs stored before.
ALTER TABLE jobs ADD COLUMN runner TEXT NOT NULL DEFAULT '';
)sql"},
    {12, "users: limits of their own", R"sql(
-- A user's own quota (`backtestd user limits`), instead of the server's --max-active-jobs-per-user
-- and --submissions-per-minute: NULL takes the server's, 0 is no limit.
ALTER TABLE users ADD COLUMN max_active_jobs INTEGER CHECK (max_active_jobs >= 0);
ALTER TABLE users ADD COLUMN submissions_per_minute INTEGER CHECK (submissions_per_minute >= 0);
)sql"},
    {13, "server_probe: the readiness probe's write", R"sql(
-- One row the server rewrites every few seconds to learn that the database takes writes (its
-- services report NOT_SERVING in gRPC health while it does not: a full disk, a read-only file).
CREATE TABLE server_probe (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  at_ms  INTEGER NOT NULL
);
)sql"},
};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

}  // namespace backtest::db
