#!/usr/bin/env bash
# The Kubernetes worker at scale on weir-kube-sim; builds the release binaries first and updates
# BENCHMARKS.md. Options go to run_kube_scale.py (e.g. --runs 500).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
cargo build --release -p weir-cli -p weir-bench -p weir-kube-sim
WEIR_BENCH_COMMAND="bench/run_kube_scale.sh${*:+ $*}" exec python3 "$here/run_kube_scale.py" "$@"
