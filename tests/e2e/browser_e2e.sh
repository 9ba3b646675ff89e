#!/usr/bin/env bash
# The dashboard in headless Chromium against the real server: starts backtestd and
# backtest-gateway (built binaries), runs a ~1M-bar M1 backtest through the REST API (for the
# "a 1M-bar job draws in time" step), then gateway/web/e2e/dashboard.mjs, which fills the form,
# runs a traced backtest on sample:// data, waits for the chart, clicks a candle and sees an
# explanation; then gateway/web/e2e/compare.mjs (two jobs picked in the job list and compared)
# and gateway/web/e2e/sweeps.mjs (the sweep form, live progress, the heatmap's best cell's job),
# then gateway/web/e2e/strategies.mjs (a strategy folder copied into the running server's
# --strategy-dir is offered by the form, runs from it and is charted).
# Screenshots go to build/screenshots/dashboard.
#
# Environment: BIG_BARS=0 skips the 1M-bar job; DOCS_DIR=docs/screenshots also writes the
# README's screenshots (dashboard-form.png, dashboard-job.png) there; CHROMIUM as dashboard.mjs.
. "$(dirname "$0")/lib.sh"

web=$ROOT/gateway/web
chromium=${CHROMIUM:-/usr/bin/chromium}
for need in "$BIN/backtest-gateway" "$chromium" "$web/node_modules/playwright-core"; do
  [ -e "$need" ] || { echo "missing $need (scripts/install-deps.sh, gateway/build.sh)"; exit 1; }
done
command -v node >/dev/null || { echo "node not found"; exit 1; }

# jget FILE EXPR: prints the Python expression EXPR of d, the JSON in FILE (empty on any error).
jget() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || true
}

t_start=$SECONDS
# lib.sh's start_server reads server.log before the background server may have created it.
mkdir -p "$WORK/s" "$WORK/strategies" && : >"$WORK/s/server.log"
chmod 755 "$WORK" "$WORK/strategies"  # the sandboxed runner reads the folder as another user
start_server "$WORK/s" --strategy-dir "$WORK/strategies"
TOKEN=$(cat "$WORK/s/admin.token")
start_gateway "$SERVER_ADDR"
echo "backtestd $SERVER_ADDR, gateway $GW"

big_env=()
if [ "${BIG_BARS:-1}" != 0 ]; then
  # EURUSD M1 from sample:// over 2020-01-01 … 2022-09-01: 1,002,240 bars, trace off.
  curl -sS --max-time 60 -H "authorization: Token $TOKEN" -X POST "$GW/run/" -o "$WORK/big.json" \
    --data-binary '{"params": {"strategy": "sr_breakout", "data_source": "sample://", "symbols": "EURUSD",
      "timeframe": "M1", "start_date": "2020-01-01", "end_date": "2022-09-01"}}'
  big=$(jget "$WORK/big.json" 'd["job_id"]')
  check "the 1M-bar job is queued" test -n "$big"
  deadline=$((SECONDS + 180)) status=
  while [ -n "$big" ] && [ $SECONDS -lt $deadline ]; do
    curl -sS --max-time 10 -H "authorization: Token $TOKEN" -o "$WORK/big-status.json" "$GW/api/jobs/$big/status/" || true
    status=$(jget "$WORK/big-status.json" 'd["status"]')
    case $status in finished|failed|cancelled) break ;; esac
    sleep 0.2
  done
  check "the 1M-bar job finishes ($status after $((SECONDS - t_start)) s)" test "$status" = finished
  echo "     $(jget "$WORK/big-status.json" 'd["progress"]["bars_total"]') bars"
  [ "$status" = finished ] && big_env=(BIG_JOB="$big")
fi

out=$ROOT/build/screenshots/dashboard
docs_env=()
[ -n "${DOCS_DIR:-}" ] && docs_env=(DOCS_DIR="$(cd "$ROOT" && mkdir -p "$DOCS_DIR" && cd "$DOCS_DIR" && pwd)")
t_browser=$SECONDS
check "dashboard.mjs in headless Chromium" bash -c '
  cd "$1" && shift && env "$@" node e2e/dashboard.mjs >"$0" 2>&1' \
  "$WORK/dashboard.out" "$web" BASE_URL="$GW" TOKEN="$TOKEN" OUT_DIR="$out" CHROMIUM="$chromium" \
  TIMEOUT_S=180 "${big_env[@]}" "${docs_env[@]}"
sed 's/^/     /' "$WORK/dashboard.out"
check "compare.mjs in headless Chromium (the compare page)" bash -c '
  cd "$1" && shift && env "$@" node e2e/compare.mjs >"$0" 2>&1' \
  "$WORK/compare.out" "$web" BASE_URL="$GW" TOKEN="$TOKEN" OUT_DIR="$out" CHROMIUM="$chromium" TIMEOUT_S=180
sed 's/^/     /' "$WORK/compare.out"
check "sweeps.mjs in headless Chromium (sweep form, live progress, heatmap, best cell's job)" bash -c '
  cd "$1" && shift && env "$@" node e2e/sweeps.mjs >"$0" 2>&1' \
  "$WORK/sweeps.out" "$web" BASE_URL="$GW" TOKEN="$TOKEN" OUT_DIR="$out" CHROMIUM="$chromium" TIMEOUT_S=180
sed 's/^/     /' "$WORK/sweeps.out"
cp -r "$ROOT/examples/strategies/my_cross" "$WORK/strategies/"  # while the server runs
check "strategies.mjs in headless Chromium (a strategy folder's strategy from the form)" bash -c '
  cd "$1" && shift && env "$@" node e2e/strategies.mjs >"$0" 2>&1' \
  "$WORK/strategies.out" "$web" BASE_URL="$GW" TOKEN="$TOKEN" OUT_DIR="$out" CHROMIUM="$chromium" TIMEOUT_S=180
sed 's/^/     /' "$WORK/strategies.out"
echo "(browser $((SECONDS - t_browser)) s, total $((SECONDS - t_start)) s)"
finish
