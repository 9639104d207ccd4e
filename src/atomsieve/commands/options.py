"""Checked option types shared by every verb: finite numbers in range, sensible counts, device names.

argparse's ``type=float`` accepts ``inf`` and ``nan`` and ``type=int`` accepts ``-5`` or ``10**12``;
the code behind an option then fails with OverflowError, MemoryError or a torch message. These
types refuse such values while the command line is parsed, before any work, with one message that
names the option, the value and what would be accepted (argparse then exits with status 2).

Examples
--------
>>> number(low=0, low_open=True)("0.5")
0.5
>>> count(1)("12")
12
>>> number(low=0)("nan")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: 'nan' is not a finite number
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

#: Largest count any option accepts unless it says otherwise (steps, structures, bins, members ...).
MAX_COUNT = 10**8
#: Seeds NumPy and torch both accept.
MAX_SEED = 2**32 - 1
#: Device names accepted by ``--device``.
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def _bounds(low, high, low_open: bool, high_open: bool) -> str:
    left = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    right = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    return " and ".join(p for p in (left, right) if p)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite float in ``[low, high]`` (open ends with ``low_open``/``high_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (low is not None and (value < low or (low_open and value == low))) or (
            high is not None and (value > high or (high_open and value == high))
        ):
            raise argparse.ArgumentTypeError(f"{text!r}: must be {_bounds(low, high, low_open, high_open)}")
        return value

    parse.__name__ = "number"
    return parse


def count(low: int = 1, high: int = MAX_COUNT) -> Callable[[str], int]:
    """An argparse type: a whole number in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number from {low} to {high:,}")
        return value

    parse.__name__ = "count"
    return parse


#: ``--seed``: what NumPy's and torch's generators accept.
seed = count(0, MAX_SEED)


def device(text: str) -> str:
    """An argparse type: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (availability is checked on use)."""
    if not DEVICE_PATTERN.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r}: use auto, cpu, cuda or cuda:N")
    return text.strip()


def count_or_fraction(text: str, option: str = "--n") -> int | float:
    """``"20"`` -> 20 (a count >= 1); ``"0.2"`` -> 0.2 (a fraction in (0, 1]); else a ParameterError."""
    from atomsieve.errors import ParameterError

    try:
        value = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        value = None
    if isinstance(value, float) and math.isfinite(value) and 0 < value <= 1:
        return value
    if isinstance(value, int) and 1 <= value <= MAX_COUNT:
        return value
    raise ParameterError(
        f"{option} {text!r}: expected a count from 1 to {MAX_COUNT:,} or a fraction in (0, 1]"
    )
