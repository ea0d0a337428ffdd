"""Worker benchmark, side by side in one run: Weir (server + `weir worker start`, a Rust flow binary)
versus Prefect 3.9.1 (server + `prefect worker start --type process`, a Python flow), both process
workers on SQLite. Measures:

- latency from `create_flow_run` to RUNNING and to COMPLETED, one run at a time (p50/p95);
- total time for N queued trivial runs through one worker (and how many did not complete);
- the worker's RSS (its own process, not the flow runs), idle and at its peak;
- Weir only: the scheduler materialising 10,000 runs (100 deployments x 100 runs each).

Prefect's worker runs with its default poll (10 s) and with PREFECT_WORKER_QUERY_SECONDS=1.
Writes the section between the worker markers of BENCHMARKS.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_side_by_side as common  # noqa: E402

REPO = HERE.parent
BEGIN = "<!-- weir-bench:worker:begin -->"
END = "<!-- weir-bench:worker:end -->"

PY_FLOW = '''
from prefect import flow, task

@task
def touch(n: int) -> int:
    return n

@flow(name="bench-trivial")
def trivial(n: int = 0) -> int:
    return touch(n)
'''


RETRIED = {"count": 0}


def api(url, method="GET", body=None):
    """One JSON call; a busy answer (429/503) is retried with backoff, as Prefect's client does."""
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(8):
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                text = answer.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            if error.code not in (429, 503) or attempt == 7:
                raise
            RETRIED["count"] += 1
            time.sleep(0.1 * 2 ** attempt)


class RssSampler(threading.Thread):
    """Samples one process's RSS every 100 ms; `peak_kb` is the largest seen."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stopped = pid, 0, threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.peak_kb = max(self.peak_kb, common.rss_kb([self.pid]) or 0)
            time.sleep(0.1)

    def finish(self):
        self.stopped.set()
        self.join(timeout=2)
        return self.peak_kb


def wait_state(base, run_id, targets, timeout=300):
    """Polls every 5 ms; returns {state_type: first time seen}, for the target states."""
    seen = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api(f"{base}/flow_runs/{run_id}")["state_type"]
        now = time.monotonic()
        if state in ("RUNNING", "COMPLETED") and "RUNNING" not in seen:
            seen["RUNNING"] = now
        if state not in seen:
            seen[state] = now
        if state in targets:
            return seen
        time.sleep(0.005)
    raise RuntimeError(f"run {run_id} never reached {targets}")


def latencies(base, deployment, runs):
    to_running, to_completed = [], []
    for n in range(runs):
        started = time.monotonic()
        run = api(f"{base}/deployments/{deployment}/create_flow_run", "POST", {"parameters": {"n": n}})
        seen = wait_state(base, run["id"], {"COMPLETED", "FAILED", "CRASHED"})
        if "COMPLETED" not in seen:
            raise RuntimeError(f"a latency run ended {seen}")
        to_running.append((seen["RUNNING"] - started) * 1e3)
        to_completed.append((seen["COMPLETED"] - started) * 1e3)
    return to_running, to_completed


def queued(base, deployment, runs, timeout):
    def body(states):
        return {"flow_runs": {"deployment_id": {"any_": [deployment]},
                              "state": {"type": {"any_": states}}}}

    # Runs of this deployment that finished before the burst (the latency runs) are not counted.
    before = {k: api(f"{base}/flow_runs/count", "POST", body(v)) for k, v in
              (("finished", ["COMPLETED", "FAILED", "CRASHED"]), ("completed", ["COMPLETED"]),
               ("crashed", ["CRASHED"]))}
    started = time.monotonic()
    for n in range(runs):
        api(f"{base}/deployments/{deployment}/create_flow_run", "POST", {"parameters": {"n": n}})
    created = time.monotonic() - started
    while time.monotonic() - started < timeout:
        finished = api(f"{base}/flow_runs/count", "POST", body(["COMPLETED", "FAILED", "CRASHED"]))
        if finished - before["finished"] >= runs:
            break
        time.sleep(0.1)
    total = time.monotonic() - started
    completed = api(f"{base}/flow_runs/count", "POST", body(["COMPLETED"])) - before["completed"]
    crashed = api(f"{base}/flow_runs/count", "POST", body(["CRASHED"])) - before["crashed"]
    return {"runs": runs, "seconds": total, "create_seconds": created,
            "completed": completed, "crashed": crashed}


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def start_server(name, args, home):
    port = common.free_port()
    cmd, env = common.server_spec(name, args, port, home)
    env["PREFECT_UI_ENABLED"] = "false"
    log = open(os.path.join(home, "server.log"), "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api"
    common.wait_health(base, proc, 180)
    return proc, base, env


def weir_half(args):
    with tempfile.TemporaryDirectory(prefix="worker-bench-weir-") as home:
        server, base, env = start_server("weir", args, home)
        env = {**env, "WEIR_API_URL": base, "RUST_LOG": "warn"}
        worker = subprocess.Popen([args.weir_bin, "worker", "start", "--pool", "bench", "--limit", "64",
                                   "--name", "bench"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(home, "worker.log"), "w"), start_new_session=True)
        try:
            for _ in range(200):
                try:
                    api(f"{base}/work_pools/bench")
                    break
                except Exception:
                    time.sleep(0.05)
            time.sleep(1)
            idle_kb = common.rss_kb([worker.pid])
            subprocess.run([args.flows_bin, "deploy", "--pool", "bench"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deployment = api(f"{base}/deployments/name/bench-trivial/default")["id"]
            sampler = RssSampler(worker.pid)
            sampler.start()
            to_running, to_completed = latencies(base, deployment, args.latency_runs)
            burst = queued(base, deployment, args.weir_queued, 600)
            peak_kb = sampler.finish()
            scheduler = materialise(base)
            return {"to_running": to_running, "to_completed": to_completed, "queued": burst,
                    "idle_kb": idle_kb, "peak_kb": peak_kb, "scheduler": scheduler,
                    "load": common.loadavg()}
        finally:
            common.stop(worker)
            common.stop(server)


def materialise(base):
    """100 deployments with an every-second schedule: the scheduler fills each with 100 runs."""
    flow = api(f"{base}/flows/", "POST", {"name": "bench-scheduled"})
    started = time.monotonic()
    for i in range(100):
        api(f"{base}/deployments/", "POST", {
            "name": f"every-second-{i}", "flow_id": flow["id"],
            "schedules": [{"schedule": {"interval": 1, "timezone": "UTC"}}]})
    created = time.monotonic() - started
    body = {"flows": {"id": {"any_": [flow["id"]]}}}
    while time.monotonic() - started < 120:
        if api(f"{base}/flow_runs/count", "POST", body) >= 10_000:
            break
        time.sleep(0.02)
    total = time.monotonic() - started
    return {"runs": api(f"{base}/flow_runs/count", "POST", body), "seconds": total,
            "deployments_created_seconds": created}


def prefect_half(args):
    with tempfile.TemporaryDirectory(prefix="worker-bench-prefect-") as home:
        server, base, env = start_server("prefect", args, home)
        env = {**env, "PREFECT_API_URL": base}
        prefect = args.prefect_bin
        python = str(Path(prefect).with_name("python"))
        Path(home, "flows.py").write_text(PY_FLOW)
        try:
            subprocess.run([prefect, "work-pool", "create", "bench", "--type", "process"], env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deploy = (f"from prefect import flow\nprint(flow.from_source(source={home!r}, "
                      f"entrypoint='flows.py:trivial').deploy(name='default', work_pool_name='bench', "
                      f"print_next_steps=False))")
            out = subprocess.run([python, "-c", deploy], env=env, check=True, capture_output=True, text=True)
            deployment = out.stdout.strip().splitlines()[-1]
            results = {"load": common.loadavg()}
            for label, poll in (("default", None), ("poll1", "1")):
                worker_env = dict(env)
                if poll:
                    worker_env["PREFECT_WORKER_QUERY_SECONDS"] = poll
                worker = subprocess.Popen([prefect, "worker", "start", "--pool", "bench", "--type", "process"],
                                          env=worker_env, stdout=subprocess.DEVNULL,
                                          stderr=open(os.path.join(home, f"worker-{label}.log"), "w"),
                                          start_new_session=True)
                try:
                    time.sleep(8)
                    idle_kb = common.rss_kb([worker.pid])
                    sampler = RssSampler(worker.pid)
                    sampler.start()
                    runs = args.prefect_latency_runs
                    to_running, to_completed = latencies(base, deployment, runs)
                    burst = queued(base, deployment, args.prefect_queued, 900) if poll else None
                    results[label] = {"to_running": to_running, "to_completed": to_completed,
                                      "queued": burst, "idle_kb": idle_kb, "peak_kb": sampler.finish()}
                finally:
                    common.stop(worker)
            return results
        finally:
            common.stop(server)


def ms(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def render(weir, prefect, info, command, args):
    rows = []

    def latency_rows(label, data):
        return [f"| {label} | {ms(pct(data['to_running'], 0.5))} | {ms(pct(data['to_running'], 0.95))} | "
                f"{ms(pct(data['to_completed'], 0.5))} | {ms(pct(data['to_completed'], 0.95))} | "
                f"{len(data['to_running'])} |"]

    rows += latency_rows("Weir (push + 10 s poll fallback)", weir)
    rows += latency_rows("Prefect, default poll (10 s)", prefect["default"])
    rows += latency_rows("Prefect, `PREFECT_WORKER_QUERY_SECONDS=1`", prefect["poll1"])
    wq, pq = weir["queued"], prefect["poll1"]["queued"]
    mb = lambda kb: f"{kb / 1024:,.1f}" if kb else "n/a"
    sched = weir["scheduler"]
    return "\n".join([
        BEGIN,
        "## Workers side by side: Weir vs Prefect 3.9.1 (process workers)",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; git commit: {common.git_rev()}",
        f"- Machine: `nproc` = {info['nproc']}, {info['cpu_model']}; load average before Weir "
        f"{weir['load']}, before Prefect {prefect['load']}.",
        f"- Command: `{command}`",
        "- Weir: `weir server start` + `weir worker start --pool bench --limit 64` running "
        "`weir-bench-flows` (a Rust flow calling one task, deployed with its `deploy --pool bench`). "
        "Prefect: `prefect server start` + `prefect worker start --type process` running the same flow "
        "in Python (deployed with `flow.from_source(...).deploy`). Both on SQLite, one machine.",
        "- Latency: runs created one at a time with `POST /deployments/{id}/create_flow_run`, the run "
        "polled every 5 ms; process start included. RSS: the worker process only, not the flow runs.",
        "",
        "| worker | → RUNNING p50 (ms) | → RUNNING p95 (ms) | → COMPLETED p50 (ms) | → COMPLETED p95 (ms) | runs |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "| queued runs through one worker | runs | total (s) | completed | crashed |",
        "|---|---:|---:|---:|---:|",
        f"| Weir | {wq['runs']} | {wq['seconds']:.1f} | {wq['completed']} | {wq['crashed']} |",
        f"| Prefect (`PREFECT_WORKER_QUERY_SECONDS=1`) | {pq['runs']} | {pq['seconds']:.1f} | "
        f"{pq['completed']} | {pq['crashed']} |",
        "",
        "| worker RSS (MB) | idle | peak |",
        "|---|---:|---:|",
        f"| Weir | {mb(weir['idle_kb'])} | {mb(weir['peak_kb'])} |",
        f"| Prefect (default poll) | {mb(prefect['default']['idle_kb'])} | {mb(prefect['default']['peak_kb'])} |",
        f"| Prefect (1 s poll) | {mb(prefect['poll1']['idle_kb'])} | {mb(prefect['poll1']['peak_kb'])} |",
        "",
        f"Scheduler (Weir): {sched['runs']:,} runs materialised for 100 deployments (one every-second "
        f"schedule each) {sched['seconds']:.2f} s after the first deployment was created (creating the "
        f"100 deployments over HTTP took {sched['deployments_created_seconds']:.2f} s of that).",
        "",
        f"Busy answers (429/503) the benchmark client retried, both halves: {RETRIED['count']}.",
        "",
        "Targets from the issue: p95 to RUNNING under 300 ms, 500 queued runs all COMPLETED in under "
        "30 s, worker RSS under 20 MB, 10,000 scheduled runs materialised in under 1 s.",
        END,
        "",
    ])



def main():
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weir-bin", default=str(target / "release/weir"))
    ap.add_argument("--flows-bin", default=str(target / "release/weir-bench-flows"))
    ap.add_argument("--prefect-bin", default=os.environ.get("PREFECT_BIN", common.DEFAULT_PREFECT_BIN))
    ap.add_argument("--latency-runs", type=int, default=50)
    ap.add_argument("--weir-queued", type=int, default=500)
    ap.add_argument("--prefect-latency-runs", type=int, default=10)
    ap.add_argument("--prefect-queued", type=int, default=50)
    ap.add_argument("--skip-prefect", action="store_true")
    ap.add_argument("--prefect-results", help="reuse the Prefect half saved by an earlier run (JSON)")
    ap.add_argument("--out", default=str(REPO / "BENCHMARKS.md"))
    args = ap.parse_args()
    info = common.machine_info()
    print("running the weir half...", file=sys.stderr)
    weir = weir_half(args)
    print(json.dumps({k: v for k, v in weir.items() if k not in ("to_running", "to_completed")}), file=sys.stderr)
    if args.skip_prefect:
        return 0
    if args.prefect_results:
        prefect = json.loads(Path(args.prefect_results).read_text())
    else:
        print("running the prefect half...", file=sys.stderr)
        prefect = prefect_half(args)
        Path(tempfile.gettempdir(), "weir-worker-bench-prefect.json").write_text(json.dumps(prefect))
    command = os.environ.get("WEIR_BENCH_COMMAND", "bench/run_worker_side_by_side.sh")
    section = render(weir, prefect, info, command, args)
    common.write_section(Path(args.out), section, BEGIN, END)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
