"""Scheduler benchmark (Weir only): 100 deployments with an every-second schedule, on a fresh
`weir server start` each round (SQLite by default; `--postgres URL` for a fresh schema of that
PostgreSQL database); the time from the first deployment's creation until the scheduler has
materialised 10,000 runs. Prints each round and the median. `--baseline-bin` alternates rounds
with a second binary (e.g. main's) and prints the ratio of the medians. `--write` replaces the
scheduler line of BENCHMARKS.md's worker section (SQLite only)."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_side_by_side as common  # noqa: E402
import run_worker_side_by_side as worker_bench  # noqa: E402

REPO = HERE.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def fresh_postgres_schema(url):
    """A new schema in the database at `url`, and the URL that makes it the search path."""
    schema = f"weir_sched_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", url, "-q", "-c", f"CREATE SCHEMA {schema}"], check=True)
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-c%20search_path%3D{schema}"


def one_round(weir_bin, postgres):
    home = tempfile.mkdtemp(prefix="weir-sched-")
    env = {**os.environ, "WEIR_HOME": home}
    schema = None
    if postgres:
        schema, env["WEIR_DATABASE_URL"] = fresh_postgres_schema(postgres)
    port = common.free_port()
    server = subprocess.Popen([weir_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        if schema:
            subprocess.run(["psql", postgres, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"], check=True)


def report(label, rounds):
    for r in rounds:
        print(f"{label}: {r['runs']} runs in {r['seconds']:.2f} s "
              f"(deployments created in {r['deployments_created_seconds']:.2f} s)")
    median = statistics.median(r["seconds"] for r in rounds)
    print(f"{label}: median {median:.2f} s")
    return median


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weir-bin", default=str(TARGET / "release/weir"))
    ap.add_argument("--baseline-bin", help="a second weir binary measured in alternate rounds")
    ap.add_argument("--postgres", metavar="URL", help="run on a fresh schema of this PostgreSQL database")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rounds, baseline = [], []
    for _ in range(args.rounds):
        rounds.append(one_round(args.weir_bin, args.postgres))
        if args.baseline_bin:
            baseline.append(one_round(args.baseline_bin, args.postgres))
    median = report("weir", rounds)
    if baseline:
        base_median = report("baseline", baseline)
        print(f"baseline/weir: {base_median / median:.1f}x")
    seconds = ", ".join(f"{r['seconds']:.2f}" for r in rounds)
    if args.write and not args.postgres:
        path = REPO / "BENCHMARKS.md"
        lines = path.read_text().splitlines()
        line = (f"Scheduler (Weir): 10,000 runs materialised for 100 deployments (one every-second schedule "
                f"each) in a median of {median:.2f} s over {args.rounds} fresh servers "
                f"({seconds} s), from the first deployment's "
                f"creation, creating the 100 deployments over HTTP included "
                f"(`python3 bench/run_scheduler.py --write`; 16 rows per SQLite statement, 1,000 per transaction).")
        lines = [line if l.startswith("Scheduler (Weir):") else l for l in lines]
        path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
