#!/usr/bin/env python3
"""Run bench/server_bench.py against Weir and the real Prefect 3.9.1 server, one after the other.

Usage (from the repo root; use a python that has httpx, e.g. the prefect venv):

    bench/run_side_by_side.sh                      # both servers, writes BENCHMARKS.md
    bench/run_side_by_side.sh --only prefect       # only the real Prefect server
    bench/run_side_by_side.sh --only weir --transitions 10000

Each server gets a fresh home directory (SQLite), a free loopback port and its own process
group; the script waits for GET /api/health, runs the same workloads (server_bench.py as a
subprocess), then stops the server (SIGTERM, SIGKILL after 10 s). Weir runs first.

  Weir:    $WEIR_BIN server start --host 127.0.0.1 --port P   (WEIR_HOME=<fresh temp dir>;
           WEIR_BIN defaults to <repo>/target/release/weir)
  Prefect: $PREFECT_BIN server start --host 127.0.0.1 --port P (PREFECT_HOME=<fresh temp dir>,
           PREFECT_SERVER_ANALYTICS_ENABLED=false; PREFECT_BIN defaults to
           /var/cache/weir/prefect-venv/bin/prefect)

The real Prefect server manages roughly 20 set_state calls/s on a 2-core machine, so by
default it gets --prefect-transitions 1000 instead of the 10,000 given to Weir (rates are
per second either way; the table says which N each side ran). Pass --prefect-transitions
10000 for the full run (about 8-10 minutes for Prefect alone).

Results: a section between the markers below is written (or replaced) in BENCHMARKS.md
(--benchmarks-md to choose the file, --no-write to skip); raw JSON goes to --json-out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import shutil
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BEGIN = "<!-- weir-bench:side-by-side:begin -->"
END = "<!-- weir-bench:side-by-side:end -->"
DEFAULT_PREFECT_BIN = "/var/cache/weir/prefect-venv/bin/prefect"


def log(msg: str) -> None:
    print(f"[side-by-side {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def stop(proc: subprocess.Popen) -> str:
    """Stop the server's process group (we started it with start_new_session=True)."""
    if proc.poll() is not None:
        return f"already exited ({proc.returncode})"
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return "gone"
    try:
        proc.wait(timeout=10)
        how = "SIGTERM"
    except subprocess.TimeoutExpired:
        how = "SIGKILL"
    try:  # any leftovers in the group
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return how


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
    result: dict = {"server": name, "command": cmd, "home": home, "server_log": server_log}
    try:
        result["startup_s"] = round(wait_health(url, proc, args.startup_timeout), 2)
        log(f"{name}: healthy after {result['startup_s']}s, settling {args.settle}s")
        time.sleep(args.settle)
        bench_cmd = [sys.executable, str(HERE / "server_bench.py"), "--url", url, "--pid", str(proc.pid),
                     "--label", name, "--runs", str(args.runs), "--transitions", str(transitions),
                     "--concurrency", str(args.concurrency), "--max-seconds", str(args.max_seconds)]
        log(f"{name}: {' '.join(bench_cmd[1:])}")
        t0 = time.monotonic()
        out = subprocess.run(bench_cmd, capture_output=True, text=True,
                             timeout=args.max_seconds * 4 + 120)
        result["bench_wall_s"] = round(time.monotonic() - t0, 1)
        if out.returncode != 0:
            raise RuntimeError(f"server_bench failed ({out.returncode}): {out.stderr[-2000:]}")
        result["bench"] = json.loads(out.stdout)
        a, b = result["bench"]["create_runs"], result["bench"]["transitions"]
        log(f"{name}: create {a['ok_per_s']} ok/s ({a['errors']} errors, {a['http_503']} x 503), "
            f"set_state {b['ok_per_s']} ok/s ({b['errors']} errors, {b['accept']} ACCEPT), "
            f"bench took {result['bench_wall_s']}s")
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        log(f"{name}: FAILED {result['error']} (server log: {server_log})")
    finally:
        result["stopped_with"] = stop(proc)
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
            "kernel": platform.release(), "bench_python": platform.python_version()}


def git_rev() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
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


def render_section(results: dict, info: dict, command: str, args) -> str:
    w = results.get("weir", {}).get("bench")
    p = results.get("prefect", {}).get("bench")
    rows = []

    def row(label, path, higher_is_better=None, unit="", conv=None):
        wv, pv = _get(w, *path), _get(p, *path)
        if conv:
            wv = conv(wv) if wv is not None else None
            pv = conv(pv) if pv is not None else None
        ratio = _ratio(wv, pv, higher_is_better) if higher_is_better is not None else ""
        rows.append(f"| {label} | {_fmt(wv, unit)} | {_fmt(pv, unit)} | {ratio} |")

    mb = lambda kb: round(kb / 1024, 1)  # noqa: E731
    row("A: flow runs created (2xx) / attempted", ("create_runs", "ok"))
    rows[-1] = (f"| A: flow runs created (2xx) / attempted | {_fmt(_get(w, 'create_runs', 'ok'))} / "
                f"{_fmt(_get(w, 'create_runs', 'attempted'))} | {_fmt(_get(p, 'create_runs', 'ok'))} / "
                f"{_fmt(_get(p, 'create_runs', 'attempted'))} | |")
    row("A: created runs/s (2xx only)", ("create_runs", "ok_per_s"), True)
    row("A: latency p50 (ms)", ("create_runs", "p50_ms"), False)
    row("A: latency p99 (ms)", ("create_runs", "p99_ms"), False)
    row("A: errors (non-2xx + dropped connections)", ("create_runs", "errors"))
    row("A: of which HTTP 503", ("create_runs", "http_503"))
    row("B: set_state calls attempted", ("transitions", "attempted"))
    row("B: transitions/s (2xx only)", ("transitions", "ok_per_s"), True)
    row("B: latency p50 (ms)", ("transitions", "p50_ms"), False)
    row("B: latency p99 (ms)", ("transitions", "p99_ms"), False)
    row("B: errors (non-2xx + dropped connections)", ("transitions", "errors"))
    row("B: of which HTTP 503", ("transitions", "http_503"))
    row("B: ACCEPT answers", ("transitions", "accept"))
    row("server CPU seconds, A+B", ("server_cpu_total_s",))
    row("RSS idle (MB)", ("rss_idle_kb",), False, conv=mb)
    row("RSS after load (MB)", ("rss_after_load_kb",), False, conv=mb)
    row("RSS peak during load (MB)", ("rss_peak_kb",), False, conv=mb)

    def col(name):
        r = results.get(name)
        if r is None:
            return "not run"
        if "error" in r:
            return f"failed: {r['error']}"
        return f"ran (server {_get(r, 'bench', 'server_version')}, started in {r.get('startup_s')} s)"

    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BEGIN,
        "## Side by side: Weir vs Prefect 3.9.1 (HTTP API load)",
        "",
        f"- Date: {date}; repo revision: {git_rev() or 'uncommitted'}",
        f"- Machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['mem_total']} RAM, "
        f"Linux {info['kernel']}; client Python {info['bench_python']}. Client and server share the machine.",
        f"- Weir: {col('weir')}; version `{results.get('weir', {}).get('version') or 'n/a'}`.",
        f"- Prefect: {col('prefect')}; version `{results.get('prefect', {}).get('version') or 'n/a'}`, "
        "default settings, SQLite, analytics off.",
        f"- Command: `{command}`",
        f"- Workloads ({args.concurrency} concurrent clients, one keep-alive connection each, no retries): "
        f"A = {args.runs:,} × `POST /api/flow_runs/` (PENDING); B = `POST /api/flow_runs/{{id}}/set_state` "
        "PENDING→RUNNING→COMPLETED, `force:false`, over runs made by A plus an unmeasured top-up. "
        f"B ran {args.transitions:,} transitions against Weir and {args.prefect_transitions:,} against Prefect "
        "(Prefect manages ~20/s; rates are per second). Ratio = how many times better Weir is "
        "(throughput: Weir/Prefect; latency and memory: Prefect/Weir).",
        "",
        "| metric | Weir | Prefect 3.9.1 | ratio |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        "Raw JSON: `bench/server_bench.py` output per server (see `--json-out`). "
        "RSS is VmRSS summed over the server process and its children.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        text = pre + section.rstrip("\n") + post
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description="Weir vs Prefect side-by-side HTTP benchmark.")
    ap.add_argument("--only", choices=["weir", "prefect", "both"], default="both")
    ap.add_argument("--weir-bin", default=os.environ.get("WEIR_BIN", str(REPO / "target/release/weir")))
    ap.add_argument("--prefect-bin", default=os.environ.get("PREFECT_BIN", DEFAULT_PREFECT_BIN))
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--transitions", type=int, default=10000, help="set_state calls against Weir")
    ap.add_argument("--prefect-transitions", type=int, default=1000,
                    help="set_state calls against Prefect (default 1000; it does ~20/s)")
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

    command = os.environ.get("WEIR_BENCH_COMMAND") or " ".join(
        shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:])
    names = ["weir", "prefect"] if args.only == "both" else [args.only]
    if "weir" in names and not os.access(args.weir_bin, os.X_OK):
        log(f"weir binary {args.weir_bin} not found or not executable (set WEIR_BIN or build it)")
        return 2
    if "prefect" in names and not os.access(args.prefect_bin, os.X_OK):
        log(f"prefect binary {args.prefect_bin} not found (set PREFECT_BIN)")
        return 2

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
        Path(args.json_out).write_text(json.dumps({"machine": info, "command": command, "results": results},
                                                  indent=2))
    if not args.no_write:
        write_section(Path(args.benchmarks_md), section)
        log(f"wrote section to {args.benchmarks_md}")
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
