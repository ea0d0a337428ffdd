"""The Python half of the SDK benchmark (bench/run_sdk_side_by_side.py): the same two workloads as
`weir-sdk-bench`, written with Prefect 3.9.1's @flow/@task and run against the Prefect server at
PREFECT_API_URL.

- sequential: a flow calling a trivial task 100 times, one after the other;
- concurrent: a flow mapping the same task over 100 inputs (`trivial.map`), waiting for all.

For each repetition: wall time from the flow call to its return, and the time until the server
lists all 100 task runs of that flow run as COMPLETED (polled every 10 ms). Prints one JSON document.
"""

import argparse
import json
import time

from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.runtime import flow_run


@task
def trivial(i):
    return i


@flow(name="bench-sequential")
def sequential(tasks: int):
    for i in range(tasks):
        trivial(i)
    return flow_run.id


@flow(name="bench-concurrent")
def concurrent(tasks: int):
    values = trivial.map(range(tasks)).result()
    assert len(values) == tasks
    return flow_run.id


def all_completed(client, run_id, tasks):
    filters = dict(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
        task_run_filter=TaskRunFilter(
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.COMPLETED]))
        ),
        limit=200,
    )
    give_up = time.perf_counter() + 60
    while True:
        done = len(client.read_task_runs(**filters))
        now = time.perf_counter()
        if done >= tasks or now > give_up:
            return now
        time.sleep(0.01)


def summary(samples):
    samples = sorted(samples)
    return {
        "median": samples[len(samples) // 2],
        "min": samples[0],
        "max": samples[-1],
        "samples": samples,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    report = {"tasks": args.tasks, "repeats": args.repeats}
    with get_client(sync_client=True) as client:
        for name, workload in (("sequential", sequential), ("concurrent", concurrent)):
            wall, recorded, lag = [], [], []
            for repeat in range(args.repeats + 1):
                started = time.perf_counter()
                run_id = workload(args.tasks)
                returned = time.perf_counter()
                seen = all_completed(client, run_id, args.tasks)
                if repeat == 0:
                    continue  # warm-up: imports, connections, flow creation
                wall.append((returned - started) * 1e3)
                recorded.append((seen - started) * 1e3)
                lag.append((seen - returned) * 1e3)
            report[name] = {
                "wall_ms": summary(wall),
                "per_task_ms": summary([w / args.tasks for w in wall]),
                "all_recorded_after_call_ms": summary(recorded),
                "all_recorded_after_return_ms": summary(lag),
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
