"""Large inputs at the command line: when a verb streams, the on-disk feature store, Dask.

``featurize``, ``select``, ``sweep`` and ``coverage`` read a small structure file whole. A file
larger than :data:`STREAM_BYTES` (about 6 × 10^5 atoms of extxyz with forces), or any file when
``--store DIR`` is given, is read in partitions into a
:class:`~atomsieve.descriptors.store.FeatureStore` and worked on a chunk at a time, with the same
answer as the in-memory path; ``--scheduler local|ADDR`` featurises the partitions on Dask workers.
``--store DIR`` keeps the store and reuses it while the file and the descriptor are unchanged;
without it the store is temporary (under ``$ATOMSIEVE_STORE_TMP`` or the system's temporary folder)
and deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from atomsieve.errors import CacheError, DataError, ParameterError

#: Input files larger than this (bytes) are streamed; $ATOMSIEVE_STREAM_BYTES overrides it.
STREAM_BYTES = 64 * 2**20


def add_stream_options(p: argparse.ArgumentParser, *, scheduler: bool = True) -> None:
    """``--store``, ``--partition``, ``--in-memory`` and (unless the verb has its own) ``--scheduler``."""
    p.add_argument("--store", metavar="DIR", default=None,
                   help="stream the input through an on-disk feature store in DIR, kept and reused while "
                        "the file and descriptor are unchanged (default: a temporary store for inputs "
                        f"over {STREAM_BYTES // 2**20} MiB)")
    from atomsieve.commands.options import count

    p.add_argument("--partition", type=count(1, 10_000_000), default=500, metavar="N",
                   help="structures read per partition when streaming (default 500)")
    p.add_argument("--in-memory", action="store_true",
                   help="read the whole input into memory even when it is large")
    if scheduler:
        p.add_argument("--scheduler", default=None, metavar="ADDR|local",
                       help="featurise partitions on a local Dask cluster ('local') or the scheduler at "
                            "ADDR (tcp://host:8786; the store folder must be shared); implies streaming")


def stream_bytes() -> int:
    from atomsieve.limits import env_bytes

    return env_bytes("ATOMSIEVE_STREAM_BYTES", STREAM_BYTES)


def should_stream(args: argparse.Namespace, path: str | os.PathLike, *,
                  scheduler_streams: bool = True) -> bool:
    """Whether ``path`` is streamed: ``--store``, a scheduler (when it implies streaming) or a large
    file, unless ``--in-memory``."""
    wants = args.store is not None or (scheduler_streams and getattr(args, "scheduler", None) is not None)
    if args.in_memory:
        if wants:
            raise ParameterError("--in-memory reads the whole file; it cannot be combined with --store "
                                 "or --scheduler")
        return False
    if wants:
        return True
    try:
        return Path(path).stat().st_size > stream_bytes()
    except OSError:
        return False  # the reader names the problem


def refuse_in_stream(args: argparse.Namespace, path, **options) -> bool:
    """Options the streamed path does not support: an error when streaming was asked for
    (``--store``/``--scheduler``), else a note and the in-memory path. Returns whether to stream."""
    given = [name for name, value in options.items() if value]
    if not given:
        return True
    flags = ", ".join(given)
    if args.store is not None or getattr(args, "scheduler", None) is not None:
        raise ParameterError(f"{flags} cannot be used with a streamed input (--store/--scheduler); "
                             f"drop it or pass --in-memory")
    print(f"note: {path} is large, but {flags} needs the whole file in memory; reading it whole",
          file=sys.stderr)
    return False


def _temporary_root() -> Path:
    root = os.environ.get("ATOMSIEVE_STORE_TMP")
    return Path(root) if root else Path(tempfile.gettempdir())


@contextmanager
def feature_store(args: argparse.Namespace, path: str | os.PathLike, descriptor, *,
                  label: str = "featurising") -> Iterator:
    """The feature store of ``path`` under ``descriptor``: the one in ``--store DIR`` when it is
    current, else built there (or in a temporary folder deleted on exit), with a progress bar."""
    from atomsieve.data.stream import count_structures
    from atomsieve.descriptors.store import FeatureStore
    from atomsieve.progress import progress_bar

    temporary = None
    if args.store is not None:
        folder = Path(args.store)
        store = None
        if folder.exists():
            if not (folder / "meta.json").is_file():
                if not folder.is_dir() or any(folder.iterdir()):
                    raise DataError(f"--store {folder}: exists and is not a feature store; name a new "
                                    f"folder")
                folder.rmdir()
            else:
                try:
                    store = FeatureStore(folder)
                except CacheError as exc:
                    print(f"note: {exc}; rebuilding it", file=sys.stderr)
            if store is not None and store.is_current(path, descriptor.params):
                print(f"feature store: reusing {folder} ({store.n_atoms:,} atoms)", file=sys.stderr)
                yield store
                return
            if store is not None:
                print(f"note: {folder} holds another file's or descriptor's features; rebuilding it",
                      file=sys.stderr)
    else:
        temporary = Path(tempfile.mkdtemp(prefix="atomsieve-store-", dir=_temporary_root()))
        folder = temporary / "store"
    try:
        with progress_bar(label, enabled=getattr(args, "progress", None)) as bar:
            store = FeatureStore.build(path, folder, descriptor, partition_size=args.partition,
                                       energy_key=getattr(args, "energy_key", None),
                                       forces_key=getattr(args, "forces_key", None),
                                       scheduler=getattr(args, "scheduler", None), overwrite=True,
                                       progress=bar, total=count_structures(path))
        yield store
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def descriptor_for(args: argparse.Namespace, elements: list[str], bank=None):
    """The symmetry functions of a run, in memory or streamed: the bank's when screening against one
    (refused when ``--preset``/``--cutoff`` ask for another), else the preset for ``elements`` (all
    the elements of the file)."""
    from atomsieve.descriptors import SymmetryFunctions, preset

    asked_preset, cutoff = getattr(args, "preset", None), getattr(args, "cutoff", None)
    if bank is None or bank.params is None:
        return preset(asked_preset, elements, r_cut=cutoff)
    sf = SymmetryFunctions.from_params(bank.params)
    if asked_preset is not None or cutoff is not None:  # a descriptor asked for must be the bank's
        from atomsieve.errors import CacheError
        from atomsieve.selectors.bank import params_difference, params_equal

        asked = preset(asked_preset or sf.preset, elements, r_cut=cutoff)
        if not params_equal(asked.params, bank.params):
            raise CacheError(
                f"--bank-in {args.bank_in}: made with another descriptor than --preset/--cutoff ask for: "
                f"{params_difference(bank.params, asked.params)} (bank against asked); drop them to "
                "use the bank's"
            )
    return sf
