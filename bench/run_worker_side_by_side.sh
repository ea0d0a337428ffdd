#!/usr/bin/env bash
# The worker benchmark: Weir's process worker vs Prefect 3.9.1's, one after the other; builds the
# release binaries first and updates BENCHMARKS.md. Options go to run_worker_side_by_side.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
cargo build --release -p weir-cli -p weir-bench
WEIR_BENCH_COMMAND="bench/run_worker_side_by_side.sh${*:+ $*}" exec python3 "$here/run_worker_side_by_side.py" "$@"
