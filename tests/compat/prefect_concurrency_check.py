#!/usr/bin/env python3
"""Concurrency-limit check: the real Prefect 3 client's concurrency features against a server.

Run:  PREFECT_API_URL=http://127.0.0.1:PORT/api python prefect_concurrency_check.py

  (a) a global concurrency limit of 1 created through the client: two asyncio holders of
      `prefect.concurrency.asyncio.concurrency(name)` and one thread holding the sync
      `prefect.concurrency.sync.concurrency(name)` never overlap (measured with timestamps
      inside the held sections), and the limit's active slots are back to 0 afterwards;
  (b) a tag concurrency limit of 1 (the v1 API, `create_concurrency_limit`): several submissions
      of a task carrying the tag in one flow never overlap, the flow completes, and the tag's
      slots are free afterwards;
  (c) the same tag held through `prefect.concurrency.v1.asyncio.concurrency` (the v1
      `/concurrency_limits/increment` and `/decrement`) by two task run ids at once: the holders
      never overlap, each is listed in the tag's `active_slots` while it holds, and none is after.

It records the requests the client made (httpx's request log) and prints the concurrency
endpoints it called with their status codes. Exit status 0 and a last line
"concurrency compat: ok ..." on success; otherwise the failures are printed and the status is 1
(2 for a usage error).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid

_API_URL = os.environ.get("PREFECT_API_URL", "").strip()
_TMP_HOME = tempfile.mkdtemp(prefix="weir-concurrency-home-")
os.environ["PREFECT_HOME"] = _TMP_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_PROFILES_PATH", os.path.join(_TMP_HOME, "profiles.toml"))
os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
os.environ.setdefault("PREFECT_LOCAL_STORAGE_PATH", os.path.join(_TMP_HOME, "storage"))

import asyncio  # noqa: E402
import logging  # noqa: E402

from prefect import flow, task  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate  # noqa: E402
from prefect.concurrency.asyncio import concurrency as async_concurrency  # noqa: E402
from prefect.concurrency.sync import concurrency as sync_concurrency  # noqa: E402
from prefect.concurrency.v1.asyncio import concurrency as v1_concurrency  # noqa: E402

SUFFIX = uuid.uuid4().hex[:8]
GLOBAL_LIMIT = f"weir-global-{SUFFIX}"
TAG = f"weir-tag-{SUFFIX}"
HOLD_SECONDS = 0.4
TAGGED_TASKS = 3

# --- the requests the client makes, from httpx's "HTTP Request: ..." log lines -------------------
_REQUEST = re.compile(r'HTTP Request: (\w+) (\S+) "HTTP/[\d.]+ (\d+)')
_seen: list[tuple[str, str, int]] = []
_seen_lock = threading.Lock()


class _RequestLog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        match = _REQUEST.search(record.getMessage())
        if match:
            path = re.sub(r"^https?://[^/]+/api", "", match.group(2))
            path = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", path)
            with _seen_lock:
                _seen.append((match.group(1), path, int(match.group(3))))


def _watch_requests() -> None:
    httpx_logger = logging.getLogger("httpx")
    httpx_logger.setLevel(logging.INFO)
    httpx_logger.addHandler(_RequestLog())


def _overlaps(spans: list[tuple[float, float]]) -> list[str]:
    """The pairs of consecutive held sections that overlap."""
    spans = sorted(spans)
    return [
        f"[{a0:.3f}, {a1:.3f}] overlaps [{b0:.3f}, {b1:.3f}]"
        for (a0, a1), (b0, b1) in zip(spans, spans[1:])
        if b0 < a1
    ]


async def check_global_limit(failures: list[str]) -> None:
    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=GLOBAL_LIMIT, limit=1)
        )
    spans: list[tuple[float, float]] = []

    async def hold_async() -> None:
        async with async_concurrency(GLOBAL_LIMIT, occupy=1):
            start = time.monotonic()
            await asyncio.sleep(HOLD_SECONDS)
            spans.append((start, time.monotonic()))

    def hold_sync() -> None:
        with sync_concurrency(GLOBAL_LIMIT, occupy=1):
            start = time.monotonic()
            time.sleep(HOLD_SECONDS)
            spans.append((start, time.monotonic()))

    thread = threading.Thread(target=hold_sync)
    thread.start()
    await asyncio.gather(hold_async(), hold_async())
    await asyncio.to_thread(thread.join)
    if len(spans) != 3:
        failures.append(f"global limit: {len(spans)} of 3 holders ran")
    failures.extend(f"global limit: {o}" for o in _overlaps(spans))
    async with get_client() as client:
        limit = await client.read_global_concurrency_limit_by_name(GLOBAL_LIMIT)
    if limit.active_slots != 0:
        failures.append(f"global limit: {limit.active_slots} slots still active")


@task(tags=[TAG])
def tagged(i: int) -> tuple[float, float]:
    start = time.time()
    time.sleep(HOLD_SECONDS)
    return (start, time.time())


@flow
def tagged_flow() -> list[tuple[float, float]]:
    futures = [tagged.submit(i) for i in range(TAGGED_TASKS)]
    return [f.result() for f in futures]


async def check_tag_limit(failures: list[str]) -> None:
    async with get_client() as client:
        await client.create_concurrency_limit(tag=TAG, concurrency_limit=1)
    state = await asyncio.to_thread(tagged_flow, return_state=True)
    if not state.is_completed():
        failures.append(f"tag limit: the flow ended {state.type.value}: {state.message}")
        return
    spans = await state.result()
    if len(spans) != TAGGED_TASKS:
        failures.append(f"tag limit: {len(spans)} of {TAGGED_TASKS} tasks ran")
    failures.extend(f"tag limit: {o}" for o in _overlaps(spans))
    async with get_client() as client:
        limit = await client.read_concurrency_limit_by_tag(TAG)
        global_view = await client.read_global_concurrency_limit_by_name(f"tag:{TAG}")
    if limit.active_slots:
        failures.append(f"tag limit: still held by {limit.active_slots}")
    if global_view.active_slots != 0:
        failures.append(f"tag limit: {global_view.active_slots} slots of tag:{TAG} still active")


async def check_v1_tag_slots(failures: list[str]) -> None:
    spans: list[tuple[float, float]] = []

    async def hold(run_id: uuid.UUID) -> None:
        async with v1_concurrency(TAG, task_run_id=run_id, timeout_seconds=60):
            start = time.monotonic()
            async with get_client() as client:
                holders = (await client.read_concurrency_limit_by_tag(TAG)).active_slots
            if [str(h) for h in holders] != [str(run_id)]:
                failures.append(f"v1 tag slots: {run_id} holds, but the holders are {holders}")
            await asyncio.sleep(HOLD_SECONDS)
            spans.append((start, time.monotonic()))

    await asyncio.gather(hold(uuid.uuid4()), hold(uuid.uuid4()))
    if len(spans) != 2:
        failures.append(f"v1 tag slots: {len(spans)} of 2 holders ran")
    failures.extend(f"v1 tag slots: {o}" for o in _overlaps(spans))
    async with get_client() as client:
        limit = await client.read_concurrency_limit_by_tag(TAG)
    if limit.active_slots:
        failures.append(f"v1 tag slots: still held by {limit.active_slots}")


def main() -> int:
    if not _API_URL:
        print("set PREFECT_API_URL", file=sys.stderr)
        return 2
    _watch_requests()
    failures: list[str] = []
    started = time.monotonic()
    try:
        asyncio.run(check_global_limit(failures))
        asyncio.run(check_tag_limit(failures))
        asyncio.run(check_v1_tag_slots(failures))
    finally:
        shutil.rmtree(_TMP_HOME, ignore_errors=True)
    with _seen_lock:
        called = sorted({(m, p, s) for m, p, s in _seen if "concurrency_limits" in p})
    for method, path, status in called:
        print(f"called: {method} {path} -> {status}")
    paths = {p for _, p, _ in called}
    for needed in (
        "/v2/concurrency_limits/increment-with-lease",
        "/v2/concurrency_limits/decrement-with-lease",
        "/v2/concurrency_limits/leases/{id}/renew",
        "/concurrency_limits/increment",
        "/concurrency_limits/decrement",
    ):
        if needed not in paths:
            failures.append(f"the client never called {needed}")
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        return 1
    print(
        f"concurrency compat: ok ({time.monotonic() - started:.1f} s, "
        f"{len(called)} distinct concurrency requests)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
