"""The novelty filter: never buy a parent label for an environment that is already labelled.

Before chunks are labelled, the central fingerprint of each candidate is screened against a
local-environment bank (:class:`atomsieve.selectors.LEBank`, Li et al., J. Chem. Phys. 160,
074109 (2024)) holding every labelled environment: all atoms of the initial cells and the centre
of every chunk bought so far. A candidate within ``threshold`` of a bank vector of its element
is skipped; the others join the bank in order of decreasing uncertainty, so two near-identical
candidates of the same iteration are not both bought either.

The fingerprints are the symmetry functions of the ensemble's descriptor, min–max scaled with a
scaler fitted once on the initial cells and then frozen, so one threshold means the same thing in
every iteration. The chunk's central fingerprint equals the target atom's when the descriptor
cutoff does not exceed the chunk cutoff (which :class:`~atomsieve.active.loop.NearsightedForceTraining`
checks), so candidates are fingerprinted in the target itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError


class NoveltyFilter:
    """Screens chunk centres against the bank of labelled environments.

    Parameters
    ----------
    threshold : float or None
        Fingerprint distance (scaled units) within which an environment counts as known; None
        lets every candidate through.

    Attributes
    ----------
    bank_ : EnvironmentBank
        Labelled environments after the last call.
    n_screened_, n_skipped_ : int
        Candidates seen and skipped over the filter's life.
    """

    def __init__(self, threshold: float | None = 0.01):
        self.threshold = threshold
        self.n_screened_ = 0
        self.n_skipped_ = 0

    def _features(self, descriptor, structures: Sequence[Atoms]) -> AtomicFeatures:
        return descriptor.compute(list(structures), scaler=self.scaler_, device="cpu")

    def _start(self, descriptor, initial: Sequence[Atoms], chunks: Sequence[Atoms]) -> None:
        from atomsieve.selectors import EnvironmentBank

        base = descriptor.compute(list(initial), scaler="minmax", device="cpu")
        self.scaler_ = base.scaler
        vectors, species = [base.values], [base.species]
        if chunks:
            centres = self._features(descriptor, chunks)
            first = np.concatenate([[0], np.cumsum(centres.atom_counts)[:-1]])
            vectors.append(centres.values[first])
            species.append(centres.species[first])
        values = np.concatenate(vectors)
        z = np.concatenate(species)
        n = len(values)
        self.bank_ = EnvironmentBank(values, z, np.arange(n), np.zeros(n, dtype=np.int64),
                                     params=base.params, scaler=self.scaler_)
        self.descriptor_ = descriptor

    def filter(self, descriptor, target: Atoms, atoms: Sequence[int], initial: Sequence[Atoms],
               chunks: Sequence[Atoms], limit: int | None = None) -> np.ndarray:
        """The entries of ``atoms`` (indices into ``target``, most uncertain first) worth labelling.

        ``descriptor`` computes fingerprints (``compute(structures, scaler=...)``); the bank is built
        on the first call from ``initial`` and ``chunks`` and grows with every accepted centre.
        ``limit``: keep at most this many, the first novel ones in order; candidates after the last
        one kept are neither screened nor added to the bank (so a skipped candidate is replaced by
        the next most uncertain one).
        """
        atoms = np.asarray(atoms, dtype=np.int64).reshape(-1)
        if self.threshold is None or atoms.size == 0:
            return atoms[:limit]
        if self.threshold < 0:
            raise ParameterError(f"novelty threshold must be non-negative; got {self.threshold}")
        if getattr(self, "descriptor_", None) is not descriptor:
            self._start(descriptor, initial, chunks)
        from atomsieve.selectors import LEBank

        target_features = self._features(descriptor, [target])
        elements = sorted(set(target.get_chemical_symbols()))
        selector = LEBank(thresholds={e: float(self.threshold) for e in elements}, init="empty")

        def screen(n: int) -> np.ndarray:
            """Screen the first ``n`` candidates in order; their novel positions, increasing."""
            candidates = AtomicFeatures(values=target_features.values[atoms[:n]],
                                        species=target.numbers[atoms[:n]], structure=np.arange(n),
                                        params=target_features.params, scaler=self.scaler_)
            selector.fit(candidates, bank=self.bank_)
            return np.sort(np.asarray(selector.selected_, dtype=np.int64))

        keep = screen(len(atoms))
        screened = len(atoms)
        if limit is not None and len(keep) > limit:
            # Selection is sequential, so the first ``limit`` novel candidates are the same when
            # screening stops after the last of them; screening again that far gives the bank
            # without the candidates that will not be bought.
            screened = int(keep[limit - 1]) + 1 if limit > 0 else 0
            keep = screen(screened) if screened else keep[:0]
        if screened:
            self.bank_ = selector.bank_
        self.n_screened_ += screened
        self.n_skipped_ += screened - len(keep)
        return atoms[keep]
