"""Per-element, per-function feature scaling, fitted on a dataset and serialisable.

Every scaler has ``fit(values, species)``, ``transform(values, species)``, ``to_dict()``,
``save(path)`` and the module functions :func:`scaler_from_dict` / :func:`load_scaler`.
Statistics are kept per element (row = element, column = feature), so an H atom is scaled
with the H atoms' ranges and an O atom with the O atoms'.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from atomsieve.errors import CacheError, ParameterError

#: Rows transformed at a time (the temporaries of one chunk, not of 5e6 atoms: 9 GB there).
TRANSFORM_ROWS = 65_536


class _ElementwiseScaler:
    kind = ""

    def __init__(self):
        self.elements_: list[int] | None = None

    def fit(self, values: np.ndarray, species: np.ndarray):
        values = np.asarray(values, dtype=np.float64)
        species = np.asarray(species, dtype=np.int64)
        self.elements_ = sorted(set(species.tolist()))
        # one element: no copy of the rows (1.6 GB of 5e6 atoms' fingerprints)
        stats = [self._stats(values if len(self.elements_) == 1 else values[species == z])
                 for z in self.elements_]
        self._set_stats([np.stack(s) for s in zip(*stats)] if stats else [])
        return self

    def fit_transform(self, values, species) -> np.ndarray:
        return self.fit(values, species).transform(values, species)

    def _rows(self, species: np.ndarray) -> np.ndarray:
        if self.elements_ is None:
            raise ParameterError(f"{type(self).__name__} is not fitted; call fit(values, species) first")
        known = np.asarray(self.elements_, dtype=np.int64)
        species = np.asarray(species, dtype=np.int64).reshape(-1)
        rows = np.clip(np.searchsorted(known, species), 0, max(len(known) - 1, 0))
        unseen = species[known[rows] != species] if len(known) else species
        if len(unseen):
            raise ParameterError(
                f"element {chemical_symbols[int(unseen[0])]} was not seen when the scaler was fitted "
                f"(fitted on {[chemical_symbols[z] for z in self.elements_]})"
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state, e.g. for saving with a bank."""
        out = {"kind": self.kind, "elements": self.elements_}
        out.update({k: None if v is None else np.asarray(v).tolist() for k, v in self._arrays().items()})
        return out

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write :meth:`to_dict` as JSON (atomic)."""
        from atomsieve.data import atomic_path

        with atomic_path(path, overwrite) as tmp:
            with open(tmp, "w") as fh:
                json.dump(self.to_dict(), fh)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        if self.elements_ is None:
            return f"{type(self).__name__}(unfitted)"
        fitted = f"elements={[chemical_symbols[z] for z in self.elements_]}"
        return f"{type(self).__name__}({fitted})"


class MinMaxScaler(_ElementwiseScaler):
    """Per element and feature: ``(x − min) / (max − min)``, so the fitted data span [0, 1].

    Features that are constant for an element map to 0. New data may fall outside [0, 1].

    >>> import numpy as np
    >>> s = MinMaxScaler().fit(np.array([[0.0], [2.0], [5.0]]), [1, 1, 8])
    >>> s.transform(np.array([[1.0], [5.0]]), [1, 8]).ravel().tolist()
    [0.5, 0.0]
    """

    kind = "minmax"

    def __init__(self):
        super().__init__()
        self.min_ = self.max_ = None

    @staticmethod
    def _stats(x):
        return x.min(axis=0), x.max(axis=0)

    def _set_stats(self, stats):
        self.min_, self.max_ = stats if stats else (np.zeros((0, 0)), np.zeros((0, 0)))

    def _arrays(self):
        return {"min": self.min_, "max": self.max_}

    def transform(self, values, species) -> np.ndarray:
        rows = self._rows(species)
        values = np.asarray(values, dtype=np.float64)
        out = np.empty(np.broadcast_shapes(values.shape, (len(rows), self.min_.shape[1])))
        for a in range(0, len(rows), TRANSFORM_ROWS):  # a few row-sized temporaries, not the whole
            b = a + TRANSFORM_ROWS
            lo, hi = self.min_[rows[a:b]], self.max_[rows[a:b]]
            span = hi - lo
            safe = np.where(span > 0, span, 1.0)
            out[a:b] = np.where(span > 0, (values[a:b] - lo) / safe, 0.0)
        return out


class StandardScaler(_ElementwiseScaler):
    """Per element and feature: ``(x − mean) / std`` (std of a constant feature taken as 1).

    >>> import numpy as np
    >>> StandardScaler().fit_transform(np.array([[1.0], [3.0]]), [6, 6]).ravel().tolist()
    [-1.0, 1.0]
    """

    kind = "standard"

    def __init__(self):
        super().__init__()
        self.mean_ = self.scale_ = None

    @staticmethod
    def _stats(x):
        std = x.std(axis=0)
        return x.mean(axis=0), np.where(std > 0, std, 1.0)

    def _set_stats(self, stats):
        self.mean_, self.scale_ = stats if stats else (np.zeros((0, 0)), np.zeros((0, 0)))

    def _arrays(self):
        return {"mean": self.mean_, "scale": self.scale_}

    def transform(self, values, species) -> np.ndarray:
        rows = self._rows(species)
        return (np.asarray(values, dtype=np.float64) - self.mean_[rows]) / self.scale_[rows]


class NoScaler(_ElementwiseScaler):
    """Leaves features as they are.

    >>> NoScaler().fit_transform([[2.0]], [1]).tolist()
    [[2.0]]
    """

    kind = "none"

    @staticmethod
    def _stats(x):
        return ()

    def _set_stats(self, stats):
        pass

    def _arrays(self):
        return {}

    def transform(self, values, species) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)


SCALERS = {"minmax": MinMaxScaler, "standard": StandardScaler, "none": NoScaler}


def make_scaler(spec) -> tuple[Any, bool]:
    """A scaler from ``"minmax" | "standard" | "none" | None`` or a fitted scaler object;
    returns ``(scaler, needs_fit)``."""
    if spec is None:
        spec = "none"
    if isinstance(spec, str):
        if spec not in SCALERS:
            raise ParameterError(f"scaler must be one of {sorted(SCALERS)} or a fitted scaler; got {spec!r}")
        return SCALERS[spec](), spec != "none"
    if hasattr(spec, "transform") and hasattr(spec, "to_dict"):
        return spec, False
    raise ParameterError(
        f"scaler must be one of {sorted(SCALERS)} or a fitted scaler; got {type(spec).__name__}"
    )


def scaler_from_dict(state: dict) -> _ElementwiseScaler:
    """Inverse of ``to_dict()``.

    >>> import numpy as np
    >>> s = MinMaxScaler().fit(np.array([[0.0], [2.0]]), [1, 1])
    >>> scaler_from_dict(s.to_dict()) == s
    True
    """
    try:
        cls = SCALERS[state["kind"]]
        obj = cls()
        obj.elements_ = None if state["elements"] is None else [int(z) for z in state["elements"]]
        names = list(obj._arrays())
        if obj.elements_ is not None and names:
            obj._set_stats([np.asarray(state[k], dtype=np.float64) for k in names])
        return obj
    except (KeyError, TypeError, ValueError) as exc:
        raise CacheError(f"not a saved scaler ({type(exc).__name__}: {exc})") from None


def load_scaler(path: str | os.PathLike) -> _ElementwiseScaler:
    """Read a scaler written by ``save``."""
    try:
        with open(path) as fh:
            return scaler_from_dict(json.load(fh))
    except (OSError, json.JSONDecodeError) as exc:
        raise CacheError(f"{path}: cannot read scaler ({exc})") from None
