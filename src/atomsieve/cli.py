"""The ``atomsieve`` command: a thin wrapper over the library.

Each verb lives in its own module under :mod:`atomsieve.commands` with
``register(subparsers)``, which adds its parser and sets ``run``. Errors the user
can fix print one line on stderr and exit with status 2; no traceback unless
``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from atomsieve.errors import AtomsieveError, AtomsieveWarning, describe_os_error

#: Verb modules in atomsieve.commands, in the order ``atomsieve --help`` lists them.
COMMANDS = [
    "info", "dashboard", "build", "generate", "featurize", "md_check", "select", "select_features", "sweep",
    "nft", "compare", "coverage", "chemiscope",
]


def build_parser() -> argparse.ArgumentParser:
    from atomsieve import __version__

    parser = argparse.ArgumentParser(
        prog="atomsieve",
        description="Choose which atomic structures deserve DFT labels. Units: eV, Å, eV/Å.",
    )
    parser.add_argument("--version", action="version", version=f"atomsieve {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"atomsieve.commands.{name}").register(sub)
    return parser


def _one_line_warnings(command: str, fallback):
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, AtomsieveWarning):
            print(f"atomsieve {command}: warning: {message}", file=sys.stderr)
        else:
            fallback(message, category, filename, lineno, file, line)

    return show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.own_process = argv is None  # run as the `atomsieve` command: a verb may restart the process
    try:
        with warnings.catch_warnings():  # atomsieve's own warnings: one line each, like its errors
            warnings.simplefilter("always", AtomsieveWarning)
            warnings.showwarning = _one_line_warnings(args.command, warnings.showwarning)
            return int(args.run(args) or 0)
    except AtomsieveError as exc:
        if args.debug:
            raise
        print(f"atomsieve {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"atomsieve {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file-system fault outside atomic writes: name the file and the fault
        if args.debug:
            raise
        print(f"atomsieve {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"atomsieve {args.command}: unexpected error: {type(exc).__name__}: {exc} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
