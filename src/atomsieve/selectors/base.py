"""The one selector interface: scikit-learn style estimators that pick structures."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback


@dataclass
class SelectionResult:
    """What every selector produces.

    Attributes
    ----------
    method : str
        Name of the selector.
    selected : ndarray of int
        Structure indices, in selection order.
    seconds : float
        Wall time of the selection (features already computed).
    n_selected_atoms : int
        Atoms in the selected structures.
    extra : dict
        Method-specific results (e.g. the relative norm deviation of CUR).
    """

    method: str
    selected: np.ndarray
    seconds: float
    n_selected_atoms: int
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_count(n_to_select: int | float, n_total: int, what: str = "structures") -> int:
    """An integer count from an int or a fraction in (0, 1].

    >>> resolve_count(0.25, 100), resolve_count(7, 100)
    (25, 7)
    """
    if isinstance(n_to_select, (bool, np.bool_)):
        raise ParameterError(f"n_to_select must be a count or a fraction; got {n_to_select!r}")
    if isinstance(n_to_select, (float, np.floating)) and not float(n_to_select).is_integer():
        if not 0 < n_to_select <= 1:
            raise ParameterError(f"a fractional n_to_select must lie in (0, 1]; got {n_to_select}")
        return max(1, int(round(n_to_select * n_total)))
    n = int(n_to_select)
    if n < 1:
        raise ParameterError(f"n_to_select must be at least 1; got {n}")
    if n > n_total:
        raise ParameterError(f"n_to_select={n} is larger than the {n_total} {what} available")
    return n


class Selector:
    """Base of all structure selectors.

    Subclasses store their arguments in ``__init__`` and implement
    ``_select(features, **fit_kwargs) -> structure indices in selection order``; they
    may set more trailing-underscore attributes there. ``fit`` validates the
    input, times the call and sets ``selected_``, ``seconds_``,
    ``n_selected_atoms_`` and ``result_``.

    Every selector's constructor takes the same two callbacks, keyword-only: ``progress(done,
    total, label)`` and ``should_stop()``, polled between the steps of a selection; when it returns
    True the selection ends early with what it has chosen so far (a greedy method: its picks so far).
    A selection made in one step reports that step and has nothing to poll.
    """

    name = "selector"
    #: The label array ``fit`` needs (``fit(features, dataset=ds)`` or ``fit(features, <fit_label>=...)``).
    fit_label: str | None = None
    #: Whether ``fit`` reads the structures themselves (``fit(features, dataset=ds)``).
    fit_structures = False
    progress: ProgressCallback | None = None
    should_stop: Callable[[], bool] | None = None

    def _select(self, features: AtomicFeatures, **kwargs) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _extra(self) -> dict[str, Any]:
        return {}

    def fit(self, features: AtomicFeatures, **kwargs) -> Selector:
        """Select structures from ``features``; returns ``self``."""
        if not isinstance(features, AtomicFeatures):
            raise ParameterError(
                f"{type(self).__name__}.fit needs AtomicFeatures; got {type(features).__name__} "
                "(build one with AtomicFeatures(values=..., species=..., structure=...))"
            )
        if features.n_atoms == 0:
            raise ParameterError(f"{type(self).__name__}.fit: the features hold no atoms")
        start = time.perf_counter()
        selected = np.asarray(self._select(features, **kwargs), dtype=np.int64)
        self.seconds_ = time.perf_counter() - start
        self.selected_ = selected
        self.n_selected_atoms_ = int(features.atom_counts[selected].sum()) if selected.size else 0
        self.result_ = SelectionResult(
            self.name, selected, self.seconds_, self.n_selected_atoms_, self._extra()
        )
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({args})"
