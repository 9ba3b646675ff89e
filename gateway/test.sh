#!/usr/bin/env bash
# Tests backtest-gateway: generates code and assets when their inputs changed (build.sh gen),
# then runs go test for every package (arguments go to go test). The report is go test's own
# without -v (package results and the output of failed tests), then every skipped test with its
# reason and a summary line (internal/testreport).
#
# A skipped test fails the run: in `make test` nothing skips, since scripts/install-deps.sh
# installs node and Chromium and build.sh gen the dashboard and playwright-core, so a missing one
# is a failure of the test itself. The one allowed reason is asking for it: with -short (e.g.
# `bash gateway/test.sh -short`) the browser test is skipped, and listed as skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/build.sh" gen
export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS=${GOFLAGS:--buildvcs=false}
cd "$here"
allow_skip=()
for arg in "$@"; do
  case $arg in -short | -short=true | -test.short | -test.short=true) allow_skip=(-allow-skip) ;; esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/testreport" ./internal/testreport
go test -count=1 -json "$@" ./... | "$tmp/testreport" "${allow_skip[@]}"
