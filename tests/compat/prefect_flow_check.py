#!/usr/bin/env python3
"""End-to-end compatibility check: a real Prefect 3 client against a server.

Run:  PREFECT_API_URL=http://127.0.0.1:PORT/api python prefect_flow_check.py

The script runs a small in-process flow (three tasks, one of which fails once
and is retried, all of them logging a unique marker) with the real Prefect
client, then reads everything back through the client's public API and checks
what the server recorded:

  * the flow run is COMPLETED;
  * exactly three task runs exist for it, all COMPLETED, with run_count 1/2/1;
  * the flaky task's state history holds AwaitingRetry followed by Retrying;
  * the marker log lines from the flow and from every task attempt are stored,
    and task log lines carry the right task_run_id.

Task runs reach the server as events on the /api/events/in websocket and logs
arrive in batches, so the read-back polls with a deadline (--timeout, default
20 s) instead of sleeping a fixed time.

Exit status 0 and one line "compat: ok ..." on success; otherwise the
differences are printed and the exit status is 1 (2 for a usage error).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid

# --- settings: must be in the environment before prefect is imported --------
_API_URL = os.environ.get("PREFECT_API_URL", "").strip()
_TMP_HOME = tempfile.mkdtemp(prefix="weir-compat-home-")
os.environ["PREFECT_HOME"] = _TMP_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "true")
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.25")
# no profile from the user's home may point us elsewhere
os.environ.setdefault("PREFECT_PROFILES_PATH", os.path.join(_TMP_HOME, "profiles.toml"))
# results stay in memory; nothing is written outside the temp home
os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
os.environ.setdefault("PREFECT_LOCAL_STORAGE_PATH", os.path.join(_TMP_HOME, "storage"))

import asyncio  # noqa: E402

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.client.schemas.filters import (  # noqa: E402
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.sorting import LogSort  # noqa: E402

MARKER = f"weir-compat-{uuid.uuid4().hex[:12]}"
FLAKY_ATTEMPTS = {"n": 0}


@task(name="extract")
def extract(n: int) -> list[int]:
    get_run_logger().info("%s extract n=%d", MARKER, n)
    return list(range(n))


# A non-zero delay matters: with retry_delay_seconds=0 the 3.9.1 engine goes
# straight from Running to Retrying and never proposes AwaitingRetry.
@task(name="flaky", retries=1, retry_delay_seconds=0.5)
def flaky(xs: list[int]) -> int:
    FLAKY_ATTEMPTS["n"] += 1
    attempt = FLAKY_ATTEMPTS["n"]
    logger = get_run_logger()
    logger.info("%s flaky attempt=%d", MARKER, attempt)
    if attempt == 1:
        raise RuntimeError(f"{MARKER} deliberate failure on attempt 1")
    return sum(xs)


@task(name="load")
def load(total: int) -> str:
    get_run_logger().info("%s load total=%d", MARKER, total)
    return f"loaded {total}"


@flow(name="weir-compat-etl", log_prints=False)
def etl(n: int = 5) -> str:
    logger = get_run_logger()
    logger.info("%s flow start", MARKER)
    xs = extract(n)
    total = flaky(xs)
    out = load(total)
    logger.info("%s flow end result=%s", MARKER, out)
    return out


# expected marker log lines: (owner, message fragment)
EXPECTED_LOGS = [
    ("flow", "flow start"),
    ("flow", "flow end result=loaded 10"),
    ("extract", "extract n=5"),
    ("flaky", "flaky attempt=1"),
    ("flaky", "flaky attempt=2"),
    ("load", "load total=10"),
]
EXPECTED_RUN_COUNT = {"extract": 1, "flaky": 2, "load": 1}


def _task_key(task_run) -> str | None:
    """Map a task run to 'extract' / 'flaky' / 'load' by its name (e.g. 'flaky-3e0')."""
    for key in EXPECTED_RUN_COUNT:
        if task_run.name == key or task_run.name.startswith(key + "-"):
            return key
    return None


def _state_names(states) -> list[str]:
    ordered = sorted(states, key=lambda s: s.timestamp)
    return [f"{s.type.value}/{s.name}" for s in ordered]


async def _check_once(client, flow_run_id) -> tuple[list[str], dict]:
    """One read-back pass. Returns (problems, facts)."""
    problems: list[str] = []
    facts: dict = {}

    fr = await client.read_flow_run(flow_run_id)
    facts["flow_state"] = f"{fr.state_type.value if fr.state_type else None}/{fr.state_name}"
    if fr.state is None or fr.state.type.value != "COMPLETED":
        problems.append(f"flow run state is {facts['flow_state']}, want COMPLETED")
    if fr.run_count != 1:
        problems.append(f"flow run run_count={fr.run_count}, want 1")
    if fr.start_time is None or fr.end_time is None:
        problems.append(f"flow run start_time/end_time not set: {fr.start_time} / {fr.end_time}")

    task_runs = await client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    )
    facts["task_runs"] = {tr.name: (tr.state_type.value if tr.state_type else None, tr.run_count)
                          for tr in task_runs}
    if len(task_runs) != 3:
        problems.append(f"expected 3 task runs for flow run, got {len(task_runs)}: {sorted(facts['task_runs'])}")

    by_key: dict[str, object] = {}
    for tr in task_runs:
        key = _task_key(tr)
        if key is None:
            problems.append(f"unexpected task run name {tr.name!r}")
            continue
        if key in by_key:
            problems.append(f"two task runs for task {key!r}")
        by_key[key] = tr
        if str(tr.flow_run_id) != str(flow_run_id):
            problems.append(f"task run {tr.name} has flow_run_id {tr.flow_run_id}")
        st = tr.state_type.value if tr.state_type else None
        if st != "COMPLETED" or (tr.state is not None and tr.state.type.value != "COMPLETED"):
            problems.append(f"task run {tr.name} state is {st}/{tr.state_name}, want COMPLETED")
        if tr.run_count != EXPECTED_RUN_COUNT[key]:
            problems.append(f"task run {tr.name} run_count={tr.run_count}, want {EXPECTED_RUN_COUNT[key]}")
    for key in EXPECTED_RUN_COUNT:
        if key not in by_key:
            problems.append(f"no task run for task {key!r}")

    flaky_tr = by_key.get("flaky")
    if flaky_tr is not None:
        states = await client.read_task_run_states(flaky_tr.id)
        names = _state_names(states)
        facts["flaky_states"] = names
        try:
            i = names.index("SCHEDULED/AwaitingRetry")
            j = names.index("RUNNING/Retrying", i + 1)
            if j < 0 or names[-1] != "COMPLETED/Completed":
                problems.append(f"flaky state history does not end in Completed: {names}")
        except ValueError:
            problems.append(f"flaky state history lacks AwaitingRetry then Retrying: {names}")
        for want in ("PENDING/Pending", "RUNNING/Running"):
            if want not in names:
                problems.append(f"flaky state history lacks {want}: {names}")
        for s in states:
            if s.state_details and s.state_details.task_run_id not in (None, flaky_tr.id):
                problems.append(f"flaky state {s.name} has task_run_id {s.state_details.task_run_id}")

    logs = await client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
        limit=200,
        sort=LogSort.TIMESTAMP_ASC,
    )
    marked = [lg for lg in logs if MARKER in lg.message]
    facts["logs_total"] = len(logs)
    facts["logs_marked"] = len(marked)
    for owner, fragment in EXPECTED_LOGS:
        hits = [lg for lg in marked if fragment in lg.message]
        if not hits:
            problems.append(f"missing log line from {owner}: {fragment!r}")
            continue
        lg = hits[0]
        if str(lg.flow_run_id) != str(flow_run_id):
            problems.append(f"log {fragment!r} has flow_run_id {lg.flow_run_id}")
        if owner == "flow":
            if lg.task_run_id is not None:
                problems.append(f"flow log {fragment!r} has task_run_id {lg.task_run_id}")
        elif owner in by_key and lg.task_run_id != by_key[owner].id:
            problems.append(
                f"log {fragment!r} has task_run_id {lg.task_run_id}, want {by_key[owner].id} ({owner})"
            )
    # the engine's own "Task run failed with exception: ... Retry 1/1 ..." line quotes the marker
    if not any("deliberate failure" in lg.message for lg in marked):
        problems.append("missing the engine's log line about the flaky task's failed first attempt")
    return problems, facts


async def verify(flow_run_id, timeout: float, verbose: bool) -> tuple[list[str], dict, float]:
    start = time.monotonic()
    deadline = start + timeout
    problems: list[str] = ["not checked"]
    facts: dict = {}
    async with get_client() as client:
        while True:
            try:
                problems, facts = await _check_once(client, flow_run_id)
            except Exception as exc:  # server errors count as differences, keep polling
                problems, facts = [f"read-back raised {type(exc).__name__}: {exc}"], facts
            if not problems or time.monotonic() >= deadline:
                break
            if verbose:
                print(f"  waiting ({time.monotonic() - start:.1f}s): {problems[0]}", file=sys.stderr)
            await asyncio.sleep(0.25)
    return problems, facts, time.monotonic() - start


async def preflight() -> str:
    async with get_client() as client:
        version = await client.api_version()
        healthy = await client.api_healthcheck()
        if healthy is not None:
            raise RuntimeError(f"health check failed: {healthy!r}")
        return version


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeout", type=float, default=20.0,
                    help="seconds to wait for task runs and logs to show up (default 20)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    if not _API_URL:
        print("compat: FAIL PREFECT_API_URL is not set (e.g. http://127.0.0.1:4200/api)")
        return 2

    try:
        server_version = asyncio.run(preflight())
    except Exception as exc:
        print(f"compat: FAIL server at {_API_URL} not usable: {type(exc).__name__}: {exc}")
        return 1

    t0 = time.monotonic()
    state = etl(return_state=True)
    flow_wall = time.monotonic() - t0
    flow_run_id = state.state_details.flow_run_id
    if not state.is_completed():
        print(f"compat: FAIL flow returned state {state.type.value}/{state.name}: {state.message}")
        return 1
    result = state.result()
    if result != "loaded 10":
        print(f"compat: FAIL flow result {result!r}, want 'loaded 10'")
        return 1
    if FLAKY_ATTEMPTS["n"] != 2:
        print(f"compat: FAIL flaky task ran {FLAKY_ATTEMPTS['n']} times in-process, want 2")
        return 1

    problems, facts, waited = asyncio.run(verify(flow_run_id, args.timeout, args.verbose))
    if problems:
        print(f"compat: FAIL flow_run={flow_run_id} after {waited:.1f}s of polling ({_API_URL})")
        for p in problems:
            print(f"  - {p}")
        print(f"  facts: {facts}")
        return 1
    print(
        f"compat: ok server={server_version} flow_run={flow_run_id} "
        f"task_runs={len(facts['task_runs'])} flaky_states={'>'.join(n.split('/')[1] for n in facts['flaky_states'])} "
        f"marked_logs={facts['logs_marked']} flow_wall={flow_wall:.2f}s readback={waited:.2f}s marker={MARKER}"
    )
    return 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        shutil.rmtree(_TMP_HOME, ignore_errors=True)
    sys.exit(code)
