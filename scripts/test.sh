#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs the whole suite (`deno task ci`:
# fmt, lint, type check, doc lint and the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
exec deno task ci
