"""Kubernetes worker at scale: one `weir worker start --type kubernetes` drives N flow runs created at
once (default 500) on `weir-kube-sim`, whose kubelet runs the real Rust flow binary
(`weir-bench-flows`) as each pod's process. Measures:

- time from a run's creation to its Job appearing in the cluster (seen on a watch of Jobs), p50/p99;
- time until every run is final, and how many COMPLETED;
- the worker process's RSS (peak, from VmHWM) and CPU seconds (its own, not the flows').

Writes the section between the kube markers of BENCHMARKS.md.
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
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_side_by_side as common  # noqa: E402

REPO = HERE.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
BEGIN = "<!-- weir-bench:kube:begin -->"
END = "<!-- weir-bench:kube:end -->"
IMAGE = "registry.local/bench-flows:1"


def call(url, method="GET", body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(8):
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                text = answer.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            if error.code in (429, 503) and attempt < 7:
                time.sleep(0.2 * 2 ** attempt)
                continue
            raise


def wait_for(check, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


class JobWatch(threading.Thread):
    """Records when each run's Job first shows up on a watch of the simulator's Jobs."""

    def __init__(self, sim_url):
        super().__init__(daemon=True)
        self.url = f"{sim_url}/apis/batch/v1/namespaces/default/jobs?watch=1"
        self.seen = {}

    def run(self):
        with urllib.request.urlopen(self.url, timeout=3600) as stream:
            for line in stream:
                event = json.loads(line)
                labels = event.get("object", {}).get("metadata", {}).get("labels", {})
                run = labels.get("prefect.io/flow-run-id")
                if run and run not in self.seen:
                    self.seen[run] = time.time()


class Peak(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.running = pid, True

    def run(self):
        while self.running:
            time.sleep(0.5)

    def vm_hwm_kb(self):
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return None

    def cpu_s(self):
        fields = common._stat_fields(self.pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--weir-bin", default=str(TARGET / "release/weir"))
    ap.add_argument("--sim-bin", default=str(TARGET / "release/weir-kube-sim"))
    ap.add_argument("--flows-bin", default=str(TARGET / "release/weir-bench-flows"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="weir-kube-bench-"))
    procs = []
    try:
        port = common.free_port()
        base = f"http://127.0.0.1:{port}/api"
        server = subprocess.Popen(
            [args.weir_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "WEIR_HOME": str(work / "home")},
            stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
        procs.append(server)
        kubeconfig = work / "sim.kubeconfig"
        sim_port = common.free_port()
        sim = subprocess.Popen(
            [args.sim_bin, "--port", str(sim_port), "--kubeconfig", str(kubeconfig),
             "--scenario", f"{IMAGE.split(':')[0]}*=run-local"],
            stdout=subprocess.DEVNULL, stderr=open(work / "sim.log", "w"))
        procs.append(sim)
        sim_url = f"http://127.0.0.1:{sim_port}"
        wait_for(lambda: call(f"{base}/health") is not None, 60, "the server")
        wait_for(lambda: kubeconfig.exists() and call(f"{sim_url}/version"), 60, "the simulator")

        worker = subprocess.Popen(
            [args.weir_bin, "worker", "start", "--pool", "kbench", "--type", "kubernetes",
             "--poll-seconds", "1", "--name", "bench-worker"],
            env={**os.environ, "WEIR_API_URL": base, "KUBECONFIG": str(kubeconfig),
                 "HOME": str(work)},
            stdout=subprocess.DEVNULL, stderr=open(work / "worker.log", "w"))
        procs.append(worker)
        wait_for(lambda: call(f"{base}/work_pools/kbench"), 60, "the worker's pool")
        peak = Peak(worker.pid)
        peak.start()
        idle_kb = peak.vm_hwm_kb()

        flow = call(f"{base}/flows/", "POST", {"name": "bench-trivial"})
        deployment = call(f"{base}/deployments/", "POST", {
            "name": "kube", "flow_id": flow["id"], "work_pool_name": "kbench",
            "entrypoint": args.flows_bin, "job_variables": {"image": IMAGE},
        })
        watch = JobWatch(sim_url)
        watch.start()
        time.sleep(0.5)

        created = {}

        def create(n):
            at = time.time()
            run = call(f"{base}/deployments/{deployment['id']}/create_flow_run", "POST",
                       {"parameters": {"n": n}})
            created[run["id"]] = at

        cpu_before = peak.cpu_s()
        start = time.time()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.runs)))
        created_s = time.time() - start

        final = {}

        def all_final():
            states = {}
            offset = 0
            while True:
                page = call(f"{base}/flow_runs/filter", "POST", {
                    "flow_runs": {"state": {"type": {"any_": [
                        "COMPLETED", "FAILED", "CRASHED", "CANCELLED"]}}},
                    "limit": 200, "offset": offset})
                for run in page:
                    states[run["id"]] = run["state_type"]
                if len(page) < 200:
                    break
                offset += 200
            final.clear()
            final.update(states)
            return len(states) >= args.runs

        wait_for(all_final, 1800, "every run to end")
        total_s = time.time() - start
        cpu_s = peak.cpu_s() - cpu_before
        peak_kb = peak.vm_hwm_kb()
        peak.running = False

        to_job = [(watch.seen[r] - created[r]) * 1000 for r in created if r in watch.seen]
        completed = sum(1 for s in final.values() if s == "COMPLETED")
        result = {
            "runs": args.runs, "jobs_seen": len(to_job), "completed": completed,
            "create_s": created_s, "total_s": total_s,
            "to_job_p50_ms": pct(to_job, 50), "to_job_p99_ms": pct(to_job, 99),
            "worker_idle_kb": idle_kb, "worker_peak_kb": peak_kb, "worker_cpu_s": cpu_s,
        }
        print(json.dumps(result, indent=2))
        if not args.no_write:
            command = os.environ.get("WEIR_BENCH_COMMAND", "bench/run_kube_scale.sh")
            section = f"""{BEGIN}
## Kubernetes worker at scale (weir-kube-sim)

Command: `{command}` (release builds; machine: {os.cpu_count()} cores). One `weir worker start
--type kubernetes` against `weir server start` (SQLite) and `weir-kube-sim` on loopback, whose
kubelet runs the Rust flow binary `weir-bench-flows` as each pod's process. {args.runs} flow runs
are created at once (8 client threads); every Job is seen on a watch of the simulator's Jobs.

| measure | value |
|---|---|
| runs created / Jobs created / COMPLETED | {args.runs} / {len(to_job)} / {completed} |
| creation to Job created, p50 / p99 | {result['to_job_p50_ms']:.0f} ms / {result['to_job_p99_ms']:.0f} ms |
| creating the {args.runs} runs took | {created_s:.1f} s |
| every run final after | {total_s:.1f} s |
| worker RSS idle / peak (VmHWM) | {idle_kb / 1024:.1f} MB / {peak_kb / 1024:.1f} MB |
| worker CPU for the whole batch | {cpu_s:.2f} s ({cpu_s / args.runs * 1000:.1f} ms per run) |

The flows' own processes, the server and the simulator share the machine's two cores with the
worker, so the wall times are those of the whole system; the worker's CPU and memory are its own.
{END}
"""
            common.write_section(REPO / "BENCHMARKS.md", section, BEGIN, END)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
