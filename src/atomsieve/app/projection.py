"""The environment map's plane: a 2-D PCA of per-atom fingerprints in bounded memory. No widgets.

Up to :data:`PCA_FIT_ATOMS` atoms the PCA is fitted on every atom, as scikit-learn's ``PCA.fit``
does. Above, it is fitted on a seeded sample of that many atoms (the first two axes of 40
fingerprints are settled long before 2 × 10^5 samples), and every atom is projected a chunk at a
time, so no centred copy of the whole fingerprint matrix (1.6 GB at 5 × 10^6 atoms) is made.
"""

from __future__ import annotations

import numpy as np

#: Atoms the PCA is fitted on; above this, a seeded sample of this many.
PCA_FIT_ATOMS = 200_000
#: Atoms projected per chunk.
PROJECT_CHUNK = 250_000


def plane_projection(features, *, fit_atoms: int | None = None, seed: int = 0) -> dict:
    """PCA (2 components) of ``features.values``: the fitted ``pca``, ``atoms`` (n_atoms, 2) and
    ``structures`` (the structure means, n_structures × 2) coordinates and ``explained`` variance
    ratios; ``sample``: atoms the fit saw (None: all).

    >>> from atomsieve.descriptors import AtomicFeatures
    >>> X = np.random.default_rng(0).normal(size=(1000, 5))
    >>> f = AtomicFeatures(values=X, species=["H"] * 1000, structure=np.repeat(np.arange(100), 10))
    >>> full, sampled = plane_projection(f), plane_projection(f, fit_atoms=500)
    >>> full["atoms"].shape, full["sample"], sampled["sample"]
    ((1000, 2), None, 500)
    """
    from sklearn.decomposition import PCA

    fit_atoms = PCA_FIT_ATOMS if fit_atoms is None else int(fit_atoms)
    values = features.values
    n = len(values)
    if n <= fit_atoms:
        pca = PCA(n_components=2, random_state=0).fit(values)
        atoms = pca.transform(values)
        sample = None
    else:
        rows = np.sort(np.random.default_rng(seed).choice(n, fit_atoms, replace=False))
        pca = PCA(n_components=2, random_state=0).fit(values[rows])
        atoms = np.empty((n, 2), dtype=np.float64)
        for start in range(0, n, PROJECT_CHUNK):
            atoms[start:start + PROJECT_CHUNK] = pca.transform(values[start:start + PROJECT_CHUNK])
        sample = fit_atoms
    return {"pca": pca, "atoms": atoms, "structures": pca.transform(features.structure_means()),
            "explained": pca.explained_variance_ratio_.tolist(), "sample": sample}
