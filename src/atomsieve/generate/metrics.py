"""How diverse are generated configurations: entropy per configuration, per-descriptor histograms,
and the train-on-A / test-on-B nearest-neighbour distance table of Karabin & Perez (Table I).

All functions take :class:`atomsieve.descriptors.AtomicFeatures`; compute the sets being compared
with the same descriptor and the same scale (:func:`scaled_features`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.generate.entropy import nearest_neighbour_entropy


def scaled_features(dataset, module, scale=None) -> AtomicFeatures:
    """Descriptors of every atom of ``dataset`` divided by ``scale`` (e.g. a generator's
    ``descriptor_scale_``), as :class:`AtomicFeatures`.

    >>> from ase.build import bulk
    >>> from atomsieve import Dataset
    >>> from atomsieve.generate.descriptor import default_symmetry_functions
    >>> f = scaled_features(Dataset([bulk("W", cubic=True)]), default_symmetry_functions("W"), [2.0] * 6)
    >>> f.values.shape
    (2, 6)
    """
    feats = module.compute(dataset, scaler="none")
    if scale is None:
        return feats
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    if scale.shape != (feats.n_features,) or np.any(scale <= 0):
        raise ParameterError(f"scale must hold {feats.n_features} positive numbers; got {scale.tolist()}")
    return AtomicFeatures(values=feats.values / scale, species=feats.species, structure=feats.structure,
                          params={**(feats.params or {}), "scale": scale.tolist()},
                          feature_names=feats.feature_names, n_structures=feats.n_structures)


def configuration_entropies(features: AtomicFeatures) -> np.ndarray:
    """The paper's S = (1/N) Σ_j ln(N δ_j) of each structure's atoms, shape (n_structures,).

    Structures with fewer than two atoms get NaN.

    >>> f = AtomicFeatures(values=[[0.0], [1.0], [3.0], [0.0], [2.0]], species=[74] * 5,
    ...                    structure=[0, 0, 0, 1, 1])
    >>> configuration_entropies(f).round(4).tolist()  # (2 ln 3 + ln 6)/3 and ln 4
    [1.3297, 1.3863]
    """
    out = np.full(features.n_structures, np.nan)
    order = np.argsort(features.structure, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(features.atom_counts)])
    for s in range(features.n_structures):
        rows = order[bounds[s]:bounds[s + 1]]
        if len(rows) >= 2:
            out[s] = float(nearest_neighbour_entropy(features.values[rows]))
    return out


@dataclass
class DescriptorHistograms:
    """Per-descriptor histograms of several sets on shared bins.

    Attributes
    ----------
    edges : ndarray (n_features, bins + 1)
        Bin edges of each descriptor (common to all sets).
    densities : dict of name -> ndarray (n_features, bins)
        Probability densities (each row integrates to 1).
    feature_names : list of str
    """

    edges: np.ndarray
    densities: dict
    feature_names: list


def descriptor_histograms(sets: Mapping[str, AtomicFeatures], bins: int = 40) -> DescriptorHistograms:
    """Histogram every descriptor of every set on bins spanning all sets together.

    >>> a = AtomicFeatures(values=[[0.0], [1.0]], species=[74, 74], structure=[0, 0])
    >>> b = AtomicFeatures(values=[[1.0], [1.0]], species=[74, 74], structure=[0, 0])
    >>> h = descriptor_histograms({"a": a, "b": b}, bins=2)
    >>> h.edges.tolist(), h.densities["b"].tolist()
    ([[0.0, 0.5, 1.0]], [[0.0, 2.0]])
    """
    if not sets:
        raise ParameterError("descriptor_histograms needs at least one named set")
    widths = {f.n_features for f in sets.values()}
    if len(widths) != 1:
        raise ParameterError(f"the sets have different numbers of descriptors {sorted(widths)}; "
                             "use one descriptor")
    n = widths.pop()
    stacked = np.concatenate([f.values for f in sets.values()])
    lo, hi = stacked.min(axis=0), stacked.max(axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)
    edges = np.stack([np.linspace(lo[k], hi[k], bins + 1) for k in range(n)])
    densities = {
        name: np.stack([np.histogram(f.values[:, k], bins=edges[k], density=True)[0] for k in range(n)])
        for name, f in sets.items()
    }
    first = next(iter(sets.values()))
    names = first.feature_names or [f"q{k}" for k in range(n)]
    return DescriptorHistograms(edges=edges, densities=densities, feature_names=list(names))


def _split(n: int, train_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_train = min(max(1, int(round(train_fraction * n))), n - 1)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def split_coverage_table(sets: Mapping[str, AtomicFeatures], n_splits: int = 10, train_fraction: float = 0.5,
                         seed: int = 0) -> list[dict]:
    """Table I of Karabin & Perez: train on part of set A, test on the held-out part of set B.

    For each of ``n_splits`` random splits every set's structures are divided into a training
    part (``train_fraction``) and a test part; for every ordered pair (A, B), including A = B,
    the distance from each test environment of B to its nearest training environment of A is
    taken (:func:`atomsieve.evaluate.coverage`), and its mean, median and maximum are averaged
    over the splits.

    Returns
    -------
    list of dict
        Rows ``{"train", "test", "mean", "median", "max", "max_std", "n_splits"}``
        (``max_std``: standard deviation of the maximum over splits).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> wide = AtomicFeatures(values=rng.normal(0, 3, (200, 2)), species=[74] * 200,
    ...                       structure=np.repeat(np.arange(20), 10))
    >>> narrow = AtomicFeatures(values=rng.normal(0, 1, (200, 2)), species=[74] * 200,
    ...                         structure=np.repeat(np.arange(20), 10))
    >>> rows = {(r["train"], r["test"]): r for r in split_coverage_table({"wide": wide, "narrow": narrow})}
    >>> rows["wide", "narrow"]["max"] < rows["narrow", "wide"]["max"]
    True
    """
    from atomsieve.evaluate.coverage import coverage

    if not isinstance(n_splits, (int, np.integer)) or n_splits < 1:
        raise ParameterError(f"n_splits={n_splits!r} must be a whole number ≥ 1")
    if not 0 < train_fraction < 1:
        raise ParameterError(f"train_fraction={train_fraction} must lie strictly between 0 and 1")
    for name, f in sets.items():
        if f.n_structures < 2:
            raise ParameterError(f"set {name!r} has {f.n_structures} structure(s); "
                                 "a train/test split needs ≥ 2")
    rng = np.random.default_rng(seed)
    stats: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for _ in range(n_splits):
        parts = {name: tuple(f.subset_structures(idx) for idx in _split(f.n_structures, train_fraction, rng))
                 for name, f in sets.items()}
        for a in sets:
            for b in sets:
                c = coverage(parts[a][0], parts[b][1])
                stats.setdefault((a, b), []).append((c.mean, c.median, c.max))
    rows = []
    for (a, b), values in stats.items():
        v = np.asarray(values)
        rows.append({"train": a, "test": b, "mean": float(v[:, 0].mean()), "median": float(v[:, 1].mean()),
                     "max": float(v[:, 2].mean()), "max_std": float(v[:, 2].std()), "n_splits": len(v)})
    return rows


def format_coverage_table(rows: list[dict]) -> str:
    """A plain-text table of :func:`split_coverage_table` rows.

    >>> print(format_coverage_table([{"train": "A", "test": "B", "mean": 1, "median": 1, "max": 2,
    ...                                "max_std": 0, "n_splits": 1}]))
    train     test         mean    median       max (± std)
    A         B           1.000     1.000     2.000 ± 0.000
    """
    lines = [f"{'train':<9} {'test':<9} {'mean':>7} {'median':>9} {'max (± std)':>17}"]
    for r in rows:
        lines.append(f"{r['train']:<9} {r['test']:<9} {r['mean']:7.3f} {r['median']:9.3f} {r['max']:9.3f} "
                     f"± {r['max_std']:.3f}")
    return "\n".join(lines)
