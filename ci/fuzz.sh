#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (go test accepts
# one -fuzz target per package per run, so they are run one at a time).
# Usage: ci/fuzz.sh 5s
set -euo pipefail
fuzztime=${1:-10s}
n=0
while IFS= read -r dir; do
  pkg="./$dir"
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1 || {
      cat /tmp/fuzz.$$.log; rm -f /tmp/fuzz.$$.log
      echo "fuzz: $pkg $target FAILED (the failing input is under $dir/testdata/fuzz/$target)" >&2
      exit 1
    }
    n=$((n + 1))
  done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./ci/packer/' | xargs -r -n1 dirname | sed 's|^\./||' | sort -u)
rm -f /tmp/fuzz.$$.log
echo "fuzz: $n targets, $fuzztime each, no failures"
