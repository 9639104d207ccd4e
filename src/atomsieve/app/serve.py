"""Serving the dashboard: one fresh app state per browser session."""

from __future__ import annotations

import socket

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
    template = pn.template.BootstrapTemplate(
        title="atomsieve — which structures deserve DFT labels",
        sidebar=[dashboard.sidebar()],
        main=[dashboard.main()],
        header_background=ACCENT,
        sidebar_width=370,
    )
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda _ctx: dashboard.close())
    return template


def _prewarm(dataset) -> None:
    """Start computing the default fingerprints before the first browser session asks for them."""
    import threading

    from atomsieve.app.features_state import features_for

    def run():
        try:
            features_for(dataset)
        except Exception:  # noqa: BLE001 - the session that asks will report it
            pass

    threading.Thread(target=run, name="atomsieve-prewarm", daemon=True).start()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(path=None, *, energy_key=None, forces_key=None, port: int = 5006, address: str = "127.0.0.1",
          allow_websocket_origin: list[str] | None = None, show: bool = False,
          data_dir: str | None = None, max_upload_mb: float | None = None) -> None:
    """Serve the dashboard until interrupted.

    The dataset is loaded once, before the server starts, so a bad file fails
    here with a clear error; each browser session gets its own state around it.
    Binding to a non-loopback address requires ``allow_websocket_origin``.
    Uploads are limited to ``max_upload_mb`` (default
    :data:`~atomsieve.app.security.UPLOAD_LIMIT_BYTES`; the websocket message limit is set just
    above it, as uploads travel base64-encoded). With ``data_dir``, open-by-path only reaches
    files inside that folder.
    """
    import panel as pn

    from atomsieve.app.state import DatasetState

    check_bind(address, allow_websocket_origin)
    set_upload_limit(max_upload_mb)
    loaded = DatasetState.from_path(path, energy_key=energy_key, forces_key=forces_key, data_dir=data_dir)
    port = port or free_port()
    origins = allow_websocket_origin or [f"localhost:{port}", f"127.0.0.1:{port}"]
    pn.extension("plotly", notifications=True)
    pn.config.notifications = True

    _prewarm(loaded.dataset)

    def factory():
        return make_app(loaded.dataset, loaded.title, data_dir=data_dir, source_path=loaded.source_path)

    print(f"atomsieve dashboard: http://{address}:{port}/", flush=True)
    pn.serve(factory, port=port, address=address, show=show, websocket_origin=origins,
             title="atomsieve", threaded=False, start=True,
             websocket_max_message_size=int(upload_limit() * 4 / 3) + 1024 * 1024)
