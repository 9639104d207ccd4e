"""Slow work off the UI thread, with results delivered back on the session's event loop.

State objects own a :class:`Background`. A job runs ``fn(cancelled)`` in a daemon thread;
whatever it hands to ``emit`` (partial results, progress) and its final result reach the
callbacks on the thread that owns the session: the served document's event loop
(``add_next_tick_callback``), or directly in a notebook or a plain script. The UI thread
therefore never waits for the work, and param watchers fire where widgets may be touched.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from atomsieve.app.notify import describe, log, notify

# Outside a server there is no event loop to put callbacks in order, so workers take turns: two
# callbacks (say a new selection and a new model input) never interleave, as on a served loop.
_DIRECT_DELIVERY = threading.RLock()


class Job:
    """A running background job: ``cancel()`` asks it to stop; ``join()`` waits for it."""

    def __init__(self, label: str):
        self.label = label
        self.cancelled = threading.Event()
        self.finished = threading.Event()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.runner: Background | None = None

    def cancel(self) -> None:
        self.cancelled.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the job and its delivered callbacks are done; True when they are.

        On the thread of a served session (a notebook run by ``panel serve``), the callbacks can
        only run on that same thread, so joining runs them here instead of waiting for the loop.
        """
        if self.runner is not None:
            return self.runner.wait([self], timeout)
        return self.finished.wait(timeout)

    @property
    def running(self) -> bool:
        return not self.finished.is_set()


class Background:
    """Runs jobs in threads and delivers their results on the session's loop.

    Build it where ``pn.state.curdoc`` is the session's document (the app factory) so it
    knows where to deliver; elsewhere it delivers directly from the worker thread.

    Examples
    --------
    >>> runner = Background()
    >>> seen = []
    >>> job = runner.submit("square", lambda cancelled, emit: emit(3) or 3 * 3,
    ...                     on_result=seen.append, on_emit=seen.append)
    >>> job.join(5), seen
    (True, [3, 9])
    """

    def __init__(self):
        import panel as pn

        self.doc = pn.state.curdoc
        self.jobs: list[Job] = []
        self.closed = False
        self.owner = threading.get_ident()  # the thread that builds the session runs its loop
        self._pending: deque[Callable[[], None]] = deque()
        self._jobs_lock = threading.Lock()  # callbacks on worker threads submit too

    @property
    def served(self) -> bool:
        """Whether callbacks go through a served session's event loop."""
        return self.doc is not None and self.doc.session_context is not None

    def deliver(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` on the session's loop (next tick), or now outside a server."""
        if not self.served:
            with _DIRECT_DELIVERY:
                callback()
            return
        # Queued in order; each tick runs the oldest, unless :meth:`wait` on the loop's own thread
        # already ran it.
        self._pending.append(callback)
        try:
            self.doc.add_next_tick_callback(self._run_next)
        except Exception:  # noqa: BLE001 - the session is gone; drop the update
            log.debug("session closed; dropped a background update")

    def _run_next(self) -> bool:
        """Run the oldest queued callback on this (the session's) thread; False when none is left."""
        from panel.io.state import set_curdoc

        from atomsieve.app.live import batched

        try:
            callback = self._pending.popleft()
        except IndexError:
            return False
        with set_curdoc(self.doc), batched(self.doc):
            callback()
        return True

    def wait(self, jobs: list[Job] | None = None, timeout: float | None = None) -> bool:
        """Wait until ``jobs`` (default: all submitted so far) are done; True when they are.

        Called on a served session's own thread (where a notebook's code runs under ``panel serve``),
        a plain wait would deadlock: the jobs finish in callbacks queued for that thread. There the
        queued callbacks run in this call instead, in order.
        """
        import time

        jobs = list(self.jobs if jobs is None else jobs)
        deadline = None if timeout is None else time.monotonic() + timeout
        here = self.served and threading.get_ident() == self.owner
        for job in jobs:
            while job.running:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                if not here:
                    job.finished.wait(left)
                elif not self._run_queued():
                    job.thread.join(0.01 if left is None else min(0.01, left))
        return True

    def _run_queued(self) -> bool:
        """:meth:`_run_next` for :meth:`wait`: a failing callback is logged, as the loop would."""
        try:
            return self._run_next()
        except Exception:  # noqa: BLE001 - one update failed; the others still run
            log.exception("a background update failed")
            return True

    def submit(self, label: str, fn: Callable[[threading.Event, Callable[[Any], None]], Any], *,
               on_result: Callable[[Any], None] | None = None, on_emit: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None,
               on_finally: Callable[[], None] | None = None, job: Job | None = None) -> Job:
        """Start ``fn(cancelled_event, emit)`` in a thread; returns its :class:`Job`.

        Callbacks that refer to their own job get it made first and passed as ``job``: when every
        result is already cached, they can run before ``submit`` returns.
        """
        job = job or Job(label)
        job.runner = self

        def emit(item) -> None:
            if on_emit is not None and not job.cancelled.is_set():
                self.deliver(lambda: on_emit(item))

        def finish(kind: str, value=None) -> None:
            try:
                if kind == "result" and on_result is not None and not job.cancelled.is_set():
                    on_result(value)
                elif kind == "error":
                    (on_error or (lambda exc: notify(f"{label}: {describe(exc)}")))(value)
                if on_finally is not None:
                    on_finally()
            finally:
                job.finished.set()

        def run() -> None:
            try:
                result = fn(job.cancelled, emit)
            except BaseException as exc:  # noqa: BLE001 - reported to the session, never lost
                job.error = error = exc
                if not isinstance(exc, Exception) or type(exc).__module__.split(".")[0] != "atomsieve":
                    log.exception("background job %r failed", label)
                self.deliver(lambda: finish("error", error))
                return
            self.deliver(lambda: finish("result", result))

        job.thread = threading.Thread(target=run, name=f"atomsieve-{label}", daemon=True)
        with self._jobs_lock:
            self.jobs = [j for j in self.jobs if j.running] + [job]
        job.thread.start()
        return job

    def cancel_all(self) -> None:
        """Ask every running job to stop (called when the browser session closes)."""
        self.closed = True
        for job in self.jobs:
            job.cancel()
