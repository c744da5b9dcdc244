#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs the whole suite (`deno task ci`:
# fmt, lint, type check, doc lint and the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# A version manager's shim for python3 (pyenv's runs bash and a dozen programs first) costs 0.4 s
# a call, and the suite calls Python some 600 times (pip, wheel and tar builders): put the
# interpreter the shim would choose ahead of it. The same Python runs.
python_dir=$(python3 -c 'import os, sys; print(os.path.dirname(sys.executable))' || true)
if [ -n "$python_dir" ] && [ "$(command -v python3)" != "$python_dir/python3" ]; then
  export PATH="$python_dir:$PATH"
fi
# Deno looks for a newer release of itself once a day, over the network: the suite's traffic stays
# on this machine.
export DENO_NO_UPDATE_CHECK=1
exec deno task ci
