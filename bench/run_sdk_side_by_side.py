"""SDK benchmark, side by side in one run: a flow of 100 sequential trivial tasks and a flow of 100
tasks submitted concurrently, in Rust (weir-sdk) against `weir server start` versus Python
(prefect 3.9.1) against `prefect server start`. Reports the wall time of each flow call, the
per-task overhead (wall time / tasks) and the time until the server lists every task run as
COMPLETED, then writes the section between the sdk markers of BENCHMARKS.md.

The server-starting helpers are shared with run_side_by_side.py (the HTTP API benchmark).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_side_by_side as common  # noqa: E402

REPO = HERE.parent
BEGIN = "<!-- weir-bench:sdk:begin -->"
END = "<!-- weir-bench:sdk:end -->"


def run_side(name: str, args) -> dict:
    """Starts one server, runs its half of the benchmark against it, stops it."""
    port = common.free_port()
    with tempfile.TemporaryDirectory(prefix=f"sdk-bench-{name}-") as home:
        cmd, env = common.server_spec(name, args, port, home)
        if name == "prefect":
            env["PREFECT_UI_ENABLED"] = "false"
        server_log = open(os.path.join(home, "server.log"), "w")
        proc = subprocess.Popen(cmd, env=env, stdout=server_log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{port}/api"
        try:
            healthy_after = common.wait_health(url, proc, 180)
            client_env = dict(env)
            if name == "weir":
                driver = [args.sdk_bench_bin, "--url", url]
            else:
                client_env["PREFECT_API_URL"] = url
                driver = [str(Path(args.prefect_bin).with_name("python")), str(HERE / "sdk_bench.py")]
            driver += ["--repeats", str(args.repeats), "--tasks", str(args.tasks)]
            load = common.loadavg()
            # Both SDKs log every task run at INFO; the lines go to a file, not a terminal.
            with open(os.path.join(home, "client.log"), "w") as client_log:
                out = subprocess.run(driver, env=client_env, stdout=subprocess.PIPE,
                                     stderr=client_log, text=True, timeout=3600)
            if out.returncode != 0:
                tail = Path(home, "client.log").read_text()[-2000:]
                raise RuntimeError(f"{name} driver failed ({out.returncode}):\n{tail}")
            result = json.loads(out.stdout)
            result["healthy_after_s"] = healthy_after
            result["loadavg_before"] = load
            return result
        finally:
            common.stop(proc)
            server_log.close()


def fmt(ms: float) -> str:
    return f"{ms:,.1f}" if ms >= 10 else f"{ms:,.2f}"


def render(results: dict, info: dict, command: str, args) -> str:
    weir, prefect = results["weir"], results["prefect"]
    rows = []
    labels = [
        ("wall_ms", "flow call → return (ms)"),
        ("per_task_ms", "per-task overhead = wall / tasks (ms)"),
        ("all_recorded_after_call_ms", "call → server shows every task COMPLETED (ms)"),
        ("all_recorded_after_return_ms", "return → server shows every task COMPLETED (ms)"),
    ]
    for workload in ("sequential", "concurrent"):
        for key, label in labels:
            w, p = weir[workload][key]["median"], prefect[workload][key]["median"]
            ratio = f"{p / w:,.1f}×" if w > 0 else "n/a"
            rows.append(f"| {workload}: {label} | {fmt(w)} | {fmt(p)} | {ratio} |")
    spread = []
    for name, res in (("Weir", weir), ("Prefect", prefect)):
        for workload in ("sequential", "concurrent"):
            wall = res[workload]["wall_ms"]
            spread.append(f"{name} {workload} wall min/max {fmt(wall['min'])}/{fmt(wall['max'])} ms")
    return "\n".join([
        BEGIN,
        "## SDK side by side: Rust flows on Weir vs Python flows on Prefect 3.9.1",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: `nproc` = {info['nproc']}, {info['cpu_model']}; {info['mem_total']} RAM. "
        f"Load average before Weir {weir['loadavg_before']}, before Prefect {prefect['loadavg_before']}.",
        f"- Git commit: {common.git_rev()}",
        f"- Command: `{command}`",
        f"- Workloads ({args.tasks} tasks per flow run, median of {args.repeats} runs after one "
        "warm-up): *sequential* = a flow awaiting a trivial task (returns its input) 100 times; "
        "*concurrent* = a flow mapping that task over 100 inputs (`trivial::map` / `trivial.map`) "
        "and waiting for all. The server is polled every 10 ms for the flow run's COMPLETED task "
        "runs. Both SDKs run with default settings (logs at INFO, shipped to the server).",
        "- Weir: `target/release/weir-sdk-bench` (weir-sdk, release build) against "
        "`weir server start` (SQLite). Prefect: `bench/sdk_bench.py` (prefect 3.9.1 @flow/@task) "
        "against `prefect server start` (SQLite).",
        "",
        "| metric (median) | Weir (Rust SDK) | Prefect 3.9.1 (Python) | Prefect / Weir |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        "Targets from the issue: the whole 100-task flow under 100 ms from call to return (under "
        "0.5 ms per task), and every task recorded on the server within 200 ms of the flow's end.",
        "",
        "Spread: " + "; ".join(spread) + ".",
        END,
        "",
    ])



def main() -> int:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weir-bin", default=str(target / "release/weir"))
    ap.add_argument("--sdk-bench-bin", default=str(target / "release/weir-sdk-bench"))
    ap.add_argument("--prefect-bin", default=os.environ.get("PREFECT_BIN", common.DEFAULT_PREFECT_BIN))
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--out", default=str(REPO / "BENCHMARKS.md"))
    args = ap.parse_args()
    info = common.machine_info()
    results = {}
    for name in ("weir", "prefect"):
        print(f"running the {name} half...", file=sys.stderr)
        results[name] = run_side(name, args)
    command = os.environ.get("WEIR_BENCH_COMMAND", "bench/run_sdk_side_by_side.sh")
    section = render(results, info, command, args)
    common.write_section(Path(args.out), section, BEGIN, END)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
