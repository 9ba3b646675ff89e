#!/usr/bin/env bash
# Right after a build, a build with nothing changed has nothing to do: ninja, asked what it would
# run in BUILD_DIR, names no step. (A command that is always out of date, as protoc's was while
# its dependency file named another output first, makes every `make build` re-run it and
# recompile everything that includes what it generates.)
#
#   tests/build/up_to_date_test.sh BUILD_DIR [NINJA]
set -euo pipefail
build=${1:?usage: up_to_date_test.sh BUILD_DIR [NINJA]}
ninja=${2:-ninja}
command -v "$ninja" >/dev/null || { echo "$ninja not found"; exit 1; }
[ -f "$build/build.ninja" ] || { echo "no $build/build.ninja (make build)"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/backtestd-up-to-date-XXXXXX")
trap 'rm -rf "$work"' EXIT

# A dry run of build.ninja stops at its own regeneration, which the CONFIGURE_DEPENDS globs make
# look due in every dry run; the same graph under another name has no step that remakes it.
cp "$build/build.ninja" "$work/graph.ninja"
if ! "$ninja" -C "$build" -f "$work/graph.ninja" -n -d explain >"$work/out" 2>&1; then
  cat "$work/out"
  exit 1
fi
if grep -q '^\[[0-9]*/[0-9]*\]' "$work/out"; then
  echo "FAIL a build with nothing changed would run these steps (ninja's reasons first):"
  grep -v 'phony edge with no inputs\|all is dirty$' "$work/out"
  exit 1
fi
echo "ok   a build with nothing changed has nothing to do ($(tail -n1 "$work/out"))"
