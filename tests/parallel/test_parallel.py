"""Jobs run serially, on a Dask LocalCluster, and on a real scheduler with workers on 127.0.0.1."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atomsieve import ParameterError
from atomsieve.app.serve import free_port
from atomsieve.parallel import TaskRunner, run_tasks

DASK = str(Path(sys.executable).with_name("dask"))


def test_serial_keeps_order_and_reports_progress():
    seen = []
    assert run_tasks(math.sqrt, [4, 9, 16], progress=lambda d, t, label: seen.append((d, t))) == [2, 3, 4]
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)


def test_should_stop_cancels_remaining_jobs():
    calls = []
    with TaskRunner() as runner:
        for _ in runner.map(calls.append, range(10), should_stop=lambda: len(calls) >= 3):
            pass
    assert len(calls) == 3


def test_threads_run_jobs_at_the_same_time_and_keep_results():
    import threading

    # Two jobs that can only finish together: they must run on two threads at once.
    barrier = threading.Barrier(2, timeout=30)

    def meet(x):
        barrier.wait()
        return x * x

    assert run_tasks(meet, [3, 4], scheduler="threads", n_workers=2) == [9, 16]
    calls = []
    with TaskRunner("threads", n_workers=1) as runner:
        for _ in runner.map(calls.append, range(10), should_stop=lambda: len(calls) >= 3):
            pass
    assert 3 <= len(calls) <= 3 + 2  # the jobs in flight when it stopped, no more


def test_local_cluster_gives_same_results():
    assert run_tasks(math.factorial, range(8), scheduler="local", n_workers=2) == [
        math.factorial(i) for i in range(8)
    ]


@pytest.fixture
def dask_cluster():
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [DASK, "worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
         "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        from distributed import Client

        deadline = time.time() + 60
        while True:
            try:
                with Client(address, timeout="2s") as client:
                    if len(client.scheduler_info()["workers"]) >= 2:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise AssertionError("Dask scheduler and workers did not start")
            time.sleep(0.5)
        yield address
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            proc.wait(timeout=30)


def test_existing_scheduler_address(dask_cluster):
    expected = [math.factorial(i) for i in range(6)]
    assert run_tasks(math.factorial, range(6), scheduler=dask_cluster) == expected


def test_bad_scheduler_is_a_clear_error():
    with pytest.raises(ParameterError, match="scheduler must be"):
        run_tasks(abs, [1], scheduler="fast please")
    with pytest.raises(ParameterError, match="cannot reach Dask scheduler"):
        run_tasks(abs, [1], scheduler=f"tcp://127.0.0.1:{free_port()}")
