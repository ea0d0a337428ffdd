#!/usr/bin/env bash
# The SDK benchmark: 100-task flows in Rust on Weir vs Python on a real Prefect 3.9.1 server, one
# after the other; builds the release binaries first and updates BENCHMARKS.md.
#   bench/run_sdk_side_by_side.sh [--repeats N] [--tasks N]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
cargo build --release -p weir-cli -p weir-bench
WEIR_BENCH_COMMAND="bench/run_sdk_side_by_side.sh${*:+ $*}" exec python3 "$here/run_sdk_side_by_side.py" "$@"
