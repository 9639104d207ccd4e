"""The dashboard as a file for ``panel serve`` (one fresh session per browser tab).

From a checkout::

    panel serve src/atomsieve/app/panel_app.py --args data.extxyz --energy-key REF_energy

Anywhere atomsieve is installed (``python -m atomsieve.app.panel_app`` prints this file's path)::

    panel serve "$(python -m atomsieve.app.panel_app)" --args data.extxyz

Everything after ``--args`` is read by :func:`parse_args`: the structure file (or the
``ATOMSIEVE_DATASET`` environment variable; the embedded germanium set when neither is given),
``--energy-key``, ``--forces-key``, ``--query``, ``--data-dir`` and ``--max-upload-mb``. Panel
runs this file once per session; the dataset is read once per process
(:func:`atomsieve.app.serve.served_dataset`). ``panel serve``'s own options apply (``--port``,
``--address``, ``--allow-websocket-origin``, ``--warm`` to load the dataset before the first tab).
Uploads travel base64-encoded through the websocket, whose messages Bokeh limits to 20 MiB by
default; hence a default upload limit of 15 MB here, and ``--websocket-max-message-size`` for more.
"""

from __future__ import annotations

import argparse
import os
import sys

#: Environment variable naming the dataset when no path follows ``--args``.
DATASET_VARIABLE = "ATOMSIEVE_DATASET"
#: Upload limit (MB) under ``panel serve``'s default websocket message limit (20 MiB, base64: 4/3).
SERVED_UPLOAD_MB = 15.0


class ArgumentParser(argparse.ArgumentParser):
    """Bad options raise :class:`~atomsieve.errors.ParameterError` (shown on the page) instead of exiting."""

    def error(self, message):
        from atomsieve.errors import ParameterError

        raise ParameterError(f"{self.prog}: {message}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options given after ``panel serve … --args``.

    >>> args = parse_args(["ge.extxyz", "--energy-key", "REF_energy"])
    >>> args.path, args.energy_key, args.max_upload_mb
    ('ge.extxyz', 'REF_energy', 15.0)
    >>> parse_args(["--energy"])
    Traceback (most recent call last):
    ...
    atomsieve.errors.ParameterError: panel_app.py --args: argument --energy-key: expected one argument
    """
    from atomsieve.commands.options import number

    parser = ArgumentParser(prog="panel_app.py --args",
                            description="Serve the atomsieve dashboard with panel serve.")
    parser.add_argument("path", nargs="?", default=os.environ.get(DATASET_VARIABLE) or None,
                        help=f"structure file (default: ${DATASET_VARIABLE}, else the embedded germanium "
                             "set)")
    parser.add_argument("--energy-key", default=None, help="info key of the energies (eV)")
    parser.add_argument("--forces-key", default=None, help="arrays key of the forces (eV/Å)")
    parser.add_argument("--query", default=None, help="ASE database selection, e.g. 'config_type=bulk'")
    parser.add_argument("--data-dir", default=None, help="confine open-by-path to files inside this folder")
    parser.add_argument("--max-upload-mb", type=number(0, 100_000, low_open=True), default=SERVED_UPLOAD_MB,
                        help=f"largest upload (default {SERVED_UPLOAD_MB:g} MB)")
    return parser.parse_args(argv)


def page(argv: list[str]):
    """The served page of one session, for the dataset and options in ``argv``."""
    import panel as pn

    from atomsieve.app.security import set_upload_limit
    from atomsieve.app.serve import make_app, served_dataset

    args = parse_args(argv)
    set_upload_limit(args.max_upload_mb)
    loaded = served_dataset(args.path, energy_key=args.energy_key, forces_key=args.forces_key,
                            data_dir=args.data_dir, query=args.query)
    pn.extension("plotly", notifications=True)
    return make_app(loaded.dataset, loaded.title, data_dir=args.data_dir, source_path=loaded.source_path)


def page_or_error(argv: list[str]):
    """:func:`page`, or a page with one line naming the input and the problem (also printed to the log)."""
    import panel as pn

    from atomsieve.errors import AtomsieveError

    try:
        return page(argv)
    except AtomsieveError as exc:
        print(f"atomsieve: {exc}", file=sys.stderr, flush=True)
        return pn.pane.Alert(f"atomsieve could not serve the dashboard: {exc}", alert_type="danger",
                             css_classes=["atomsieve-error"])


def _served() -> bool:
    import panel as pn

    return pn.state.curdoc is not None and pn.state.curdoc.session_context is not None


if __name__ == "__main__":
    print(os.path.abspath(__file__))
elif _served():  # run by panel serve; importing the module elsewhere (docs, tests) builds nothing
    page_or_error(sys.argv[1:]).servable(title="atomsieve")
