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

from atomsieve.errors import ParameterError

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


# -- options several verbs share (select, sweep, chemiscope, select-features) ----------------------
def parse_thresholds(items: list[str] | None) -> dict[str, float] | float | None:
    """``["Ge=0.275", "H=0.1"]`` -> ``{"Ge": 0.275, "H": 0.1}``; ``["0.2"]`` -> ``0.2`` (all elements)."""
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        try:
            return float(items[0])
        except ValueError:
            raise ParameterError(
                f"--threshold {items[0]!r}: expected ELEMENT=VALUE (e.g. Ge=0.275) or a number"
            ) from None
    out: dict[str, float] = {}
    for item in items:
        symbol, sep, value = item.partition("=")
        if not sep or not symbol.strip():
            raise ParameterError(f"--threshold {item!r}: expected ELEMENT=VALUE, e.g. Ge=0.275")
        try:
            out[symbol.strip()] = float(value)
        except ValueError:
            raise ParameterError(f"--threshold {item!r}: {value!r} is not a number") from None
    return out


def parse_budget(text: str | None) -> int | float | None:
    """``"1000"`` -> 1000; ``"20%"`` -> 0.2."""
    if text is None:
        return None
    text = text.strip()
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100.0
            if not 0 < value < 1:
                raise ValueError
            return value
        value = int(text)
        if value < 1:
            raise ValueError
        return value
    except ValueError:
        raise ParameterError(
            f"--budget {text!r}: expected a whole number >= 1 or a percentage like 20%"
        ) from None


def add_feature_options(p: argparse.ArgumentParser) -> None:
    """Options that say how fingerprints are obtained (shared with ``sweep``)."""
    from atomsieve.descriptors import PRESETS

    p.add_argument(
        "--features",
        metavar="FILE.npz",
        default=None,
        help="precomputed fingerprints (atomsieve featurize) instead of computing them",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="symmetry-function set (default: li_single_element for one element, else li_two_element)",
    )
    p.add_argument("--cutoff", type=number(0, 100, low_open=True), default=None,
                   help="cutoff radius, Å (default: the preset's)")
    p.add_argument("--device", type=device, default="auto", help="auto (default), cpu or cuda")
    p.add_argument(
        "--cache",
        action="store_true",
        help="reuse/store fingerprints in the feature cache ($ATOMSIEVE_CACHE_DIR or ~/.cache/atomsieve)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress bars (default: when stderr is a terminal)",
    )


def add_method_options(p: argparse.ArgumentParser, threshold_help: str) -> None:
    """--method, --n and --threshold: how ``select`` and ``chemiscope`` choose structures."""
    from atomsieve.selectors.registry import METHODS, OPTIONAL_METHODS

    p.add_argument(
        "--method",
        choices=METHODS + OPTIONAL_METHODS,
        default="lebank",
        help="selection method (default lebank)",
    )
    p.add_argument(
        "--n",
        default=None,
        metavar="N",
        help="structures to pick for methods other than lebank (a count, or a fraction like 0.2)",
    )
    p.add_argument(
        "--threshold",
        action="append",
        metavar="EL=T",
        help=threshold_help,
    )
