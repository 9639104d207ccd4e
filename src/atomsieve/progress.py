"""Progress reporting: one callback signature for the library, tqdm bars for the CLI.

Long-running library functions accept ``progress(done, total, label)``; the
dashboard passes a callback that moves its progress bar, the CLI passes
:func:`progress_bar`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ProgressCallback = Callable[[int, int, str], None]


def report(progress: ProgressCallback | None, done: int, total: int, label: str = "") -> None:
    """Call ``progress`` if there is one."""
    if progress is not None:
        progress(done, total, label)


@contextmanager
def progress_bar(description: str, enabled: bool | None = None) -> Iterator[ProgressCallback]:
    """A tqdm bar on stderr driven by the progress callback; silent when stderr is not a terminal
    unless ``enabled`` is True."""
    from tqdm import tqdm

    enabled = sys.stderr.isatty() if enabled is None else enabled
    bar = tqdm(desc=description, total=0, disable=not enabled, file=sys.stderr, leave=False)

    def callback(done: int, total: int, label: str = "") -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        if label:
            bar.set_postfix_str(label, refresh=False)
        bar.refresh()

    try:
        yield callback
    finally:
        bar.close()
