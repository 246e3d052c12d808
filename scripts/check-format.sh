#!/usr/bin/env bash
# Fails if any C++ source differs from clang-format (Google base, .clang-format), or any Go
# source (tests/kubernetes) from gofmt where Go is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.h' '*.cc' 2>/dev/null || find src tests bench -name '*.h' -o -name '*.cc')
[ -n "$files" ] || exit 0
bad=$(clang-format --dry-run $files 2>&1 | grep -c "warning:" || true)
if [ "$bad" != "0" ]; then
  clang-format --dry-run $files 2>&1 | grep "warning:" | cut -d: -f1 | sort -u | sed 's/^/needs clang-format: /'
  echo "check-format: run 'clang-format -i' on the files above" >&2
  exit 1
fi
go_files=$(git ls-files '*.go' 2>/dev/null || find tests -name '*.go')
if [ -n "$go_files" ] && command -v gofmt >/dev/null 2>&1; then
  unformatted=$(gofmt -l $go_files)
  if [ -n "$unformatted" ]; then
    echo "$unformatted" | sed 's/^/needs gofmt: /'
    echo "check-format: run 'gofmt -w' on the files above" >&2
    exit 1
  fi
fi
echo "check-format: ok"
