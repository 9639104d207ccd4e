"""Threads and task split of the compiled descriptor kernels (:mod:`atomsieve.descriptors.kernels`).

Plain Python: how many threads a launch gets, one launch at a time, and how the centres are cut
into tasks of about equal work.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numba
import numpy as np

#: Parallel kernels are launched one at a time per process (numba's workqueue layer is not
#: thread-safe, and two concurrent launches would only oversubscribe the cores anyway).
LAUNCH_LOCK = threading.RLock()


@contextmanager
def numba_threads(n: int | None):
    """Hold :data:`LAUNCH_LOCK` and run numba's parallel loops on ``n`` threads (None: torch's
    setting), capped at ``numba.config.NUMBA_NUM_THREADS``; the previous setting is restored."""
    import torch

    want = torch.get_num_threads() if n is None else int(n)
    want = max(1, min(want, numba.config.NUMBA_NUM_THREADS))
    with LAUNCH_LOCK:
        before = numba.get_num_threads()
        numba.set_num_threads(want)
        try:
            yield
        finally:
            numba.set_num_threads(before)


#: Parallel tasks per thread: each task takes a contiguous range of centres and allocates its
#: scratch arrays once (allocating them per centre costs more than the arithmetic).
TASKS_PER_THREAD = 16


def task_bounds(starts: np.ndarray, n_tasks: int) -> np.ndarray:
    """Boundaries (n_tasks + 1,) of contiguous ranges of centres with about equal work, work of a
    centre with K neighbours taken as K(K − 1)/2 + 4K + 16 (pairs, neighbours, fixed cost): dense and
    sparse structures, or H and C centres, then take the threads equally long.

    >>> task_bounds(np.array([0, 10, 10, 10, 10]), 2).tolist()
    [0, 1, 4]
    """
    k = np.diff(starts).astype(np.float64)
    work = np.concatenate([[0.0], np.cumsum(k * (k - 1) / 2 + 4 * k + 16)])
    n_tasks = max(1, min(int(n_tasks), len(k)))
    bounds = np.searchsorted(work, np.linspace(0.0, work[-1], n_tasks + 1)[1:-1], side="left")
    return np.concatenate([[0], np.maximum.accumulate(bounds), [len(k)]]).astype(np.int64)
