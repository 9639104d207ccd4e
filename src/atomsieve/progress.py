"""Progress reporting: one callback signature for the library, tqdm bars for the CLI.

Long-running library functions accept ``progress(done, total, label)``; the
dashboard passes a callback that moves its progress bar, the CLI passes
:func:`progress_bar`.

Stopping: the same functions accept a keyword-only ``should_stop()`` (default None: never stop),
polled where ``progress`` is reported (per chunk, partition, structure, step, epoch) and passed down
to the inner calls. What a True answer does depends on whether the partial result is an answer:

- operations whose partial result is valid (an MD run so far, generated samples so far, structures
  built or labelled so far, an ensemble's training, a greedy selection so far) stop and return what
  they have, saying so in their result where the result has a place for it;
- operations whose partial result would be wrong (fingerprints, Jacobians, a feature store, prepared
  model input, a written selection file) raise :class:`atomsieve.errors.Stopped` through
  :func:`check_stop` and leave nothing half-written (their writes are atomic).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ProgressCallback = Callable[[int, int, str], None]
StopCallback = Callable[[], bool]


def report(progress: ProgressCallback | None, done: int, total: int, label: str = "") -> None:
    """Call ``progress`` if there is one."""
    if progress is not None:
        progress(done, total, label)


def check_stop(should_stop: StopCallback | None, what: str) -> None:
    """Raise :class:`~atomsieve.errors.Stopped` if ``should_stop`` is given and returns True.

    >>> check_stop(None, "features"); check_stop(lambda: False, "features")
    >>> check_stop(lambda: True, "features")
    Traceback (most recent call last):
    ...
    atomsieve.errors.Stopped: features: stopped on request
    """
    if should_stop is not None and should_stop():
        from atomsieve.errors import Stopped

        raise Stopped(f"{what}: stopped on request")


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
