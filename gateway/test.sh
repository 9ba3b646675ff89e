#!/usr/bin/env bash
# Tests backtest-gateway: generates code and assets when their inputs changed (build.sh gen),
# then runs go test for every package with go test's normal output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/build.sh" gen
export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS=${GOFLAGS:--buildvcs=false}
cd "$here"
go test -count=1 "$@" ./...
