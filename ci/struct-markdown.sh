#!/usr/bin/env bash
# Runs `packer-sdc struct-markdown` on a Go file. packer-sdc finds the
# project root by walking up to a directory named packer-plugin-*, and
# loops forever when there is none (packer-plugin-sdk v0.6.6
# cmd/packer-sdc/internal/struct-markdown: filepath.Dir("/") is "/"), which
# is the case for any checkout not named that way. So the file is reached
# through a temporary packer-plugin-esxi symlink to the repository root.
# Usage (from go:generate): ci/struct-markdown.sh config.go
set -euo pipefail
file=$(realpath "$1")
root=$(git -C "$(dirname "$file")" rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ln -s "$root" "$tmp/packer-plugin-esxi"
go tool packer-sdc struct-markdown "$tmp/packer-plugin-esxi/${file#"$root"/}"
