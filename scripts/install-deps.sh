#!/usr/bin/env bash
# Installs everything backtestd needs on a fresh Debian 12 machine, idempotently:
#   - C++ toolchain and libraries from Debian packages (apt-get, as root or through sudo);
#   - Go code generators and tools, pinned, into build/tools/bin;
#   - a Python virtual environment for tests and the generated client in build/venv;
#   - npm packages (buf for lint, the dashboard's libraries) from the lock files.
# Each step is skipped when its stamp says it is already done with the same pins.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
tools=$build/tools
mkdir -p "$tools/bin" "$tools/stamps"

log() { printf '[install-deps] %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------
apt_packages=(
  cmake ninja-build pkg-config g++ ccache make git curl ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libsqlitecpp-dev libsqlite3-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcurl4-openssl-dev nlohmann-json3-dev libcli11-dev libssl-dev
  sqlite3 python3-venv chromium
  python3-dev  # the SDK's native module (sdk/) builds against the interpreter's headers
  systemd  # systemd-analyze, for tests/e2e/deploy_validate.py (installing it starts no daemon)
  clang libclang-rt-14-dev wrk
  # The sandbox of user strategies (docs/sandbox.md): bubblewrap runs it, backtest-sandbox-exec
  # links libseccomp for its filter; their tests fail without them.
  bubblewrap libseccomp-dev
  # The Slurm runner backend's test cluster (tests/slurm/cluster.sh; installing starts no daemon).
  slurmctld slurmd slurm-client munge
  # backtestd's configuration file (TOML) and its /metrics listener (docs/operations.md).
  libtomlplusplus-dev libcpp-httplib-dev
  # The engine's bar cache checksums its entries with XXH3 (server/engine/data/bar_cache.h).
  libxxhash-dev
)
# Node.js and npm come with this machine image; a bare Debian 12 gets Debian's (node 18 is enough).
command -v node >/dev/null || apt_packages+=(nodejs npm)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Go tools (pinned) -----------------------------------------------------
go_tools=(
  google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11
  google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.1
  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.32.0
  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@v2.32.0
  github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
  github.com/bojand/ghz/cmd/ghz@v0.120.0
)
go_stamp=$tools/stamps/go-$(printf '%s\n' "${go_tools[@]}" | sha1sum | cut -c1-12)
if [ ! -f "$go_stamp" ]; then
  command -v go >/dev/null || { log "Go is required (go1.22 or newer on the PATH)"; exit 1; }
  for t in "${go_tools[@]}"; do
    log "go install $t"
    GOBIN=$tools/bin GOFLAGS=-buildvcs=false go install "$t"
  done
  touch "$go_stamp"
fi

# --- Python virtual environment -------------------------------------------
venv=$build/venv
py_reqs=$root/tests/requirements.txt
py_stamp=$tools/stamps/py-$(sha1sum "$py_reqs" | cut -c1-12)
if [ ! -f "$py_stamp" ]; then
  log "python venv in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$py_reqs"
  touch "$py_stamp"
fi

# --- npm packages (buf for proto lint) ------------------------------------
npm_dir=$root/tools/npm
npm_stamp=$tools/stamps/npm-$(sha1sum "$npm_dir/package-lock.json" | cut -c1-12)
if [ ! -f "$npm_stamp" ]; then
  log "npm install in build/tools/npm"
  mkdir -p "$tools/npm"
  cp "$npm_dir/package.json" "$npm_dir/package-lock.json" "$tools/npm/"
  (cd "$tools/npm" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$npm_stamp"
fi

log "ok"
