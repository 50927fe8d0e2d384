#!/usr/bin/env bash
# Fails when `go generate ./...` changes or adds a file: generated code
# (the .hcl2spec.go files, doc partials) must be committed as generated.
set -euo pipefail
before=$(git ls-files -co --exclude-standard -z | sort -z | xargs -0 -r sha256sum)
go generate ./...
after=$(git ls-files -co --exclude-standard -z | sort -z | xargs -0 -r sha256sum)
if [ "$before" != "$after" ]; then
  echo "go generate changed these files; run 'go generate ./...' and commit the result:" >&2
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "  " $3}' | sort -u >&2
  exit 1
fi
