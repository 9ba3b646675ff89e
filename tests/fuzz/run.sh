#!/usr/bin/env bash
# Builds the fuzz targets with clang into build/fuzz (configuring it the first time) and runs them.
#
#   tests/fuzz/run.sh [--seconds N] [--long] [--build-only | --no-build] [TARGET...]
#
# TARGET is csv_reader, time_parse, params, run_request_json, runner_events or
# runner_event_reader (default: all).
# Default (the short run of `make test`): each target for N seconds (default 20) from its seed
# corpus tests/fuzz/corpus/TARGET; what it finds is thrown away. --long (`make fuzz`): new inputs
# accumulate in build/fuzz/corpus/TARGET, which is merged (minimised) after the run; the repo's
# seeds are only read. A crash or a broken invariant fails the run; the input is kept in
# build/fuzz/artifacts/TARGET/ and the log in build/fuzz/logs/TARGET-{short,long}.log. Figures of
# every run are appended to build/fuzz/runs.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
FUZZ_DIR="$ROOT/tests/fuzz"
BUILD_DIR="${FUZZ_BUILD_DIR:-$ROOT/build/fuzz}"
ALL_TARGETS=(csv_reader time_parse params run_request_json runner_events runner_event_reader)

seconds=20
long=0
build_only=0
no_build=0
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --long) long=1; shift ;;
    --build-only) build_only=1; shift ;;
    --no-build) no_build=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "run.sh: no fuzz target $t" >&2; exit 2; }
done

# A smaller malloc quarantine and shorter allocation stacks: less memory on a shared 2-core box,
# and faster, with the same findings.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=64:malloc_context_size=10}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

build() {
  local cxx="${FUZZ_CXX:-}"
  if [[ -z "$cxx" ]]; then
    cxx="$(command -v clang++ || command -v clang++-14 || true)"
  fi
  [[ -n "$cxx" ]] || { echo "run.sh: clang++ not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
  if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
    cmake -S "$FUZZ_DIR" -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
  fi
  local start=$SECONDS
  cmake --build "$BUILD_DIR"
  echo "fuzz build: $((SECONDS - start)) s"
}

# stat NAME LOG: a -print_final_stats figure of the log.
stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

run_target() {
  local t="$1" bin="$BUILD_DIR/bin/$1_fuzz" seeds="$FUZZ_DIR/corpus/$1"
  local log artifacts="$BUILD_DIR/artifacts/$t/" corpus
  mkdir -p "$BUILD_DIR/logs" "$BUILD_DIR/scratch" "$artifacts"
  if [[ $long == 1 ]]; then
    log="$BUILD_DIR/logs/$t-long.log"
    corpus="$BUILD_DIR/corpus/$t"
    mkdir -p "$corpus"
  else
    # A private directory: a short run may overlap another one (ctest and a developer).
    log="$BUILD_DIR/logs/$t-short.log"
    corpus="$(mktemp -d "$BUILD_DIR/scratch/$t.XXXXXX")"
  fi
  local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
              -artifact_prefix="$artifacts")
  [[ -f "$FUZZ_DIR/dict/$t.dict" ]] && args+=(-dict="$FUZZ_DIR/dict/$t.dict")
  local rc=0
  # New inputs go to the first directory; the repo's seeds are only read.
  nice -n 10 "$bin" "${args[@]}" "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
  local execs rate units
  execs="$(stat number_of_executed_units "$log")"
  rate="$(stat average_exec_per_sec "$log")"
  units="$(sed -n 's/.*corp: \([0-9]*\)\/.*/\1/p' "$log" | tail -1)"
  if [[ $long == 1 && $rc == 0 ]]; then
    # Keep a minimal corpus with the same coverage: seeds and finds merged into a fresh dir.
    local merged="$BUILD_DIR/corpus/$t.merged"
    rm -rf "$merged" && mkdir -p "$merged"
    if "$bin" -merge=1 "$merged" "$corpus" "$seeds" >>"$log" 2>&1; then
      rm -rf "$corpus" && mv "$merged" "$corpus"
      units="$(find "$corpus" -type f | wc -l)"
    fi
  else
    [[ $long == 1 ]] || rm -rf "$corpus"
  fi
  local verdict=ok
  [[ $rc == 0 ]] || verdict="FAILED (exit $rc)"
  printf '%-18s %8ss %12s execs %9s/s  corpus %5s  %s\n' "$t" "$seconds" "${execs:-?}" \
    "${rate:-?}" "${units:-?}" "$verdict" | tee -a "$BUILD_DIR/runs.txt"
  if [[ $rc != 0 ]]; then
    grep -E "ERROR|invariant broken|runtime error|SUMMARY|Test unit written" "$log" | head -20 >&2 || true
    echo "  log: $log" >&2
    return 1
  fi
}

# --no-build (the ctest runs, after fuzz_build) still builds what is missing.
for t in "${targets[@]}"; do [[ -x "$BUILD_DIR/bin/${t}_fuzz" ]] || no_build=0; done
[[ $no_build == 1 ]] || build
[[ $build_only == 1 ]] && exit 0
echo "# $(date -u +%FT%TZ) $([[ $long == 1 ]] && echo long || echo short) run, load: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$BUILD_DIR/runs.txt"
failed=0
for t in "${targets[@]}"; do run_target "$t" || failed=1; done
exit $failed
