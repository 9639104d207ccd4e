"""Serving the dashboard: one fresh app state per browser session."""

from __future__ import annotations

import ipaddress
import socket

from atomsieve.errors import ParameterError


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def make_app(dataset=None, name: str = ""):
    """Build the page for one session around a loaded dataset (the served factory)."""
    import panel as pn

    from atomsieve.app.state import DatasetState
    from atomsieve.app.summary import DatasetSummary

    state = DatasetState(dataset=dataset, name=name) if dataset is not None else DatasetState.from_path()
    template = pn.template.FastListTemplate(
        title="atomsieve",
        main=[DatasetSummary(state=state)],
        accent="#2f6f9f",
    )
    return template


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(path=None, *, energy_key=None, forces_key=None, port: int = 5006, address: str = "127.0.0.1",
          allow_websocket_origin: list[str] | None = None, show: bool = False) -> None:
    """Serve the dashboard until interrupted.

    The dataset is loaded once, before the server starts, so a bad file fails
    here with a clear error; each browser session gets its own state around it.
    Binding to a non-loopback address requires ``allow_websocket_origin``.
    """
    import panel as pn

    from atomsieve.app.state import DatasetState

    if not _is_loopback(address) and not allow_websocket_origin:
        raise ParameterError(
            f"--address {address} exposes the dashboard beyond this machine; "
            "also pass --allow-websocket-origin HOST:PORT for the origins you trust"
        )
    loaded = DatasetState.from_path(path, energy_key=energy_key, forces_key=forces_key)
    port = port or free_port()
    origins = allow_websocket_origin or [f"localhost:{port}", f"127.0.0.1:{port}"]

    def factory():
        return make_app(loaded.dataset, loaded.name)

    print(f"atomsieve dashboard: http://{address}:{port}/", flush=True)
    pn.serve(factory, port=port, address=address, show=show, websocket_origin=origins,
             title="atomsieve", threaded=False, start=True)
