"""Serving the dashboard: one fresh app state per browser session."""

from __future__ import annotations

import ctypes
import gc
import os
import socket
import sys
import threading

from atomsieve.app.security import check_bind, set_upload_limit, upload_limit

ACCENT = "#2f6f9f"


def make_app(dataset=None, title: str = "", data_dir: str | None = None, source_path: str | None = None):
    """Build the page for one browser session around a loaded dataset (the served factory).

    Every call makes new state objects, so sessions never share selections or jobs; the
    dataset itself (read-only) and the feature cache are shared.
    """
    import panel as pn

    from atomsieve.app.dashboard import Dashboard
    from atomsieve.app.state import DatasetState

    if dataset is not None:
        data = DatasetState(dataset=dataset, title=title, data_dir=data_dir, source_path=source_path)
    else:
        data = DatasetState.from_path(data_dir=data_dir)
    dashboard = Dashboard(data=data)
    # Bootstrap: the template whose resources Panel serves itself (no font or script CDN).
    # No template busy spinner: Panel keeps one process-wide busy flag and sets *every* session's
    # spinner whenever *any* session handles an event, so with 20 sessions each slider release
    # restyled and re-sent 40 spinners (half the server's time). Each session shows its own
    # "computing…" note and progress bars instead.
    template = pn.template.BootstrapTemplate(
        title="atomsieve — which structures deserve DFT labels",
        busy_indicator=None,
        sidebar=[dashboard.sidebar()],
        main=[dashboard.main()],
        header_background=ACCENT,
        sidebar_width=370,
    )
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda _ctx: _session_destroyed(dashboard))
    return template


def _prewarm(dataset) -> None:
    """Before the first session asks: compute the default fingerprints, then (single element) fit
    every threshold-slider position into the shared outcome cache, so slider moves are cache hits.

    Runs in a daemon thread; fits pause while a session's own fit runs. The outcome of each
    position is small (indices only), so the whole grid costs a few MiB.
    """
    from atomsieve.app.features_state import features_for
    from atomsieve.app.outcomes import precompute_in_background
    from atomsieve.app.studies_state import CURVE_THRESHOLDS

    def run():
        try:
            feats = features_for(dataset)
        except Exception:  # noqa: BLE001 - the session that asks will report it
            return
        precompute_in_background(feats, dataset.content_hash(), first=CURVE_THRESHOLDS,
                                 log=lambda line: print(line, flush=True))

    threading.Thread(target=run, name="atomsieve-prewarm", daemon=True).start()


#: Imported once before any session or worker thread starts: two threads importing these at once
#: can see a partially initialised module (pandas through plotly, for instance).
PREIMPORTS = ("pandas", "plotly.graph_objects", "sklearn.decomposition", "atomsieve.selectors")


def _preimport() -> None:
    import importlib

    for name in PREIMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


#: glibc ``mallopt`` parameters: at most this many malloc arenas (one per thread by default, each
#: keeping its own freed pages), and a fixed mmap threshold, so large arrays (plot data, bank
#: vectors) are mapped and unmapped rather than left in the heap once freed.
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
MALLOC_ARENAS = 2
MMAP_THRESHOLD_BYTES = 256 * 1024


def tune_malloc() -> bool:
    """Ask glibc's allocator to return freed memory more readily (see the constants above).

    Called once when serving; returns False where glibc is not the allocator.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        return False
    return True


def restart_with_system_malloc() -> None:
    """Re-execute this process once with ``PYTHONMALLOC=malloc`` (POSIX; a no-op when it is set).

    A server builds and drops whole sessions for hours. CPython's own small-object allocator frees
    a 1 MiB arena only when every object in it is gone, so a few long-lived objects created while
    sessions were open pin arenas: 20 sessions opened and closed left the server ~95 MiB above its
    baseline with it, and at its baseline with the system allocator, whose freed pages
    :func:`release_memory` hands back. Only the ``atomsieve dashboard`` command calls this.
    """
    if os.environ.get("PYTHONMALLOC") or os.name != "posix":
        return
    try:
        os.execve(sys.executable, sys.orig_argv, {**os.environ, "PYTHONMALLOC": "malloc"})
    except OSError:
        pass  # serve with the default allocator


def release_memory() -> bool:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``).

    Returns whether ``malloc_trim`` was available (False on non-glibc systems).
    """
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


class MemoryReleaser:
    """Runs :func:`release_memory` once, ``delay`` seconds after the last of a burst of requests.

    Bokeh discards closed sessions in sweeps; one collection per sweep is enough, and it runs off
    the event loop's call stack (a timer thread).
    """

    def __init__(self, delay: float = 2.0):
        self.delay = delay
        self.runs = 0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def request(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            self._timer = None
        release_memory()
        self.runs += 1


#: Shared by the sessions of this process.
RELEASER = MemoryReleaser()


def _session_destroyed(dashboard) -> None:
    """Per-session cleanup: stop the session's background work, then return its memory."""
    try:
        dashboard.close()
    finally:
        RELEASER.request()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SERVED: dict[tuple, object] = {}
_SERVED_LOCK = threading.Lock()


def served_dataset(path=None, *, energy_key=None, forces_key=None, data_dir=None, query=None):
    """The dataset this server process serves, loaded once per process (the first session waits).

    The first call also readies the process: allocator settings, imports, and the background
    pre-warm of fingerprints and slider positions. Both ``atomsieve dashboard`` and the
    ``panel serve`` entry (:mod:`atomsieve.app.panel_app`, run once per session) call it.
    Returns a :class:`~atomsieve.app.state.DatasetState` that sessions only read.
    """
    from atomsieve.app.state import DatasetState

    key = (None if path is None else str(path), energy_key, forces_key, data_dir, query)
    with _SERVED_LOCK:
        if key not in _SERVED:
            from atomsieve.progress import progress_bar

            with progress_bar("reading") as bar:
                loaded = DatasetState.from_path(path, energy_key=energy_key, forces_key=forces_key,
                                                data_dir=data_dir, query=query, progress=bar)
            tune_malloc()
            _preimport()
            _prewarm(loaded.dataset)
            # What is loaded now lives as long as the server: keep it out of the collector's full
            # passes, which otherwise walk it (0.4-0.8 s) and can land on a slider release.
            gc.collect()
            gc.freeze()
            _SERVED[key] = loaded
        return _SERVED[key]


def serve(path=None, *, energy_key=None, forces_key=None, port: int = 5006, address: str = "127.0.0.1",
          allow_websocket_origin: list[str] | None = None, show: bool = False,
          data_dir: str | None = None, max_upload_mb: float | None = None,
          session_lifetime_s: float | None = None, query: str | None = None) -> None:
    """Serve the dashboard until interrupted.

    The dataset is loaded once, before the server starts, so a bad file fails
    here with a clear error; each browser session gets its own state around it.
    Binding to a non-loopback address requires ``allow_websocket_origin``.
    Uploads are limited to ``max_upload_mb`` (default
    :data:`~atomsieve.app.security.UPLOAD_LIMIT_BYTES`; the websocket message limit is set just
    above it, as uploads travel base64-encoded). With ``data_dir``, open-by-path only reaches
    files inside that folder. ``query`` selects rows of an ASE database (ASE's grammar).
    A closed session is discarded (and its memory released) once unused
    for ``session_lifetime_s`` seconds (Bokeh's default, 15 s, checked every 17 s, when None).
    """
    import panel as pn

    check_bind(address, allow_websocket_origin)
    set_upload_limit(max_upload_mb)
    loaded = served_dataset(path, energy_key=energy_key, forces_key=forces_key, data_dir=data_dir,
                            query=query)
    port = port or free_port()
    origins = allow_websocket_origin or [f"localhost:{port}", f"127.0.0.1:{port}"]
    pn.extension("plotly", notifications=True)
    pn.config.notifications = True

    def factory():
        return make_app(loaded.dataset, loaded.title, data_dir=data_dir, source_path=loaded.source_path)

    print(f"atomsieve dashboard: http://{address}:{port}/", flush=True)
    lifetime = {}
    if session_lifetime_s is not None:
        ms = max(int(1000 * session_lifetime_s), 100)
        lifetime = {"unused_session_lifetime_milliseconds": ms,
                    "check_unused_sessions_milliseconds": max(ms // 2, 100)}
    pn.serve(factory, port=port, address=address, show=show, websocket_origin=origins,
             title="atomsieve", threaded=False, start=True,
             websocket_max_message_size=int(upload_limit() * 4 / 3) + 1024 * 1024, **lifetime)
