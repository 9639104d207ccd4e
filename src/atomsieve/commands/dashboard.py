"""``atomsieve dashboard [PATH]``: serve the Panel app."""

from __future__ import annotations

import argparse

from atomsieve.commands import add_label_keys, add_query


def register(sub) -> None:
    from atomsieve.commands.options import count, number

    p = sub.add_parser("dashboard", help="serve the interactive dashboard in a browser")
    p.add_argument("path", nargs="?", help="structure file; the embedded germanium set when omitted")
    add_label_keys(p)
    add_query(p)
    p.add_argument("--port", type=count(0, 65535), default=5006,
                   help="port (0 picks a free one; default 5006)")
    p.add_argument("--address", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument(
        "--allow-websocket-origin", action="append", default=None, metavar="HOST[:PORT]",
        help="origins allowed to connect; required when --address is not a loopback address",
    )
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="confine the dashboard's open-by-path field to files inside DIR")
    p.add_argument("--max-upload-mb", type=number(0, 100_000, low_open=True), default=None, metavar="MB",
                   help="largest file the upload button accepts (default 50 MB)")
    p.add_argument("--show", action=argparse.BooleanOptionalAction, default=False,
                   help="open a browser tab (default: --no-show)")
    p.set_defaults(run=run)


def run(args) -> int:
    from atomsieve.app.serve import restart_with_system_malloc, serve

    if args.own_process:
        restart_with_system_malloc()

    serve(
        path=args.path,
        energy_key=args.energy_key,
        forces_key=args.forces_key,
        port=args.port,
        address=args.address,
        allow_websocket_origin=args.allow_websocket_origin,
        show=args.show,
        data_dir=args.data_dir,
        max_upload_mb=args.max_upload_mb,
        query=args.query,
    )
    return 0
