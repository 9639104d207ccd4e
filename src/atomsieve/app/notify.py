"""Messages to the person at the dashboard: notifications when served, a log line always."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import panel as pn

from atomsieve.errors import AtomsieveError, describe_os_error

log = logging.getLogger("atomsieve.app")


def notify(message: str, level: str = "error", duration: int = 10000) -> None:
    """Show ``message`` as a toast (``pn.state.notifications``) where the session has one; always log it.

    ``level`` is one of ``"error"``, ``"warning"``, ``"success"``, ``"info"``.
    """
    getattr(log, "error" if level == "error" else "info")(message)
    area = pn.state.notifications
    if area is not None:
        getattr(area, level)(message, duration=duration)


def describe(exc: BaseException) -> str:
    """One line for an exception: our own errors speak for themselves, others get their type."""
    if isinstance(exc, AtomsieveError):
        return str(exc)
    if isinstance(exc, OSError):  # a file-system fault: the file and what went wrong
        return describe_os_error(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


def guarded(action: str, fn: Callable, *args, **kwargs):
    """Run ``fn``; on any error notify ``"<action>: <message>"`` and return None (the session goes on)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a visible message
        if not isinstance(exc, AtomsieveError):
            log.exception("%s failed", action)
        notify(f"{action}: {describe(exc)}")
        return None


class UiScheduler:
    """Runs view updates on the session's event loop, wherever the state change came from.

    Build it inside ``__panel__`` (where ``pn.state.curdoc`` is the session's document).
    Updates triggered on the server's loop thread (widget callbacks) run at once; updates
    triggered by a background thread are queued with ``add_next_tick_callback``. In a
    notebook (no server session) they run at once and the pane is pushed to the kernel's comm.
    """

    def __init__(self, *panes):
        self.doc = pn.state.curdoc
        self.loop_thread = threading.main_thread()
        self.panes = panes

    def __call__(self, fn: Callable[[], None]) -> None:
        doc = self.doc
        served = doc is not None and doc.session_context is not None
        if served and threading.current_thread() is not self.loop_thread:
            from atomsieve.app.live import batched

            def run():
                with batched(doc):
                    fn()

            doc.add_next_tick_callback(run)
            return
        fn()
        if not served and self.panes:
            try:
                pn.io.push_notebook(*self.panes)
            except Exception:  # noqa: BLE001 - nothing to push outside a notebook
                pass
