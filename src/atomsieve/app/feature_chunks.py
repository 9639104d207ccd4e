"""In-memory fingerprints seen through the feature store's reading interface, so that the dashboard's
LE-bank fits on large datasets run the streamed engine (:func:`atomsieve.selectors.streaming.lebank_stream`,
the command line's exact chunk-by-chunk screening) instead of one whole-array fit.

A whole-array fast-engine fit on 5 × 10^6 atoms held 6–8 GB of temporaries (the server peaked at
15 GiB with two fits at once); chunks of :data:`CHUNK_ATOMS` atoms keep a fit within a few hundred MB,
with the same selection and bank.
"""

from __future__ import annotations

import time

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures

#: Above this many atoms the dashboard fits LE-bank chunk by chunk.
STREAM_FIT_ATOMS = 500_000
#: Atoms per chunk (the streamed engine's default).
CHUNK_ATOMS = 50_000


def _passing_through(scaler):
    """A copy of ``scaler`` (the same class and state, so banks and chunks stay compatible) whose
    ``transform`` passes its already scaled input through."""
    import copy
    import types

    out = copy.copy(scaler) if scaler is not None else types.SimpleNamespace()
    out.transform = lambda values, species: np.asarray(values)
    return out


class ScaledChunks:
    """``features`` (scaled, structures in order) with the attributes and ``chunks`` that
    :func:`~atomsieve.selectors.streaming.lebank_stream` reads from a ``FeatureStore``."""

    def __init__(self, features: AtomicFeatures):
        self.features = features
        self.values, self.species, self.structure = features.values, features.species, features.structure
        self.n_atoms, self.n_structures = features.n_atoms, features.n_structures
        self.params = features.params
        self.scaler = _passing_through(features.scaler)
        self.offsets = np.concatenate([[0], np.cumsum(features.atom_counts)]).astype(np.int64)

    @staticmethod
    def applies(features: AtomicFeatures) -> bool:
        """Whether the rows are in structure order (every structure's atoms together, in order)."""
        s = features.structure
        return len(s) == 0 or bool(np.all(s[1:] >= s[:-1]))

    def chunks(self, max_atoms: int = CHUNK_ATOMS, scaler=None):
        f = self.features
        first = 0
        while first < self.n_structures:
            stop = int(np.searchsorted(self.offsets, self.offsets[first] + max_atoms, side="right")) - 1
            stop = min(max(stop, first + 1), self.n_structures)
            a, b = int(self.offsets[first]), int(self.offsets[stop])
            yield AtomicFeatures(values=f.values[a:b], species=f.species[a:b], structure=f.structure[a:b],
                                 params=f.params, scaler=f.scaler, feature_names=f.feature_names,
                                 n_structures=self.n_structures)
            first = stop


def fit_in_chunks(features: AtomicFeatures, thresholds: dict[str, float], seed: int) -> dict:
    """LE-bank over ``features`` a chunk at a time: ``selected`` (structure indices in selection order),
    ``bank_rows`` (rows of ``features``), ``bank``, ``n_atoms`` and ``seconds`` — the answer of
    ``LEBank(thresholds, seed=seed).fit(features)``.

    >>> from atomsieve.app.features_state import features_for
    >>> from atomsieve.datasets import load_default
    >>> from atomsieve.selectors import LEBank
    >>> feats = features_for(load_default("test"))
    >>> out = fit_in_chunks(feats, {"Ge": 0.3}, 0)
    >>> out["selected"].tolist() == LEBank({"Ge": 0.3}, seed=0).fit(feats).selected_.tolist()
    True
    """
    from atomsieve.selectors.streaming import lebank_stream

    start = time.perf_counter()
    store = ScaledChunks(features)
    selected, bank = lebank_stream(store, dict(thresholds), seed=seed, device="cpu", max_atoms=CHUNK_ATOMS)
    selected = np.asarray(selected, dtype=np.int64)
    rows = store.offsets[np.asarray(bank.source_structure, dtype=np.int64)] + np.asarray(bank.source_atom)
    return {"selected": selected, "bank_rows": rows, "bank": bank,
            "n_atoms": int(features.atom_counts[selected].sum()), "seconds": time.perf_counter() - start}
