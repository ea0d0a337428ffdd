"""The real `prefect worker start --type process` (3.9.1) against the server at PREFECT_API_URL.

Creates a process work pool with Prefect's CLI, deploys two Python flows from a local folder with
the Prefect client, starts Prefect's worker, and checks that:
- a run of the first reaches COMPLETED and its log line arrives;
- a run of the second, cancelled with `prefect flow-run cancel` while RUNNING, ends CANCELLED and
  its process is gone.
Prints "worker compat: ok" on success; any failure raises.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prefect import flow
from prefect.client.orchestration import get_client

FLOWS = '''
import time
from prefect import flow, task

@task
def shout(name: str) -> str:
    return name.upper()

@flow(log_prints=True)
def hello(name: str = "world"):
    print(f"hello {shout(name)}")

@flow
def sleepy(seconds: float = 120):
    time.sleep(seconds)
'''

PREFECT = str(Path(sys.executable).with_name("prefect"))


def wait_for(client, run_id, states, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = client.read_flow_run(run_id)
        if run.state_type and run.state_type.value in states:
            return run
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} never reached {states}: {client.read_flow_run(run_id).state}")


def main():
    folder = tempfile.mkdtemp(prefix="weir-worker-compat-")
    Path(folder, "flows.py").write_text(FLOWS)
    subprocess.run([PREFECT, "work-pool", "create", "compat-pool", "--type", "process"], check=True,
                   stdout=subprocess.DEVNULL)
    hello_id = flow.from_source(source=folder, entrypoint="flows.py:hello").deploy(
        name="compat", work_pool_name="compat-pool", print_next_steps=False)
    sleepy_id = flow.from_source(source=folder, entrypoint="flows.py:sleepy").deploy(
        name="compat", work_pool_name="compat-pool", print_next_steps=False)
    log = open(Path(folder, "worker.log"), "w")
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", "compat-pool", "--type", "process"],
        env={**os.environ, "PREFECT_WORKER_QUERY_SECONDS": "1"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with get_client(sync_client=True) as client:
            run = client.create_flow_run_from_deployment(hello_id, parameters={"name": "ada"})
            done = wait_for(client, run.id, {"COMPLETED", "FAILED", "CRASHED"})
            assert done.state_type.value == "COMPLETED", done.state
            deadline = time.monotonic() + 30
            while not any("hello ADA" in line.message for line in client.read_logs()):
                assert time.monotonic() < deadline, "the flow's log line never arrived"
                time.sleep(0.25)

            run = client.create_flow_run_from_deployment(sleepy_id, parameters={"seconds": 120})
            running = wait_for(client, run.id, {"RUNNING"})
            pid = int(str(running.infrastructure_pid).rsplit(":", 1)[-1])
            subprocess.run([PREFECT, "flow-run", "cancel", str(run.id)], check=True,
                           stdout=subprocess.DEVNULL)
            cancelled = wait_for(client, run.id, {"CANCELLED"})
            assert cancelled.state_type.value == "CANCELLED", cancelled.state
            deadline = time.monotonic() + 20
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                assert time.monotonic() < deadline, f"process {pid} outlived its cancelled run"
                time.sleep(0.25)
    except Exception:
        log.flush()
        print(Path(folder, "worker.log").read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    print("worker compat: ok")


if __name__ == "__main__":
    main()
