"""Run independent jobs serially, on a local Dask cluster, or on an existing Dask scheduler.

``scheduler`` everywhere in atomsieve means one of:

- ``None`` or ``"serial"``: in this process, one job after another (no start-up cost);
- ``"threads"``: in this process, on a pool of ``n_workers`` threads (default: the cores, at most 4):
  for jobs whose heavy parts (NumPy, BLAS, torch, the compiled kernels) release the GIL;
- ``"local"``: a Dask ``LocalCluster`` on 127.0.0.1 with ``n_workers`` processes;
- ``"tcp://host:port"``: an existing Dask scheduler (a real cluster);
- a ``distributed.Client``: used as is and not closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback, report


class TaskRunner:
    """Maps a function over items and yields ``(index, result)`` as jobs finish.

    Examples
    --------
    >>> with TaskRunner() as runner:
    ...     sorted(runner.map(abs, [-1, -2]))
    [(0, 1), (1, 2)]
    """

    def __init__(self, scheduler: Any = None, n_workers: int | None = None):
        self.scheduler = scheduler
        self.n_workers = n_workers
        self._client = None
        self._cluster = None
        self._owns_client = False

    def __enter__(self) -> TaskRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def is_serial(self) -> bool:
        return self.scheduler in (None, "serial")

    def _workers(self) -> int:
        import os

        return self.n_workers or max(1, min(4, os.cpu_count() or 1))

    def _connect(self):
        if self._client is not None or self.is_serial or self.scheduler == "threads":
            return self._client
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - distributed is a dependency
            raise ParameterError(f"Dask distributed is needed for scheduler={self.scheduler!r}") from exc
        if isinstance(self.scheduler, Client):
            self._client = self.scheduler
        elif self.scheduler == "local":
            self._cluster = LocalCluster(
                n_workers=self._workers(), threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None,
            )
            self._client = Client(self._cluster)
            self._owns_client = True
        elif isinstance(self.scheduler, str) and "://" in self.scheduler:
            try:
                self._client = Client(self.scheduler, timeout="10s")
            except OSError as exc:
                raise ParameterError(f"cannot reach Dask scheduler {self.scheduler!r}: {exc}") from None
            self._owns_client = True
        else:
            raise ParameterError(
                f"scheduler must be None, 'serial', 'threads', 'local', an address like 'tcp://host:8786' "
                f"or a distributed.Client; got {self.scheduler!r}"
            )
        return self._client

    def map(
        self,
        fn: Callable,
        items: Iterable,
        *,
        progress: ProgressCallback | None = None,
        label: str = "",
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(item))`` in completion order.

        ``should_stop`` is polled between results; when it returns True the
        remaining jobs are cancelled and iteration ends.
        """
        items = list(items)
        total = len(items)
        report(progress, 0, total, label)
        client = self._connect()
        if self.scheduler == "threads":
            yield from self._map_threads(fn, items, progress, label, should_stop)
            return
        if client is None:
            for i, item in enumerate(items):
                if should_stop is not None and should_stop():
                    return
                yield i, fn(item)
                report(progress, i + 1, total, label)
            return
        from distributed import as_completed

        futures = client.map(fn, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        done = 0
        try:
            for future in as_completed(futures):
                if should_stop is not None and should_stop():
                    return
                yield index[future.key], future.result()
                done += 1
                report(progress, done, total, label)
        finally:
            client.cancel([f for f in futures if not f.done()])

    def _map_threads(self, fn, items, progress, label, should_stop):
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        workers = self._workers()
        total, done, queued = len(items), 0, iter(enumerate(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="atomsieve") as pool:
            pending: dict = {}

            def refill() -> None:  # at most two jobs per thread in flight, so a stop stops soon
                for i, item in queued:
                    pending[pool.submit(fn, item)] = i
                    if len(pending) >= 2 * workers:
                        break

            refill()
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        if should_stop is not None and should_stop():
                            return
                        yield pending.pop(future), future.result()
                        done += 1
                        report(progress, done, total, label)
                    refill()
            finally:
                for future in pending:
                    future.cancel()

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None
        self._owns_client = False


def run_tasks(fn: Callable, items: Iterable, *, scheduler: Any = None, n_workers: int | None = None,
              progress: ProgressCallback | None = None, label: str = "",
              should_stop: Callable[[], bool] | None = None) -> list:
    """``[fn(item) for item in items]``, run through :class:`TaskRunner`, results in input order.

    ``should_stop`` is polled between results (see :meth:`TaskRunner.map`); the items it leaves
    undone have None.
    """
    items = list(items)
    results: list = [None] * len(items)
    with TaskRunner(scheduler, n_workers) as runner:
        for i, value in runner.map(fn, items, progress=progress, label=label, should_stop=should_stop):
            results[i] = value
    return results
