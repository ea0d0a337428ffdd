#!/usr/bin/env python3
"""Benchmark Weir and the real Prefect 3.9.1 server with the same HTTP load client, one after the other.

Usage (from the repo root):

    bench/run_side_by_side.sh                      # both servers, weir-bench driver, writes BENCHMARKS.md
    bench/run_side_by_side.sh --only prefect       # only the real Prefect server
    bench/run_side_by_side.sh --only weir --transitions 10000
    bench/run_side_by_side.sh --driver python      # the old httpx client, bench/server_bench.py

Load driver (the same one is used for both servers, so the comparison is client-for-client):

  rust    (default) $WEIR_BENCH_BIN / --bench-bin, default <repo>/target/release/weir-bench
          (built by `cargo build --release -p weir-bench`). A Python httpx client tops out
          around 350-400 requests/s on a 2-core machine, i.e. it measures itself, not Weir.
  python  bench/server_bench.py run with this script's interpreter (needs httpx; the prefect
          venv has it). Kept for comparison with older numbers.

Each server gets a fresh home directory (SQLite), a free loopback port and its own process
group; the script waits for GET /api/health, settles, runs the driver as a subprocess, then
stops the server (SIGTERM, SIGKILL after 10 s, then SIGKILL to any process of the server's
tree that escaped the group). Weir runs first.

  Weir:    $WEIR_BIN server start --host 127.0.0.1 --port P   (WEIR_HOME=<fresh temp dir>;
           WEIR_BIN defaults to <repo>/target/release/weir)
  Prefect: $PREFECT_BIN server start --host 127.0.0.1 --port P (PREFECT_HOME=<fresh temp dir>,
           PREFECT_SERVER_ANALYTICS_ENABLED=false; PREFECT_BIN defaults to
           /var/cache/weir/prefect-venv/bin/prefect)

Measured by this script around the driver call, whatever the driver: server CPU seconds
(utime+stime+cutime+cstime summed over the server's live process tree, /proc/PID/stat,
before/after), peak RSS (VmRSS of the server tree sampled every 0.25 s in a thread), the
driver's own CPU seconds (getrusage of reaped children) and the CPU used by every other
process on the machine meanwhile (/proc/stat busy time minus server, driver and this script),
so a busy machine shows up in the report.

The real Prefect server manages roughly 20-50 set_state calls/s on a 2-core machine, so by
default it gets --prefect-transitions 1000 instead of the 10,000 given to Weir (rates are
per second either way; the table says which N each side ran). Pass --prefect-transitions
10000 for the full run (several minutes for Prefect alone).

Results: a section between the markers below is written (or replaced) in BENCHMARKS.md
(--benchmarks-md to choose the file, --no-write to skip); raw JSON goes to --json-out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import signal
import socket
import subprocess
import sys
import shutil
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BEGIN = "<!-- weir-bench:side-by-side:begin -->"
END = "<!-- weir-bench:side-by-side:end -->"
DEFAULT_PREFECT_BIN = "/var/cache/weir/prefect-venv/bin/prefect"
DEFAULT_BENCH_BIN = str(REPO / "target/release/weir-bench")
_CLK = os.sysconf("SC_CLK_TCK")

# The targets for Weir on SQLite.
TARGET_RUNS_PER_S = 2000.0
TARGET_P99_MS = 50.0
TARGET_IDLE_RSS_MB = 30.0


def log(msg: str) -> None:
    print(f"[side-by-side {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- /proc helpers
def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the comm field (index 0 = state, 1 = ppid, ...)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode(errors="replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    """root and all its live descendants (by ppid, so children in other sessions count too)."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            f = _stat_fields(int(name))
            if f:
                kids.setdefault(int(f[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat_fields(pid) is None:
            continue
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def start_time(pid: int) -> int | None:
    f = _stat_fields(pid)
    return int(f[19]) if f else None


def rss_kb(pids: list[int]) -> int | None:
    total, seen = 0, False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        seen = True
                        break
        except OSError:
            continue
    return total if seen else None


def tree_cpu_s(root: int) -> float | None:
    """utime+stime+cutime+cstime (s) over root's live tree: live processes plus reaped children."""
    total, seen = 0, False
    for pid in process_tree(root):
        f = _stat_fields(pid)
        if f:
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
            seen = True
    return total / _CLK if seen else None


def system_busy_s() -> float | None:
    """Non-idle CPU time of the whole machine, all CPUs, from /proc/stat (guest is inside user)."""
    try:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _CLK


def loadavg() -> str | None:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return None


class TreeMonitor(threading.Thread):
    """Samples VmRSS of a process tree every `interval` s (peak), remembering every (pid, start time)
    seen so stragglers can be killed afterwards. The tree is re-scanned every second; RSS is read
    from the known pids on every tick, which keeps the sampler cheap on a small machine."""

    def __init__(self, root: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_kb: int | None = None
        self.samples = 0
        self.seen: dict[int, int] = {}
        self._stop_evt = threading.Event()

    def rescan(self) -> list[int]:
        pids = process_tree(self.root)
        for pid in pids:
            st = start_time(pid)
            if st is not None:
                self.seen.setdefault(pid, st)
        return pids

    def run(self) -> None:
        pids, last_scan = self.rescan(), time.monotonic()
        while not self._stop_evt.is_set():
            if time.monotonic() - last_scan >= 1.0:
                pids, last_scan = self.rescan(), time.monotonic()
            v = rss_kb(pids)
            if v:
                self.samples += 1
                self.peak_kb = max(self.peak_kb or 0, v)
            self._stop_evt.wait(self.interval)

    def finish(self) -> int | None:
        self._stop_evt.set()
        self.join(timeout=5)
        return self.peak_kb


def wait_health(url: str, proc: subprocess.Popen, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before becoming healthy")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except Exception:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"no healthy answer from {url}/health within {timeout:.0f}s")


def http_json(url: str, timeout: float = 10.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read()) if r.status == 200 else None
    except Exception:
        return None


def stop(proc: subprocess.Popen, seen: dict[int, int] | None = None) -> str:
    """Stop the server's process group (we started it with start_new_session=True), then SIGKILL
    any process of its tree (pid + start time recorded by the monitor) that left the group."""
    how = f"already exited ({proc.returncode})" if proc.poll() is not None else None
    pgid = proc.pid
    if how is None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            how = "gone"
    if how is None:
        try:
            proc.wait(timeout=10)
            how = "SIGTERM"
        except subprocess.TimeoutExpired:
            how = "SIGKILL"
    try:  # any leftovers in the group
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    stragglers = 0
    for pid, st in (seen or {}).items():
        if pid != proc.pid and start_time(pid) == st:
            try:
                os.kill(pid, signal.SIGKILL)
                stragglers += 1
            except ProcessLookupError:
                pass
    return how + (f", killed {stragglers} straggler(s) outside the group" if stragglers else "")


def server_spec(name: str, args, port: int, home: str):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("PREFECT_API_") or k == "PREFECT_PROFILES_PATH":
            env.pop(k)
    if name == "weir":
        env["WEIR_HOME"] = home
        cmd = [args.weir_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    else:
        env["PREFECT_HOME"] = home
        env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        env["PREFECT_PROFILES_PATH"] = os.path.join(home, "profiles.toml")
        cmd = [args.prefect_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    return cmd, env


def binary_version(name: str, args) -> str | None:
    try:
        if name == "weir":
            out = subprocess.run([args.weir_bin, "--version"], capture_output=True, text=True, timeout=20)
        else:
            py = str(Path(args.prefect_bin).with_name("python"))
            out = subprocess.run([py, "-c", "import prefect; print(prefect.__version__)"],
                                 capture_output=True, text=True, timeout=60)
        return (out.stdout.strip() or out.stderr.strip()).splitlines()[0] if out.returncode == 0 else None
    except Exception:
        return None


# --------------------------------------------------------------------------- drivers
def driver_command(args, url: str, pid: int, name: str, transitions: int) -> list[str]:
    common = ["--url", url, "--pid", str(pid), "--runs", str(args.runs), "--transitions", str(transitions),
              "--concurrency", str(args.concurrency), "--max-seconds", str(args.max_seconds)]
    if args.driver == "rust":
        return [args.bench_bin, *common]
    return [sys.executable, str(HERE / "server_bench.py"), *common, "--label", name]


def _phase(raw: dict) -> dict:
    """One workload of either driver, in the shape the report uses. `sent` = requests actually
    made (weir-bench's `attempted` is the planned count even when --max-seconds cut a phase short)."""
    out = {k: raw.get(k) for k in ("attempted", "ok", "errors", "http_503", "accept", "wall_s",
                                   "ok_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms")}
    if isinstance(raw.get("ok"), int) and isinstance(raw.get("errors"), int):
        out["sent"] = raw["ok"] + raw["errors"]
    if isinstance(out.get("sent"), int) and raw.get("wall_s"):
        out["answered_per_s"] = round(out["sent"] / raw["wall_s"], 1)
    out["cut_short"] = bool(isinstance(out.get("sent"), int) and isinstance(out.get("attempted"), int)
                            and out["sent"] < out["attempted"])
    return out


def normalise(raw: dict, driver: str) -> dict:
    """Map either driver's JSON to {create_runs, transitions, rss_*_kb} used by the report."""
    return {
        "driver": "weir-bench" if driver == "rust" else "server_bench.py",
        "create_runs": _phase(raw.get("create_runs") or {}),
        "transitions": _phase(raw.get("transitions") or {}),
        "rss_idle_kb": raw.get("rss_idle_kb"),
        "rss_after_create_kb": raw.get("rss_after_create_kb"),
        "rss_after_load_kb": raw.get("rss_after_load_kb"),
        # server_bench.py measures these itself; weir-bench does not (the orchestrator's values
        # are used in the table either way, see bench_one).
        "driver_rss_peak_kb": raw.get("rss_peak_kb"),
        "driver_server_cpu_total_s": raw.get("server_cpu_total_s"),
    }


def bench_one(name: str, args, transitions: int) -> dict:
    home = tempfile.mkdtemp(prefix=f"weir-bench-{name}-home-")
    port = free_port()
    cmd, env = server_spec(name, args, port, home)
    server_log = os.path.join(home, "server.log")
    log(f"{name}: starting {' '.join(shlex.quote(c) for c in cmd)} (home {home})")
    with open(server_log, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=home)
    url = f"http://127.0.0.1:{port}/api"
    result: dict = {"server": name, "command": cmd, "home": home, "server_log": server_log,
                    "transitions_planned": transitions}
    monitor = TreeMonitor(proc.pid)
    try:
        result["startup_s"] = round(wait_health(url, proc, args.startup_timeout), 2)
        log(f"{name}: healthy after {result['startup_s']}s, settling {args.settle}s")
        time.sleep(args.settle)
        result["server_version"] = http_json(url + "/admin/version")
        bench_cmd = driver_command(args, url, proc.pid, name, transitions)
        log(f"{name}: {' '.join(shlex.quote(c) for c in bench_cmd)}")
        tree = process_tree(proc.pid)
        result["server_processes"] = len(tree)
        result["rss_idle_kb_orchestrator"] = rss_kb(tree)
        result["loadavg_before"] = loadavg()
        monitor.start()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self0 = os.times()
        cpu0, sys0, t0 = tree_cpu_s(proc.pid), system_busy_s(), time.monotonic()
        try:
            out = subprocess.run(bench_cmd, capture_output=True, text=True,
                                 timeout=args.max_seconds * 2 + 300)
        finally:
            wall = time.monotonic() - t0
            cpu1, sys1 = tree_cpu_s(proc.pid), system_busy_s()
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            self1 = os.times()
            result["rss_peak_kb"] = monitor.finish()
            result["rss_samples"] = monitor.samples
        result["bench_wall_s"] = round(wall, 1)
        server_cpu = round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None
        client_cpu = round((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), 2)
        own_cpu = (self1.user + self1.system) - (self0.user + self0.system)
        result["server_cpu_total_s"] = server_cpu
        result["client_cpu_s"] = client_cpu
        if sys0 is not None and sys1 is not None and server_cpu is not None:
            other = (sys1 - sys0) - server_cpu - client_cpu - own_cpu
            result["other_cpu_s"] = round(max(other, 0.0), 1)
            result["other_cpu_share"] = round(max(other, 0.0) / (wall * (os.cpu_count() or 1)), 3)
        result["loadavg_after"] = loadavg()
        if out.returncode != 0:
            raise RuntimeError(f"{bench_cmd[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
        result["raw"] = json.loads(out.stdout)
        bench = normalise(result["raw"], args.driver)
        if bench["rss_idle_kb"] is None:
            bench["rss_idle_kb"] = result["rss_idle_kb_orchestrator"]
        # The sampled peak can miss the driver's own readings on a short run.
        readings = [v for v in (result["rss_peak_kb"], bench["rss_after_create_kb"], bench["rss_after_load_kb"])
                    if isinstance(v, int)]
        bench["rss_peak_kb"] = max(readings) if readings else None
        bench["server_cpu_total_s"] = server_cpu
        bench["server_version"] = result.get("server_version")
        # Every request the server answered during the driver call, including the unmeasured
        # top-up of PENDING runs for B and the one POST /flows/.
        a, b = bench["create_runs"], bench["transitions"]
        topup = max(0, (transitions + 1) // 2 - (a.get("ok") or 0))
        requests = 1 + (a.get("sent") or 0) + topup + (b.get("sent") or 0)
        bench["requests_total"] = requests
        bench["topup_runs"] = topup
        if server_cpu is not None and requests:
            bench["server_cpu_ms_per_request"] = round(server_cpu * 1000 / requests, 3)
        result["bench"] = bench
        log(f"{name}: create {a['ok_per_s']} ok/s ({a['errors']} errors, {a['http_503']} x 503, "
            f"p99 {a['p99_ms']} ms), set_state {b['ok_per_s']} ok/s ({b['errors']} errors, "
            f"{b['accept']} ACCEPT, p99 {b['p99_ms']} ms); server CPU {server_cpu}s, client CPU "
            f"{client_cpu}s, other processes {result.get('other_cpu_s')}s over {result['bench_wall_s']}s")
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        log(f"{name}: FAILED {result['error']} (server log: {server_log})")
        if not isinstance(exc, Exception):
            if monitor.is_alive():
                monitor.finish()
            result["stopped_with"] = stop(proc, monitor.seen)
            log(f"{name}: stopped ({result['stopped_with']})")
            raise
    finally:
        if "stopped_with" not in result:
            if monitor.is_alive():
                monitor.finish()
            if proc.poll() is None:
                monitor.rescan()  # remember the final tree so stragglers can be killed
            result["stopped_with"] = stop(proc, monitor.seen)
            log(f"{name}: stopped ({result['stopped_with']})")
        if "error" not in result and not args.keep_homes:
            shutil.rmtree(home, ignore_errors=True)
            result["home"] = result["server_log"] = "(removed)"
    return result


# --------------------------------------------------------------------------- report
def machine_info() -> dict:
    model = None
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_total": mem,
            "kernel": platform.release(), "python": platform.python_version(), "loadavg_start": loadavg()}


def git_rev() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        rev = out.stdout.strip() if out.returncode == 0 else ""
        if not rev:
            return None
        st = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True, timeout=10)
        dirty = sorted({line[3:].split("/")[0] for line in st.stdout.splitlines() if line.strip()})
        return rev + (f" (uncommitted changes in: {', '.join(dirty)})" if dirty else "")
    except Exception:
        return None


def _get(res: dict | None, *path):
    cur = res
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def _fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float):
        v = f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


def _ratio(w, p, higher_is_better: bool):
    if not isinstance(w, (int, float)) or not isinstance(p, (int, float)) or not w or not p:
        return "—"
    r = w / p if higher_is_better else p / w
    return f"{r:,.1f}×"


def _mb(kb):
    return round(kb / 1024, 1) if isinstance(kb, (int, float)) else None


def targets(w: dict | None) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for the issue's targets; met None = not measured."""
    a_rate = _get(w, "create_runs", "ok_per_s")
    a_err, b_err = _get(w, "create_runs", "errors"), _get(w, "transitions", "errors")
    a_p99, b_p99 = _get(w, "create_runs", "p99_ms"), _get(w, "transitions", "p99_ms")
    idle = _mb(_get(w, "rss_idle_kb"))

    def chk(v, ok):
        return None if v is None else bool(ok(v))

    return [
        (f"≥ {TARGET_RUNS_PER_S:,.0f} flow runs/s created (A)", _fmt(a_rate, " runs/s"),
         chk(a_rate, lambda v: v >= TARGET_RUNS_PER_S)),
        ("zero errors, A (create)", _fmt(a_err), chk(a_err, lambda v: v == 0)),
        ("zero errors, B (set_state)", _fmt(b_err), chk(b_err, lambda v: v == 0)),
        (f"p99 < {TARGET_P99_MS:.0f} ms, A (create)", _fmt(a_p99, " ms"), chk(a_p99, lambda v: v < TARGET_P99_MS)),
        (f"p99 < {TARGET_P99_MS:.0f} ms, B (set_state)", _fmt(b_p99, " ms"), chk(b_p99, lambda v: v < TARGET_P99_MS)),
        (f"idle RSS < {TARGET_IDLE_RSS_MB:.0f} MB", _fmt(idle, " MB"), chk(idle, lambda v: v < TARGET_IDLE_RSS_MB)),
    ]


def reading(results: dict, args, info: dict) -> str:
    """A one-paragraph, number-driven reading of the results (regenerated on every run)."""
    wr, pr = results.get("weir") or {}, results.get("prefect") or {}
    w, p = wr.get("bench"), pr.get("bench")
    driver = "weir-bench (Rust)" if args.driver == "rust" else "server_bench.py (Python/httpx)"
    parts = [f"Both servers were driven by the same client, {driver}, with {args.concurrency} connections."]
    if w and p:
        parts.append(
            f"Creating flow runs, Weir answered {_fmt(_get(w, 'create_runs', 'ok_per_s'))} runs/s against "
            f"Prefect's {_fmt(_get(p, 'create_runs', 'ok_per_s'))} "
            f"({_ratio(_get(w, 'create_runs', 'ok_per_s'), _get(p, 'create_runs', 'ok_per_s'), True)}), "
            f"p99 {_fmt(_get(w, 'create_runs', 'p99_ms'))} ms vs {_fmt(_get(p, 'create_runs', 'p99_ms'))} ms; "
            f"for set_state it did {_fmt(_get(w, 'transitions', 'ok_per_s'))}/s vs "
            f"{_fmt(_get(p, 'transitions', 'ok_per_s'))}/s "
            f"({_ratio(_get(w, 'transitions', 'ok_per_s'), _get(p, 'transitions', 'ok_per_s'), True)}; "
            f"N = {wr.get('transitions_planned', 0):,} vs {pr.get('transitions_planned', 0):,}), "
            f"p99 {_fmt(_get(w, 'transitions', 'p99_ms'))} ms vs {_fmt(_get(p, 'transitions', 'p99_ms'))} ms.")
        parts.append(
            f"Idle, Weir held {_fmt(_mb(_get(w, 'rss_idle_kb')))} MB against Prefect's "
            f"{_fmt(_mb(_get(p, 'rss_idle_kb')))} MB, and it spent "
            f"{_fmt(_get(w, 'server_cpu_ms_per_request'))} ms of server CPU per request vs "
            f"{_fmt(_get(p, 'server_cpu_ms_per_request'))} ms.")
        for phase, label in (("create_runs", "creates"), ("transitions", "set_state calls")):
            perr, p503 = _get(p, phase, "errors") or 0, _get(p, phase, "http_503") or 0
            if perr:
                parts.append(
                    f"Prefect failed {perr:,} of its {_get(p, phase, 'sent') or 0:,} {label}: {p503:,} × HTTP 503 "
                    "(its answer to retryable errors such as SQLite lock timeouts, which Prefect's own client "
                    f"retries) and {perr - p503:,} other errors (non-2xx or dropped connections); it answered "
                    f"{_fmt(_get(p, phase, 'answered_per_s'))} requests/s in all, so its 2xx rate mostly "
                    "reflects those failures.")
    elif w or p:
        only = "Weir" if w else "Prefect"
        parts.append(f"Only {only} produced numbers in this run (see the status lines above).")
    if w:
        t = targets(w)
        missed = [name for name, _, met in t if met is False]
        if missed:
            parts.append(f"Against the issue's targets Weir missed {len(missed)} of {len(t)}: "
                         + "; ".join(missed) + ".")
        else:
            parts.append(f"Weir met all {len(t)} of the issue's targets on this run.")
        # Who else was using the CPU while Weir was measured?
        wall = wr.get("bench_wall_s") or 0
        ccpu, ocpu = wr.get("client_cpu_s"), wr.get("other_cpu_s")
        if wall and ccpu is not None:
            parts.append(
                f"The machine has {info['nproc']} CPUs shared by client and server: during Weir's "
                f"{_fmt(wall)} s the client used {ccpu:.1f} CPU-s ({ccpu / wall:.0%} of one core) and Weir "
                f"{_fmt(wr.get('server_cpu_total_s'))} CPU-s"
                + (f", while unrelated processes used {ocpu:.1f} CPU-s "
                   f"({wr.get('other_cpu_share', 0):.0%} of the machine)" if ocpu is not None else "")
                + ".")
            if ccpu / wall >= 0.8:
                parts.append("The client was close to a full core, so it may be what limited Weir's rates.")
            if (wr.get("other_cpu_share") or 0) >= 0.10:
                parts.append("That background load makes Weir's absolute numbers pessimistic; rerun on an "
                             "idle machine before treating a missed target as Weir's own limit.")
    if p and pr.get("transitions_planned") != wr.get("transitions_planned"):
        parts.append("Prefect ran fewer set_state calls only to keep the run short; rates are per second, "
                     "so they compare, though a longer Prefect run would also work on a larger database.")
    return " ".join(parts)


def render_section(results: dict, info: dict, command: str, args) -> str:
    wr, pr = results.get("weir") or {}, results.get("prefect") or {}
    w, p = wr.get("bench"), pr.get("bench")
    rows = []

    def row(label, path, higher_is_better=None, unit="", conv=None, wv=None, pv=None):
        if path is not None:
            wv, pv = _get(w, *path), _get(p, *path)
        if conv:
            wv = conv(wv) if wv is not None else None
            pv = conv(pv) if pv is not None else None
        ratio = _ratio(wv, pv, higher_is_better) if higher_is_better is not None else ""
        rows.append(f"| {label} | {_fmt(wv, unit)} | {_fmt(pv, unit)} | {ratio} |")

    def sent_cell(b, phase):
        if not b:
            return "—"
        cell = f"{_fmt(_get(b, phase, 'ok'))} / {_fmt(_get(b, phase, 'sent'))}"
        if _get(b, phase, "cut_short"):
            cell += f" (planned {_fmt(_get(b, phase, 'attempted'))}; hit --max-seconds)"
        return cell

    rows.append(f"| A: flow runs created (2xx) / requests sent | {sent_cell(w, 'create_runs')} | "
                f"{sent_cell(p, 'create_runs')} | |")
    row("A: created runs/s (2xx only)", ("create_runs", "ok_per_s"), True)
    row("A: requests answered/s (any status)", ("create_runs", "answered_per_s"), True)
    row("A: latency p50 (ms)", ("create_runs", "p50_ms"), False)
    row("A: latency p99 (ms)", ("create_runs", "p99_ms"), False)
    row("A: latency max (ms)", ("create_runs", "max_ms"), False)
    row("A: errors (non-2xx + dropped connections)", ("create_runs", "errors"))
    row("A: of which HTTP 503", ("create_runs", "http_503"))
    row("B: set_state calls planned (N)", None,
        wv=wr.get("transitions_planned") if w else None, pv=pr.get("transitions_planned") if p else None)
    rows.append(f"| B: set_state 2xx / requests sent | {sent_cell(w, 'transitions')} | "
                f"{sent_cell(p, 'transitions')} | |")
    row("B: transitions/s (2xx only)", ("transitions", "ok_per_s"), True)
    row("B: requests answered/s (any status)", ("transitions", "answered_per_s"), True)
    row("B: latency p50 (ms)", ("transitions", "p50_ms"), False)
    row("B: latency p99 (ms)", ("transitions", "p99_ms"), False)
    row("B: latency max (ms)", ("transitions", "max_ms"), False)
    row("B: errors (non-2xx + dropped connections)", ("transitions", "errors"))
    row("B: of which HTTP 503", ("transitions", "http_503"))
    row("B: ACCEPT answers", ("transitions", "accept"))
    row("RSS idle (MB)", ("rss_idle_kb",), False, conv=_mb)
    row("RSS after A (MB)", ("rss_after_create_kb",), False, conv=_mb)
    row("RSS after load (MB)", ("rss_after_load_kb",), False, conv=_mb)
    row("RSS peak during load (MB, sampled every 0.25 s)", ("rss_peak_kb",), False, conv=_mb)
    row("server CPU seconds, whole driver run (A + top-up + B)", ("server_cpu_total_s",))
    row("server requests in that run (incl. unmeasured top-up)", ("requests_total",))
    row("server CPU ms per request", ("server_cpu_ms_per_request",), False)
    row("client (driver) CPU seconds", None,
        wv=wr.get("client_cpu_s") if w else None, pv=pr.get("client_cpu_s") if p else None)
    row("other processes' CPU seconds meanwhile", None,
        wv=wr.get("other_cpu_s") if w else None, pv=pr.get("other_cpu_s") if p else None)
    row("driver wall time (s)", None,
        wv=wr.get("bench_wall_s") if w else None, pv=pr.get("bench_wall_s") if p else None)

    trows = []
    for name, measured, met in targets(w):
        trows.append(f"| {name} | {measured} | {'—' if met is None else ('met' if met else 'not met')} |")

    def col(name):
        r = results.get(name)
        if r is None:
            return "not run"
        if "error" in r:
            return f"failed: {r['error']}"
        return (f"ran (API version {_get(r, 'bench', 'server_version')}, healthy after {r.get('startup_s')} s, "
                f"{r.get('server_processes')} process(es), load average {r.get('loadavg_before')} before the driver)")

    if args.driver == "rust":
        driver_line = (f"`{os.path.relpath(args.bench_bin, REPO) if args.bench_bin.startswith(str(REPO)) else args.bench_bin}`"
                       " (Rust, tokio + reqwest), the same binary for both servers")
    else:
        driver_line = (f"`bench/server_bench.py` (Python {info['python']}, httpx; one core tops out at a few "
                       "hundred requests/s, so it understates Weir), the same for both servers")
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BEGIN,
        "## Side by side: Weir vs Prefect 3.9.1 (HTTP API load)",
        "",
        f"- Date: {date}",
        f"- Machine: `nproc` = {info['nproc']}, CPU model: {info['cpu_model']}; {info['mem_total']} RAM, "
        f"Linux {info['kernel']}. Client and server share the machine; load average at start "
        f"{info.get('loadavg_start')}.",
        f"- Git commit: {git_rev() or 'unknown'}",
        f"- Command: `{command}`",
        f"- Load driver: {driver_line}.",
        f"- Weir: {col('weir')}; `{wr.get('version') or 'n/a'}`, SQLite.",
        f"- Prefect: {col('prefect')}; version `{pr.get('version') or 'n/a'}`, "
        "default settings, SQLite, analytics off.",
        f"- Workloads ({args.concurrency} concurrent clients, one keep-alive connection each, errors never "
        f"retried): A = {args.runs:,} × `POST /api/flow_runs/` (PENDING); B = `POST /api/flow_runs/{{id}}/set_state` "
        "PENDING→RUNNING→COMPLETED, `force:false`, over runs made by A plus an unmeasured top-up. "
        "B ran " + " and ".join(f"N = {(args.transitions if n == 'weir' else args.prefect_transitions):,} "
                                f"set_state calls against {n.capitalize()}" for n in results)
        + " (Prefect manages ~20-50/s, so it gets fewer by default; rates are per second). "
        f"Each phase stops after {args.max_seconds:g} s.",
        "",
        "| metric | Weir | Prefect 3.9.1 | ratio (throughput: Weir/Prefect; latency, RSS, CPU/request: Prefect/Weir; >1 = Weir better) |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        "Targets for Weir on SQLite (from the issue): at least 2,000 runs/s with zero errors, p99 under 50 ms, "
        "idle RSS under 30 MB.",
        "",
        "| target | Weir measured | met? |",
        "|---|---:|---|",
        *trows,
        "",
        reading(results, args, info),
        "",
        "Latency percentiles cover every answer (errors included). RSS is VmRSS summed over the server process "
        "and its descendants: idle / after A / after load as read by the driver, peak sampled by the "
        "orchestrator. Server CPU is utime+stime (plus reaped children) of the server's process tree "
        "before/after the driver call, so it includes the unmeasured top-up; \"other processes\" is the "
        "machine's busy CPU time minus server, driver and orchestrator. Raw JSON: `--json-out`.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Replaces the part of `path` between the `begin` and `end` markers (or appends it)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        _, post = rest.split(end, 1)
        text = pre + section.rstrip("\n") + post
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description="Weir vs Prefect side-by-side HTTP benchmark.")
    ap.add_argument("--only", choices=["weir", "prefect", "both"], default="both")
    ap.add_argument("--driver", choices=["rust", "python"], default="rust",
                    help="load client: rust = weir-bench (default), python = bench/server_bench.py")
    ap.add_argument("--bench-bin", default=os.environ.get("WEIR_BENCH_BIN", DEFAULT_BENCH_BIN),
                    help="weir-bench binary for --driver rust (env WEIR_BENCH_BIN; default target/release/weir-bench)")
    ap.add_argument("--weir-bin", default=os.environ.get("WEIR_BIN", str(REPO / "target/release/weir")))
    ap.add_argument("--prefect-bin", default=os.environ.get("PREFECT_BIN", DEFAULT_PREFECT_BIN))
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--transitions", type=int, default=10000, help="set_state calls against Weir")
    ap.add_argument("--prefect-transitions", type=int, default=1000,
                    help="set_state calls against Prefect (default 1000; it does ~20-50/s)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-seconds", type=float, default=180.0, help="time limit per benchmark phase")
    ap.add_argument("--startup-timeout", type=float, default=90.0)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds to wait after health before measuring")
    ap.add_argument("--benchmarks-md", default=str(REPO / "BENCHMARKS.md"))
    ap.add_argument("--no-write", action="store_true", help="do not touch the markdown file")
    ap.add_argument("--json-out", help="write all raw results here")
    ap.add_argument("--keep-homes", action="store_true",
                    help="keep each server's temp home (DB, server.log); kept anyway when a server fails")
    args = ap.parse_args()
    args.bench_bin = os.path.abspath(args.bench_bin)

    command = os.environ.get("WEIR_BENCH_COMMAND") or " ".join(
        shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:])
    names = ["weir", "prefect"] if args.only == "both" else [args.only]
    if args.driver == "rust" and not os.access(args.bench_bin, os.X_OK):
        log(f"weir-bench binary {args.bench_bin} not found or not executable "
            "(cargo build --release -p weir-bench, or set WEIR_BENCH_BIN / --bench-bin, or use --driver python)")
        return 2
    if args.driver == "python":
        try:
            import httpx  # noqa: F401
        except ImportError:
            log(f"--driver python needs httpx in {sys.executable} (set BENCH_PYTHON, e.g. the prefect venv)")
            return 2
    if "weir" in names and not os.access(args.weir_bin, os.X_OK):
        log(f"weir binary {args.weir_bin} not found or not executable (set WEIR_BIN or build it)")
        return 2
    if "prefect" in names and not os.access(args.prefect_bin, os.X_OK):
        log(f"prefect binary {args.prefect_bin} not found (set PREFECT_BIN)")
        return 2

    # Turn SIGTERM/SIGHUP into an exception so the servers are always stopped.
    def _terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)

    info = machine_info()
    results: dict = {}
    t0 = time.monotonic()
    for name in names:
        n = args.transitions if name == "weir" else args.prefect_transitions
        results[name] = bench_one(name, args, n)
        results[name]["version"] = binary_version(name, args)
    log(f"all done in {time.monotonic() - t0:.0f}s")

    section = render_section(results, info, command, args)
    print(section)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"machine": info, "command": command, "driver": args.driver,
                                                   "results": results}, indent=2))
    if not args.no_write:
        write_section(Path(args.benchmarks_md), section)
        log(f"wrote section to {args.benchmarks_md}")
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
