#!/usr/bin/env python3
"""HTTP load benchmark for a Prefect-3-compatible orchestration server (Weir or Prefect).

Usage (any python with httpx; the prefect venv has it):

    python bench/server_bench.py --url http://127.0.0.1:4200/api --pid <server pid> [--label weir]
        [--runs 2000] [--transitions 10000] [--concurrency 8] [--markdown FILE]

Workloads (each bounded in request count and in time, see --max-seconds):

  A  create flow runs: POST /flows/ once, then --runs x POST /flow_runs/
     {"flow_id": ..., "state": {"type": "PENDING", "name": "Pending"}} from --concurrency
     clients (asyncio, one httpx.AsyncClient each, one keep-alive connection each).
  B  state transitions: --transitions x POST /flow_runs/{id}/set_state over --transitions/2
     PENDING runs, each walked PENDING -> RUNNING -> COMPLETED ("force": false) by one client,
     --concurrency clients. The PENDING runs are the ones workload A created, topped up by
     a setup phase (not measured) that retries 503s and connection errors.

Errors are never retried in the measured phases: a raw client sees them. Reported per
workload: ops/s (2xx answers / wall time), p50/p90/p99/max latency in ms (all answers) and
p50/p99 of 2xx answers, non-2xx count, 503 count, connection-level failures, and for B the
number of ACCEPT answers. RSS (VmRSS summed over the server pid and its descendants) is
read idle before any load, after A and after B, and sampled every 0.25 s for the peak;
server CPU seconds (utime+stime of the same processes) per workload too.

Output: one JSON document on stdout; with --markdown FILE a table is appended to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from datetime import datetime, timezone

import httpx

HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "weir-bench/1 (httpx)",
    "X-PREFECT-API-VERSION": "0.8.4",
}


# --------------------------------------------------------------------------- /proc helpers
def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read().decode(errors="replace")
        except OSError:
            continue
        # comm may contain spaces/parens: fields after the last ')'
        rest = raw[raw.rfind(")") + 2:].split()
        ppid = int(rest[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def process_tree(pid: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def rss_kb(pid: int | None) -> int | None:
    """VmRSS in kB summed over pid and all its descendants."""
    if not pid:
        return None
    total, seen = 0, False
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        seen = True
                        break
        except OSError:
            continue
    return total if seen else None


_CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float | None:
    """utime+stime (s) summed over pid and its live descendants."""
    if not pid:
        return None
    total, seen = 0.0, False
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat", "rb") as fh:
                raw = fh.read().decode(errors="replace")
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2:].split()
        total += (int(rest[11]) + int(rest[12])) / _CLK
        seen = True
    return round(total, 2) if seen else None


class RssSampler:
    def __init__(self, pid: int | None, interval: float = 0.25):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._task: asyncio.Task | None = None

    async def _run(self):
        while True:
            v = rss_kb(self.pid)
            if v:
                self.peak = max(self.peak, v)
            await asyncio.sleep(self.interval)

    def start(self):
        if self.pid:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> int | None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        return self.peak or None


# --------------------------------------------------------------------------- stats
def pct(sorted_vals: list[float], q: float) -> float | None:
    if not sorted_vals:
        return None
    # nearest-rank percentile
    k = max(0, min(len(sorted_vals) - 1, math.ceil(q / 100.0 * len(sorted_vals)) - 1))
    return round(sorted_vals[k], 2)


class Recorder:
    def __init__(self):
        self.lat_all: list[float] = []
        self.lat_ok: list[float] = []
        self.status: dict[str, int] = {}
        self.ok = 0
        self.non2xx = 0
        self.s503 = 0
        self.conn_errors = 0
        self.error_samples: list[str] = []

    def add(self, ms: float, code: int | None, err: str | None = None):
        if code is None:
            self.conn_errors += 1
            self.status["conn_error"] = self.status.get("conn_error", 0) + 1
            if len(self.error_samples) < 5 and err:
                self.error_samples.append(err)
            return
        self.lat_all.append(ms)
        self.status[str(code)] = self.status.get(str(code), 0) + 1
        if 200 <= code < 300:
            self.ok += 1
            self.lat_ok.append(ms)
        else:
            self.non2xx += 1
            if code == 503:
                self.s503 += 1

    def summary(self, wall: float, attempted: int) -> dict:
        a, o = sorted(self.lat_all), sorted(self.lat_ok)
        return {
            "attempted": attempted,
            "ok": self.ok,
            "wall_s": round(wall, 3),
            "ok_per_s": round(self.ok / wall, 1) if wall > 0 else None,
            "attempts_per_s": round(attempted / wall, 1) if wall > 0 else None,
            "p50_ms": pct(a, 50),
            "p90_ms": pct(a, 90),
            "p99_ms": pct(a, 99),
            "max_ms": round(a[-1], 2) if a else None,
            "ok_p50_ms": pct(o, 50),
            "ok_p99_ms": pct(o, 99),
            "errors": self.non2xx + self.conn_errors,
            "non2xx": self.non2xx,
            "http_503": self.s503,
            "conn_errors": self.conn_errors,
            "status_counts": dict(sorted(self.status.items())),
            "error_samples": self.error_samples,
        }


def new_client(base: str, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base.rstrip("/"),
        headers=HEADERS,
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


async def timed_post(client: httpx.AsyncClient, path: str, body) -> tuple[float, httpx.Response | None, str | None]:
    t0 = time.perf_counter()
    try:
        r = await client.post(path, json=body)
        await r.aread()
        return (time.perf_counter() - t0) * 1000.0, r, None
    except httpx.HTTPError as exc:
        return (time.perf_counter() - t0) * 1000.0, None, f"{type(exc).__name__}: {exc}"[:200]


def pending_body(flow_id: str) -> dict:
    return {"flow_id": flow_id, "state": {"type": "PENDING", "name": "Pending"}}


# --------------------------------------------------------------------------- workloads
async def ensure_flow(base: str, timeout: float) -> str:
    async with new_client(base, timeout) as c:
        for attempt in range(20):
            try:
                r = await c.post("/flows/", json={"name": "weir-bench", "tags": [], "labels": {}})
                if r.status_code in (200, 201):
                    return r.json()["id"]
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1 * (attempt + 1))
    raise RuntimeError("POST /flows/ kept failing")


async def workload_create(base, flow_id, total, conc, timeout, max_seconds):
    rec = Recorder()
    created: list[str] = []
    counter = {"next": 0}
    clients = [new_client(base, timeout) for _ in range(conc)]
    deadline = time.monotonic() + max_seconds
    body = pending_body(flow_id)

    async def worker(c):
        while counter["next"] < total and time.monotonic() < deadline:
            counter["next"] += 1
            ms, r, err = await timed_post(c, "/flow_runs/", body)
            rec.add(ms, r.status_code if r is not None else None, err)
            if r is not None and r.status_code in (200, 201):
                try:
                    created.append(r.json()["id"])
                except Exception:
                    pass

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    wall = time.perf_counter() - t0
    for c in clients:
        await c.aclose()
    out = rec.summary(wall, counter["next"])
    out["target"] = total
    out["stopped_by_time_limit"] = counter["next"] < total
    return out, created


async def setup_pending_runs(base, flow_id, need, conc, timeout, max_seconds) -> tuple[list[str], dict]:
    """Unmeasured top-up: create `need` PENDING runs, retrying 503/conn errors."""
    ids: list[str] = []
    counter = {"next": 0, "retries": 0}
    deadline = time.monotonic() + max_seconds
    clients = [new_client(base, timeout) for _ in range(conc)]
    body = pending_body(flow_id)

    async def worker(c):
        while counter["next"] < need and time.monotonic() < deadline:
            counter["next"] += 1
            for attempt in range(50):
                _, r, _ = await timed_post(c, "/flow_runs/", body)
                if r is not None and r.status_code in (200, 201):
                    ids.append(r.json()["id"])
                    break
                counter["retries"] += 1
                await asyncio.sleep(min(0.02 * (attempt + 1), 0.5))
                if time.monotonic() >= deadline:
                    break

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    for c in clients:
        await c.aclose()
    return ids, {"created": len(ids), "retries": counter["retries"], "wall_s": round(time.perf_counter() - t0, 2)}


async def workload_transitions(base, run_ids, conc, timeout, max_seconds):
    rec = Recorder()
    accepts = {"RUNNING": 0, "COMPLETED": 0}
    statuses: dict[str, int] = {}
    idx = {"next": 0, "attempted": 0}
    clients = [new_client(base, timeout) for _ in range(conc)]
    deadline = time.monotonic() + max_seconds

    async def worker(c):
        while idx["next"] < len(run_ids) and time.monotonic() < deadline:
            rid = run_ids[idx["next"]]
            idx["next"] += 1
            # Both transitions are always sent (no retry, no skip), so every run costs two requests.
            for typ, name in (("RUNNING", "Running"), ("COMPLETED", "Completed")):
                body = {"state": {"type": typ, "name": name}, "force": False}
                idx["attempted"] += 1
                ms, r, err = await timed_post(c, f"/flow_runs/{rid}/set_state", body)
                rec.add(ms, r.status_code if r is not None else None, err)
                if r is not None and 200 <= r.status_code < 300:
                    try:
                        st = r.json().get("status")
                    except Exception:
                        st = "unparsable"
                    statuses[str(st)] = statuses.get(str(st), 0) + 1
                    if st == "ACCEPT":
                        accepts[typ] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    wall = time.perf_counter() - t0
    for c in clients:
        await c.aclose()
    out = rec.summary(wall, idx["attempted"])
    out["target"] = 2 * len(run_ids)
    out["stopped_by_time_limit"] = idx["next"] < len(run_ids)
    out["accept"] = accepts["RUNNING"] + accepts["COMPLETED"]
    out["accept_running"] = accepts["RUNNING"]
    out["accept_completed"] = accepts["COMPLETED"]
    out["orchestration_status_counts"] = dict(sorted(statuses.items()))
    return out


async def count_completed(base, flow_id, timeout) -> int | None:
    body = {"flows": {"id": {"any_": [flow_id]}},
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
    async with new_client(base, timeout) as c:
        for attempt in range(10):
            try:
                r = await c.post("/flow_runs/count", json=body)
                if r.status_code == 200:
                    return int(r.json())
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(0.2 * (attempt + 1))
    return None


async def server_version(base, timeout) -> str | None:
    async with new_client(base, timeout) as c:
        try:
            r = await c.get("/admin/version")
            return r.json() if r.status_code == 200 else None
        except Exception:
            return None


async def run(args) -> dict:
    base = args.url.rstrip("/")
    res: dict = {
        "label": args.label,
        "url": base,
        "pid": args.pid,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"runs": args.runs, "transitions": args.transitions, "concurrency": args.concurrency,
                   "warmup": args.warmup, "max_seconds": args.max_seconds},
    }
    res["server_version"] = await server_version(base, args.timeout)
    res["rss_idle_kb"] = rss_kb(args.pid)
    cpu0 = cpu_seconds(args.pid)

    flow_id = await ensure_flow(base, args.timeout)
    res["flow_id"] = flow_id
    if args.warmup:
        _, meta = await setup_pending_runs(base, flow_id, args.warmup, 1, args.timeout, 60)
        res["warmup"] = meta

    # ---- A
    sampler = RssSampler(args.pid)
    sampler.start()
    cpu_a0 = cpu_seconds(args.pid)
    a, created = await workload_create(base, flow_id, args.runs, args.concurrency, args.timeout, args.max_seconds)
    cpu_a1 = cpu_seconds(args.pid)
    a["server_cpu_s"] = round(cpu_a1 - cpu_a0, 2) if cpu_a0 is not None and cpu_a1 is not None else None
    res["create_runs"] = a
    res["rss_after_create_kb"] = rss_kb(args.pid)

    # ---- B
    need_runs = (args.transitions + 1) // 2
    pool = created[:need_runs]
    if len(pool) < need_runs:
        more, meta = await setup_pending_runs(base, flow_id, need_runs - len(pool), args.setup_concurrency,
                                              args.timeout, args.max_seconds)
        pool += more
        res["transition_setup"] = meta
    res["transition_setup_runs_from_A"] = min(len(created), need_runs)
    cpu_b0 = cpu_seconds(args.pid)
    b = await workload_transitions(base, pool, args.concurrency, args.timeout, args.max_seconds)
    cpu_b1 = cpu_seconds(args.pid)
    b["server_cpu_s"] = round(cpu_b1 - cpu_b0, 2) if cpu_b0 is not None and cpu_b1 is not None else None
    b["runs_available"] = len(pool)
    res["transitions"] = b
    res["rss_peak_kb"] = await sampler.stop()
    res["rss_after_load_kb"] = rss_kb(args.pid)
    res["completed_runs_server_count"] = await count_completed(base, flow_id, args.timeout)
    cpu1 = cpu_seconds(args.pid)
    res["server_cpu_total_s"] = round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None
    res["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return res


def _mb(kb):
    return f"{kb / 1024:.0f} MB" if kb else "n/a"


def markdown_table(res: dict) -> str:
    a, b = res["create_runs"], res["transitions"]
    rows = [
        ("create flow runs: ok runs/s", a["ok_per_s"]),
        ("create: p50 / p99 ms", f"{a['p50_ms']} / {a['p99_ms']}"),
        ("create: errors (of which 503)", f"{a['errors']} ({a['http_503']}) of {a['attempted']}"),
        ("set_state: ok transitions/s", b["ok_per_s"]),
        ("set_state: p50 / p99 ms", f"{b['p50_ms']} / {b['p99_ms']}"),
        ("set_state: errors (of which 503)", f"{b['errors']} ({b['http_503']}) of {b['attempted']}"),
        ("set_state: ACCEPT answers", f"{b['accept']} of {b['attempted']}"),
        ("RSS idle / after load / peak", f"{_mb(res['rss_idle_kb'])} / {_mb(res['rss_after_load_kb'])} / {_mb(res['rss_peak_kb'])}"),
    ]
    lines = [f"### {res['label']} ({res['url']}, server {res.get('server_version')}) {res['started_at']}", "",
             "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n\n"


def main() -> int:
    ap = argparse.ArgumentParser(description="Benchmark a Prefect-3-compatible server over HTTP.")
    ap.add_argument("--url", required=True, help="API base, e.g. http://127.0.0.1:4200/api")
    ap.add_argument("--pid", type=int, default=None, help="server pid (RSS/CPU summed with its descendants)")
    ap.add_argument("--label", default="server")
    ap.add_argument("--runs", type=int, default=2000, help="workload A: flow runs to create (default 2000)")
    ap.add_argument("--transitions", type=int, default=10000,
                    help="workload B: set_state calls, 2 per run (default 10000)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--setup-concurrency", type=int, default=2,
                    help="clients for the unmeasured top-up of PENDING runs for B (default 2)")
    ap.add_argument("--warmup", type=int, default=20, help="sequential unmeasured creates first (default 20)")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    ap.add_argument("--max-seconds", type=float, default=240.0,
                    help="time limit per phase; a phase stops issuing requests after it (default 240)")
    ap.add_argument("--markdown", help="append a markdown table to this file")
    args = ap.parse_args()
    if args.pid and not os.path.exists(f"/proc/{args.pid}"):
        print(f"no such pid {args.pid}", file=sys.stderr)
        return 2
    res = asyncio.run(run(args))
    print(json.dumps(res, indent=2))
    if args.markdown:
        with open(args.markdown, "a") as fh:
            fh.write(markdown_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
