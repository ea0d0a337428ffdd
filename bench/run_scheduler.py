"""Scheduler benchmark (Weir only): 100 deployments with an every-second schedule, on a fresh
`weir server start` (SQLite) each round; the time from the first deployment's creation until the
scheduler has materialised 10,000 runs. Prints each round and the median; `--write` replaces the
scheduler line of BENCHMARKS.md's worker section."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_side_by_side as common  # noqa: E402
import run_worker_side_by_side as worker_bench  # noqa: E402

REPO = HERE.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def one_round(weir_bin):
    home = tempfile.mkdtemp(prefix="weir-sched-")
    port = common.free_port()
    server = subprocess.Popen([weir_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env={**os.environ, "WEIR_HOME": home},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/api"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if common.http_json(f"{base}/health") is not None:
                    break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        return worker_bench.materialise(base)
    finally:
        server.terminate()
        server.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weir-bin", default=str(TARGET / "release/weir"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rounds = [one_round(args.weir_bin) for _ in range(args.rounds)]
    for r in rounds:
        print(f"{r['runs']} runs in {r['seconds']:.2f} s (deployments created in {r['deployments_created_seconds']:.2f} s)")
    median = statistics.median(r["seconds"] for r in rounds)
    print(f"median {median:.2f} s")
    seconds = ", ".join(f"{r['seconds']:.2f}" for r in rounds)
    if args.write:
        path = REPO / "BENCHMARKS.md"
        lines = path.read_text().splitlines()
        line = (f"Scheduler (Weir): 10,000 runs materialised for 100 deployments (one every-second schedule "
                f"each) in a median of {median:.2f} s over {args.rounds} fresh servers "
                f"({seconds} s), from the first deployment's "
                f"creation, creating the 100 deployments over HTTP included "
                f"(`python3 bench/run_scheduler.py --write`; runs are inserted 1,000 rows per statement).")
        lines = [line if l.startswith("Scheduler (Weir):") else l for l in lines]
        path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
