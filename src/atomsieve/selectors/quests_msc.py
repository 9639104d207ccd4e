"""QUESTS dataset compression (Schwalbe-Koda et al., Nat. Commun. 2025) as a selector: the peer method.

`QUESTS <https://github.com/dskoda/quests>`_ describes every atom by its sorted distances to the ``k``
nearest neighbours (and their mutual distances), scores each structure by the information entropy of its
environments, and compresses a dataset by a greedy minimum-set-cover ("msc"): start from the structure of
highest entropy, then repeatedly add the structure whose least-covered environment is most novel
(largest ``-log`` kernel sum to the chosen environments) plus its entropy. This module runs the
``quests`` package's own descriptor, entropy and ``msc`` unchanged; it is an optional extra
(``pip install 'atomsieve[quests]'``).

It uses the structures, not atomsieve's fingerprints: ``fit(features, dataset=ds)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback
from atomsieve.selectors.base import Selector, resolve_count
from atomsieve.selectors.structure_points import check_finite


def _quests():
    try:
        from quests.compression.fps import msc
        from quests.descriptor import get_descriptors
        from quests.entropy import entropy
    except ImportError:
        raise ParameterError(
            "method 'quests' needs the quests package: pip install 'atomsieve[quests]'"
        ) from None
    return get_descriptors, entropy, msc


class QUESTSCompression(Selector):
    """Structures chosen by QUESTS' minimum-set-cover compression.

    Parameters
    ----------
    n_to_select : int or float in (0, 1]
        Structures to pick.
    bandwidth : float
        Kernel bandwidth of the entropy and coverage, in QUESTS descriptor units (Å⁻¹);
        QUESTS' default 0.015.
    k : int
        Neighbours per atom in the descriptor (QUESTS' default 32).
    cutoff : float
        Neighbour search radius in Å (QUESTS' default 5).
    batch_size : int
        Rows per kernel block (memory, not results).
    progress, should_stop : callable, optional
        Taken as every selector takes them (see :class:`~atomsieve.selectors.base.Selector`); this
        selection is one step, with nothing to report or poll.

    Attributes
    ----------
    entropies_ : ndarray of shape (n_structures,)
        QUESTS entropy of each structure's environments (nats).

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.datasets import load_default
    >>> ds = load_default("test")
    >>> f = AtomicFeatures(values=np.zeros((ds.n_atoms, 1)), species=ds.numbers,
    ...                    structure=np.repeat(np.arange(len(ds)), ds.atom_counts))
    >>> sel = QUESTSCompression(4).fit(f, dataset=ds)
    >>> len(sel.selected_), sel.selected_[0] == sel.entropies_.argmax()
    (4, np.True_)
    """

    name = "quests"
    fit_structures = True

    def __init__(
        self,
        n_to_select: int | float,
        *,
        bandwidth: float = 0.015,
        k: int = 32,
        cutoff: float = 5.0,
        batch_size: int = 20000,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.n_to_select = n_to_select
        self.bandwidth = bandwidth
        self.k = k
        self.cutoff = cutoff
        self.batch_size = batch_size
        self.progress = progress
        self.should_stop = should_stop

    def _check_params(self) -> None:
        if not (np.isfinite(self.bandwidth) and self.bandwidth > 0):
            raise ParameterError(f"quests bandwidth must be a finite number > 0; got {self.bandwidth}")
        if not (np.isfinite(self.cutoff) and self.cutoff > 0):
            raise ParameterError(f"quests cutoff must be a finite number of Å > 0; got {self.cutoff}")
        whole = all(int(v) == v and v >= 1 for v in (self.k, self.batch_size))
        if not whole:
            raise ParameterError(f"quests k and batch_size must be whole numbers >= 1; got {self.k}, "
                                 f"{self.batch_size}")

    def _select(self, features: AtomicFeatures, dataset=None) -> np.ndarray:
        check_finite(features.values, "features.values")
        self._check_params()
        if dataset is None:
            raise ParameterError("method 'quests' computes its own descriptor from the structures: "
                                 "call fit(features, dataset=the structures)")
        if len(dataset) != features.n_structures or dataset.n_atoms != features.n_atoms:
            raise ParameterError(
                f"quests: the dataset holds {dataset.n_atoms} atoms in {len(dataset)} structures, the "
                f"features {features.n_atoms} in {features.n_structures}"
            )
        count = resolve_count(self.n_to_select, features.n_structures)
        get_descriptors, entropy, msc = _quests()
        frames = list(dataset.atoms)
        described = get_descriptors(frames, k=int(self.k), cutoff=float(self.cutoff))
        descriptors = np.split(described, np.cumsum([len(a) for a in frames])[:-1])
        self.entropies_ = np.array(
            [entropy(x, h=self.bandwidth, batch_size=int(self.batch_size)) for x in descriptors]
        )
        chosen = msc(descriptors, self.entropies_, count, h=self.bandwidth, batch_size=int(self.batch_size))
        return np.asarray(chosen, dtype=np.int64)
