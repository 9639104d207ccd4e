"""The one greedy selection loop, shared by FPS, hierarchical FPS, kernel FPS and CUR.

A greedy method picks one item after another; each pick is the best one by a score that the
earlier picks change. :func:`greedy_select` owns everything the methods have in common: the
starting picks (:func:`first_points`), how many to pick, the stopping rule, progress reports and
cancellation (``should_stop``). A method supplies a :class:`GreedyScore`: which item is best now
(and its score), what a pick changes, and when its own score says to stop. This is the shape of
scikit-matter's ``GreedySelector``, where FPS and CUR supply a score and an update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback, report

FirstPoint = str | int | Sequence[int]


def first_points(first: FirstPoint, n: int, seed: int | None, spread: Callable[[], np.ndarray]) -> list[int]:
    """Index (or indices) a farthest-point search starts from, among ``n`` items.

    ``"farthest-from-mean"``: the item with the largest ``spread()`` (its squared distance from the
    mean of all items; deterministic); ``"random"``: one item drawn with ``seed``; an int or a list of
    ints: those items.

    >>> first_points("farthest-from-mean", 3, 0, lambda: np.array([1.0, 4.0, 2.0]))
    [1]
    >>> first_points([2, 0], 3, 0, None)
    [2, 0]
    """
    if isinstance(first, str):
        if first == "farthest-from-mean":
            return [int(np.argmax(spread()))]
        if first == "random":
            return [int(np.random.default_rng(seed).integers(n))]
        raise ParameterError(
            f"first={first!r}: use 'farthest-from-mean', 'random', an index or a list of indices"
        )
    chosen = np.atleast_1d(np.asarray(first))
    if chosen.dtype.kind not in "iu" or chosen.ndim != 1 or chosen.size == 0:
        raise ParameterError(f"first={first!r}: indices must be integers")
    if chosen.min() < 0 or chosen.max() >= n:
        raise ParameterError(f"first={first!r}: indices must lie in [0, {n})")
    if len(np.unique(chosen)) != len(chosen):
        raise ParameterError(f"first={first!r}: indices repeat")
    return [int(i) for i in chosen]


class GreedyScore:
    """What one greedy method supplies to :func:`greedy_select`.

    ``best()`` gives the item to pick now (never one picked before) and its score; ``update(pick,
    step)`` takes a pick into account (starting picks included); ``stop(score)`` says whether the
    method's own stopping score ends the search before the pick ``best()`` just proposed.
    """

    #: The label of progress reports.
    label = "greedy selection"

    def best(self) -> tuple[int, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, pick: int, step: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self, score: float) -> bool:
        return False


@dataclass
class GreedyRun:
    """What :func:`greedy_select` gives: the picks in order, the score of each (``inf`` for the
    starting picks) and whether ``should_stop`` cut the search short."""

    order: np.ndarray
    scores: np.ndarray
    stopped: bool


def greedy_select(
    score: GreedyScore,
    count: int,
    *,
    initial: Sequence[int] = (),
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> GreedyRun:
    """Pick up to ``count`` items, one after another, by ``score``.

    Parameters
    ----------
    score : GreedyScore
        The method: its best item, its update, its stopping score.
    count : int
        Picks wanted (the starting ones included).
    initial : sequence of int
        Starting picks, taken in this order before the score is asked.
    progress : callable, optional
        ``progress(done, count, score.label)`` every ``count // 100`` picks and at the last one.
    should_stop : callable, optional
        Polled before every pick after the first; when it returns True the search ends and keeps
        the picks so far (``stopped`` is then True).

    Examples
    --------
    >>> class Largest(GreedyScore):
    ...     def __init__(self, values):
    ...         self.values = np.array(values, dtype=float)
    ...     def best(self):
    ...         i = int(np.argmax(self.values))
    ...         return i, float(self.values[i])
    ...     def update(self, pick, step):
    ...         self.values[pick] = -np.inf
    >>> run = greedy_select(Largest([3.0, 9.0, 5.0]), 2, initial=[0])
    >>> run.order.tolist(), run.scores.tolist()
    ([0, 1], [inf, 9.0])
    """
    initial = list(initial)
    if len(initial) > count:
        raise ParameterError(
            f"first gives {len(initial)} starting points but only {count} are to be selected"
        )
    order: list[int] = []
    scores: list[float] = []
    every = max(1, count // 100)
    stopped = False
    for step in range(count):
        if step and should_stop is not None and should_stop():
            stopped = True
            break
        if step < len(initial):
            pick, value = initial[step], np.inf
        else:
            pick, value = score.best()
            if score.stop(value):
                break
        score.update(pick, step)
        order.append(pick)
        scores.append(value)
        if progress is not None and ((step + 1) % every == 0 or step + 1 == count):
            report(progress, step + 1, count, score.label)
    return GreedyRun(np.array(order, dtype=np.int64), np.array(scores, dtype=np.float64), stopped)
