#!/usr/bin/env bash
# Right after a build, a build with nothing changed has nothing to do: ninja, asked what it would
# run in BUILD_DIR, names no step. (A command that is always out of date, as protoc's was while
# its dependency file named another output first, makes every `make build` re-run it and
# recompile everything that includes what it generates.)
#
# Fails on any step ninja would run for a reason of the build's own (a dependency file that does
# not match, an output a command does not write, a generated input newer than its output). When
# the only reason is source files edited since the build, it cannot judge: it lists them and
# exits 77, which ctest reports as skipped.
#
#   tests/build/up_to_date_test.sh BUILD_DIR [NINJA]
set -euo pipefail
build=${1:?usage: up_to_date_test.sh BUILD_DIR [NINJA]}
ninja=${2:-ninja}
command -v "$ninja" >/dev/null || { echo "$ninja not found"; exit 1; }
[ -f "$build/build.ninja" ] || { echo "no $build/build.ninja (make build)"; exit 1; }
build=$(cd "$build" && pwd -P)
work=$(mktemp -d "${TMPDIR:-/tmp}/backtestd-up-to-date-XXXXXX")
trap 'rm -rf "$work"' EXIT

# A dry run of build.ninja stops at its own regeneration, which the CONFIGURE_DEPENDS globs make
# look due in every dry run; the same graph under another name has no step that remakes it.
cp "$build/build.ninja" "$work/graph.ninja"
if ! "$ninja" -C "$build" -f "$work/graph.ninja" -n -d explain >"$work/out" 2>&1; then
  cat "$work/out"
  exit 1
fi
if ! grep -q '^\[[0-9]*/[0-9]*\]' "$work/out"; then
  echo "ok   a build with nothing changed has nothing to do ($(tail -n1 "$work/out"))"
  exit 0
fi

# Why ninja would run something: the first reason of each out-of-date output.
sed -n 's/^ninja explain: //p' "$work/out" |
  grep -v ' is dirty$\|phony edge with no inputs' >"$work/reasons" || true
own=$(grep -v 'older than most recent input' "$work/reasons" || true)
edited=()
while read -r input; do
  [ -n "$input" ] || continue
  case $input in /*) path=$input ;; *) path=$build/$input ;; esac
  path=$(realpath -m "$path")
  if [[ $path == "$build"/* ]]; then
    own+=$'\n'"generated input newer than its output: $input"
  else
    edited+=("$input")
  fi
done < <(sed -n 's/.*older than most recent input \(.*\) ([0-9]* vs [0-9]*)$/\1/p' "$work/reasons" |
         sort -u)
if [ -n "${own//$'\n'/}" ]; then
  echo "FAIL a build with nothing changed would run steps; ninja's reasons:"
  grep -v '^$' <<<"$own"
  echo "(the steps: $(grep -c '^\[[0-9]*/[0-9]*\]' "$work/out"))"
  exit 1
fi
echo "skipped: source files changed since the last build, so this build is not a fresh one:"
printf '  %s\n' "${edited[@]}"
exit 77
