#!/usr/bin/env bash
# Weir vs real Prefect 3.9.1, same HTTP workloads and the same load client, one after the other;
# updates BENCHMARKS.md. All options go to run_side_by_side.py (see its --help), e.g.:
#   bench/run_side_by_side.sh                     # both; driver = target/release/weir-bench ($WEIR_BENCH_BIN)
#   bench/run_side_by_side.sh --only prefect      # only the real Prefect server
#   bench/run_side_by_side.sh --driver python     # old httpx client (bench/server_bench.py)
# Python: $BENCH_PYTHON, else the prefect venv's python (it has httpx, needed by --driver python),
# else python3 (enough for the default Rust driver).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv_py=/var/cache/weir/prefect-venv/bin/python
if [[ -n "${BENCH_PYTHON:-}" ]]; then
  py="$BENCH_PYTHON"
elif [[ -x "$venv_py" ]]; then
  py="$venv_py"
else
  py="$(command -v python3)"
fi
WEIR_BENCH_COMMAND="bench/run_side_by_side.sh${*:+ $*}" exec "$py" "$here/run_side_by_side.py" "$@"
