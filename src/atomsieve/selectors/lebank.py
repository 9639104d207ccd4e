"""Local-environment-bank selection (Li, Zhou, Singh, Pei, Henkelman, Li, J. Chem. Phys. 160, 074109 (2024)).

A structure is selected when one of its atoms has a fingerprint farther than the element's threshold
from every fingerprint already in the bank; that fingerprint then joins the bank. See
:mod:`atomsieve.selectors.lebank_engines` for the two engines that compute it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback
from atomsieve.selectors.bank import EnvironmentBank
from atomsieve.selectors.base import SelectionResult, Selector
from atomsieve.selectors.lebank_engines import fast_engine, reference_engine

ENGINES = ("fast", "reference")
INITS = ("random", "empty")


def normalise_thresholds(thresholds) -> dict[str, float] | float:
    """``{symbol: T}`` from a mapping keyed by symbols or atomic numbers, or one float for all elements."""
    if isinstance(thresholds, (int, float, np.integer, np.floating)) and not isinstance(thresholds, bool):
        value = float(thresholds)
        _check_threshold("all elements", value)
        return value
    if not isinstance(thresholds, Mapping) or not thresholds:
        raise ParameterError(
            f"thresholds must be a mapping like {{'Ge': 0.275}} or one number; got {thresholds!r}"
        )
    out: dict[str, float] = {}
    for key, value in thresholds.items():
        if isinstance(key, (int, np.integer)) and 0 < int(key) < len(chemical_symbols):
            symbol = chemical_symbols[int(key)]
        elif isinstance(key, str) and key in atomic_numbers:
            symbol = key
        else:
            raise ParameterError(f"thresholds: {key!r} is not a chemical symbol or atomic number")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"threshold of {symbol} must be a number; got {value!r}") from None
        _check_threshold(symbol, value)
        out[symbol] = value
    return out


def _check_threshold(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ParameterError(f"threshold of {name} must be a finite number >= 0; got {value}")


def thresholds_for(thresholds: dict[str, float] | float, elements: list[str]) -> dict[str, float]:
    """One threshold per element of ``elements``; error naming the elements without one."""
    if isinstance(thresholds, float):
        return {e: thresholds for e in elements}
    missing = [e for e in elements if e not in thresholds]
    if missing:
        raise ParameterError(
            f"no threshold for element(s) {', '.join(missing)} present in the data; "
            f"thresholds given for {', '.join(thresholds) or 'none'}; data has {', '.join(elements)}"
        )
    return {e: thresholds[e] for e in elements}


def visiting_order(features: AtomicFeatures, structure_order: np.ndarray) -> np.ndarray:
    """Row indices of ``features`` visited structure by structure (in ``structure_order``), then
    atom by atom within each structure."""
    rank = np.empty(features.n_structures, dtype=np.int64)
    rank[structure_order] = np.arange(len(structure_order))
    return np.lexsort((features.atom_index, rank[features.structure]))


class LEBank(Selector):
    """Local-environment-bank selection of structures.

    Parameters
    ----------
    thresholds : dict or float
        Fingerprint-distance threshold per element (symbols or atomic numbers as keys), in the units
        of the fingerprints (dimensionless for min-max scaled ones); one number applies to every
        element. An atom joins the bank when it is *strictly* farther than its element's threshold
        from every bank vector of its element.
    seed : int
        Seeds the initial bank vector (``init="random"``) and the visiting order (``shuffle=True``).
    shuffle : bool
        Visit structures in a seeded random order instead of dataset order.
    init : {"random", "empty"}
        ``"random"`` starts the bank with one fingerprint drawn at random from the data (its structure
        is selected first), as published; ``"empty"`` starts with no vector, so the first structure
        visited is selected. When :meth:`fit` is given a non-empty ``bank``, no vector is drawn.
    engine : {"fast", "reference"}
        ``"fast"``: exact engine with the reference's answer (a compiled, indexed loop on the CPU,
        batched on CUDA); ``"reference"``: the plain per-atom loop.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``; used by the fast engine.
    progress, should_stop : callable, optional
        Taken as every selector takes them (see :class:`~atomsieve.selectors.base.Selector`); one
        fit or :meth:`partial_fit` is one step, with nothing to report or poll (a stream of
        :meth:`partial_fit` calls, like :func:`~atomsieve.selectors.streaming.lebank_stream`, reports
        and polls between batches).

    Attributes
    ----------
    selected_ : ndarray of int
        Structure indices in the order they were selected.
    bank_ : EnvironmentBank
        The bank after the fit (the given bank's vectors first, then the new ones, in joining order).
    bank_rows_ : ndarray of int
        Rows of the fitted features (into ``features.values``) whose fingerprints joined the bank in
        this fit, in joining order: the last ``new_vectors_`` vectors of ``bank_``
        (``EnvironmentBank.from_rows(features, bank_rows_)`` rebuilds them).
    new_vectors_ : int
        Vectors this fit added to the bank.
    n_selected_atoms_ : int
        Atoms in the selected structures.
    seconds_ : float
        Wall time of the selection.

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> X = np.array([[0.0], [0.05], [1.0], [0.02], [2.0]])
    >>> f = AtomicFeatures(X, species=["Ge"] * 5, structure=[0, 0, 1, 2, 3])
    >>> sel = LEBank(thresholds={"Ge": 0.5}, init="empty").fit(f)
    >>> sel.selected_.tolist(), len(sel.bank_)
    ([0, 1, 3], 3)
    """

    name = "lebank"

    def __init__(
        self,
        thresholds: dict | float = 0.275,
        seed: int | None = 0,
        shuffle: bool = False,
        init: str = "random",
        engine: str = "fast",
        device: str = "auto",
        *,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.thresholds = thresholds
        self.seed = seed
        self.shuffle = shuffle
        self.init = init
        self.engine = engine
        self.device = device
        self.progress = progress
        self.should_stop = should_stop

    def _validate(self) -> dict[str, float] | float:
        if self.engine not in ENGINES:
            raise ParameterError(f"engine must be one of {ENGINES}; got {self.engine!r}")
        if self.init not in INITS:
            raise ParameterError(f"init must be one of {INITS}; got {self.init!r}")
        return normalise_thresholds(self.thresholds)

    def _select(self, features: AtomicFeatures, bank: EnvironmentBank | None = None) -> np.ndarray:
        thresholds = thresholds_for(self._validate(), features.elements)
        if bank is None:
            bank = EnvironmentBank.empty(features.n_features, params=features.params, scaler=features.scaler)
        elif not isinstance(bank, EnvironmentBank):
            raise ParameterError(f"bank must be an EnvironmentBank; got {type(bank).__name__}")
        else:
            bank.check_compatible(features)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(features.n_structures) if self.shuffle else np.arange(features.n_structures)
        rows = visiting_order(features, order)
        values = np.ascontiguousarray(features.values[rows], dtype=np.float64)
        species = features.species[rows]

        initial = {int(z): bank.vectors[bank.species == z] for z in np.unique(bank.species)}
        seed_row = None
        if len(bank) == 0 and self.init == "random":
            seed_row = int(rng.integers(features.n_atoms))  # a row of features
            z = int(features.species[seed_row])
            initial[z] = features.values[seed_row][None, :].astype(np.float64)

        by_z = {atomic_numbers[e]: t for e, t in thresholds.items()}
        if self.engine == "reference":
            joined = reference_engine(values, species, by_z, initial)
        else:
            joined = fast_engine(values, species, by_z, initial, device=self.device)

        new_rows = rows[joined]
        if seed_row is not None:
            new_rows = np.concatenate([[seed_row], new_rows])
        structures = features.structure[new_rows]
        _, first = np.unique(structures, return_index=True)
        selected = structures[np.sort(first)]

        added = EnvironmentBank.from_rows(features, new_rows, thresholds)
        self.bank_ = bank.merge(added) if len(bank) else added
        if len(bank):
            self.bank_.thresholds = {**bank.thresholds, **thresholds}
        self.bank_rows_ = new_rows
        self.new_vectors_ = len(new_rows)
        self.thresholds_ = thresholds
        return selected

    def partial_fit(self, features: AtomicFeatures, bank: EnvironmentBank | None = None) -> LEBank:
        """Screen one more batch of ``features`` against the bank built so far; returns ``self``.

        For data met in batches, such as the chunks of a
        :class:`~atomsieve.descriptors.store.FeatureStore` (structure indices global across batches,
        each structure in one batch). A call with ``bank=``, or the first call on an unfitted
        selector, starts as :meth:`fit` does (from ``bank``, else as ``init`` says, on this batch);
        every other call goes on from ``bank_``. Since the bank only grows and every decision depends
        only on the bank so far, batches in dataset order give one fit's answer once the first starts
        from the same bank (:func:`~atomsieve.selectors.streaming.lebank_stream` draws the random
        initial vector over all batches for that).

        ``selected_`` gathers the structures of every batch since the start (in selection order, each
        once), ``n_selected_atoms_``, ``seconds_`` and ``new_vectors_`` add up over the batches,
        ``bank_`` is the whole bank and ``bank_rows_`` are rows of this batch.

        Examples
        --------
        >>> from atomsieve.descriptors import AtomicFeatures
        >>> X = np.array([[0.0], [0.05], [1.0], [0.02], [2.0]])
        >>> whole = AtomicFeatures(X, species=["Ge"] * 5, structure=[0, 0, 1, 2, 3])
        >>> halves = [AtomicFeatures(X[:3], ["Ge"] * 3, [0, 0, 1], n_structures=4),
        ...           AtomicFeatures(X[3:], ["Ge"] * 2, [2, 3], n_structures=4)]
        >>> sel = LEBank({"Ge": 0.5}, init="empty")
        >>> for half in halves:
        ...     _ = sel.partial_fit(half)
        >>> sel.selected_.tolist() == LEBank({"Ge": 0.5}, init="empty").fit(whole).selected_.tolist()
        True
        """
        going_on = bank is None and hasattr(self, "bank_")
        if not going_on:
            return self.fit(features, bank=bank)
        before = self.selected_, self.n_selected_atoms_, self.seconds_, self.new_vectors_
        self.fit(features, bank=self.bank_)
        selected, atoms, seconds, vectors = before
        new = self.selected_[~np.isin(self.selected_, selected)]
        self.selected_ = np.concatenate([selected, new])
        self.n_selected_atoms_ = atoms + int(features.atom_counts[new].sum())
        self.seconds_ += seconds
        self.new_vectors_ += vectors
        self.result_ = SelectionResult(
            self.name, self.selected_, self.seconds_, self.n_selected_atoms_, self._extra()
        )
        return self

    def _extra(self) -> dict:
        return {
            "bank_size": len(self.bank_),
            "new_vectors": self.new_vectors_,
            "thresholds": self.thresholds_,
        }
