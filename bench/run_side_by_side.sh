#!/usr/bin/env bash
# Weir vs real Prefect 3.9.1, same HTTP workloads, one after the other; updates BENCHMARKS.md.
# All options go to run_side_by_side.py (see its --help), e.g.:
#   bench/run_side_by_side.sh                     # both (Weir from $WEIR_BIN, default target/release/weir)
#   bench/run_side_by_side.sh --only prefect      # only the real Prefect server
# The python used must have httpx; default: the prefect venv's python ($BENCH_PYTHON to override).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${BENCH_PYTHON:-/var/cache/weir/prefect-venv/bin/python}"
if ! "$py" -c 'import httpx' 2>/dev/null; then
  echo "run_side_by_side.sh: $py lacks httpx (set BENCH_PYTHON)" >&2
  exit 2
fi
WEIR_BENCH_COMMAND="bench/run_side_by_side.sh${*:+ $*}" exec "$py" "$here/run_side_by_side.py" "$@"
