"""Kernel FPS: farthest point sampling with SOAP average- or REMatch-kernel distances.

This is the FPS the local-environment-bank paper compares against. Structures are
compared through a normalised global kernel K built from their atoms' fingerprints, and
the distance is d_ij = √(2 − 2 K_ij). Kernels and SOAP fingerprints come from DScribe,
an optional extra: ``pip install 'atomsieve[soap]'``.

- ``kernel="average"``: K_AB is the mean local similarity of all atom pairs of A and B
  (with the linear metric this is the dot product of the mean fingerprints, computed
  here directly; it equals DScribe's ``AverageKernel``, which is used for other metrics).
- ``kernel="rematch"``: DScribe's ``REMatchKernel`` (regularised entropy match, ``alpha``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback, check_stop, report
from atomsieve.selectors._greedy import FirstPoint, GreedyScore, first_points, greedy_select
from atomsieve.selectors.base import Selector, resolve_count
from atomsieve.selectors.structure_points import check_finite, one_blas_thread

KERNELS = ("average", "rematch")


def _dscribe(what: str):
    try:
        import dscribe.descriptors
        import dscribe.kernels
    except ImportError:
        raise ParameterError(
            f"{what} needs DScribe, an optional extra: pip install 'atomsieve[soap]'"
        ) from None
    return dscribe


def soap_features(
    dataset,
    *,
    r_cut: float = 5.0,
    n_max: int = 6,
    l_max: int = 4,
    sigma: float = 0.5,
    species=None,
    n_jobs: int = 1,
) -> AtomicFeatures:
    """Per-atom SOAP fingerprints of a dataset, from DScribe (distances in Å).

    Periodic structures use periodic SOAP; ``species`` defaults to the dataset's elements.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from atomsieve.data import Dataset
    >>> f = soap_features(Dataset([bulk("Ge", cubic=True)]), r_cut=4.0, n_max=2, l_max=2)
    >>> f.n_atoms, f.n_structures
    (8, 1)
    """
    dscribe = _dscribe("soap_features")
    species = list(species or dataset.elements)
    periodic = bool(any(a.pbc.any() for a in dataset.atoms))
    soap = dscribe.descriptors.SOAP(
        species=species, r_cut=r_cut, n_max=n_max, l_max=l_max, sigma=sigma, periodic=periodic
    )
    per_structure = soap.create(list(dataset.atoms), n_jobs=n_jobs)
    if isinstance(per_structure, np.ndarray) and per_structure.ndim == 2:
        per_structure = [per_structure]
    values = np.concatenate([np.asarray(v, dtype=np.float64) for v in per_structure])
    params = {"kind": "soap", "r_cut": r_cut, "n_max": n_max, "l_max": l_max, "sigma": sigma,
              "species": species}
    return AtomicFeatures(values=values, species=dataset.numbers, structure=dataset.structure_index,
                          params=params, n_structures=len(dataset))


def structure_blocks(features: AtomicFeatures, normalize: bool) -> list[np.ndarray]:
    """Each structure's rows of fingerprints (unit-length rows when ``normalize``)."""
    values = check_finite(features.values, "features.values")
    if normalize:
        norms = np.linalg.norm(values, axis=1, keepdims=True)
        values = values / np.where(norms > 0, norms, 1.0)
    order = np.argsort(features.structure, kind="stable")
    return np.split(values[order], np.cumsum(features.atom_counts)[:-1])


def global_kernel(
    blocks: list[np.ndarray],
    kernel: str = "average",
    *,
    metric: str = "linear",
    alpha: float = 0.1,
    threshold: float = 1e-6,
    gamma: float | None = None,
    block_size: int = 32,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Normalised global kernel matrix (K_ii = 1) between structures given as atom blocks.

    ``progress(done, total, label)`` hears of the blocks of structure pairs computed (DScribe
    kernels); ``should_stop()`` is polled before each block (True raises
    :class:`~atomsieve.errors.Stopped`: part of a kernel matrix is no kernel).
    """
    if kernel not in KERNELS:
        raise ParameterError(f"kernel={kernel!r}: use one of {', '.join(KERNELS)}")
    if any(len(b) == 0 for b in blocks):
        raise ParameterError("every structure needs at least one atom for a kernel")
    if kernel == "average" and metric == "linear":
        means = np.array([b.mean(axis=0) for b in blocks])
        K = means @ means.T
    else:
        dscribe = _dscribe(f"the {kernel} kernel")
        cls = dscribe.kernels.AverageKernel if kernel == "average" else dscribe.kernels.REMatchKernel
        options = {"metric": metric, "gamma": gamma, "normalize_kernel": False}
        if kernel == "rematch":
            options.update(alpha=alpha, threshold=threshold)
        engine = cls(**options)
        n = len(blocks)
        K = np.empty((n, n))
        starts = list(range(0, n, block_size))
        pairs = [(a, b) for a in starts for b in starts if b >= a]
        for done, (a, b) in enumerate(pairs, 1):
            check_stop(should_stop, f"{kernel} kernel")
            part = engine.create(blocks[a : a + block_size], blocks[b : b + block_size])
            K[a : a + block_size, b : b + block_size] = part
            K[b : b + block_size, a : a + block_size] = part.T
            report(progress, done, len(pairs), f"{kernel} kernel")
    diag = np.sqrt(np.clip(np.diag(K), 1e-300, None))
    return K / np.outer(diag, diag)


def kernel_distances(K: np.ndarray) -> np.ndarray:
    """d_ij = √(2 − 2 K_ij) for a normalised kernel (zero on the diagonal)."""
    D = np.sqrt(np.clip(2.0 - 2.0 * K, 0.0, None))
    if D.shape[0] == D.shape[1]:
        np.fill_diagonal(D, 0.0)
    return D


class _NearestOnMatrix(GreedyScore):
    """FPS's score on a precomputed distance matrix: the distance of each item to its nearest pick."""

    label = "kernel FPS"

    def __init__(self, D: np.ndarray):
        self.D, self.nearest = D, None

    def best(self) -> tuple[int, float]:
        p = int(np.argmax(self.nearest))
        return p, float(self.nearest[p])

    def update(self, p: int, step: int) -> None:
        self.nearest = self.D[p].copy() if self.nearest is None else np.minimum(self.nearest, self.D[p])
        self.nearest[p] = -np.inf


def fps_on_distances(
    D: np.ndarray,
    count: int,
    first: FirstPoint,
    seed: int | None,
    *,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Farthest point sampling on a precomputed distance matrix.

    ``first="farthest-from-mean"`` starts from the structure least similar on average
    (largest mean squared distance to all others). Starting indices beyond ``count`` are dropped.

    >>> D = np.abs(np.subtract.outer([0.0, 1.0, 4.0, 10.0], [0.0, 1.0, 4.0, 10.0]))
    >>> fps_on_distances(D, 3, first=0, seed=0).tolist()
    [0, 3, 2]
    """
    initial = first_points(first, len(D), seed, lambda: (D**2).mean(axis=1))[:count]
    return greedy_select(_NearestOnMatrix(D), count, initial=initial, progress=progress,
                         should_stop=should_stop).order


class KernelFPS(Selector):
    """FPS of structures with kernel distances √(2 − 2K), average or REMatch kernel.

    Works on any per-atom fingerprints; the LE-bank paper's comparison uses SOAP
    (:func:`soap_features`). The kernel matrix needs memory for n_structures².

    Parameters
    ----------
    n_to_select : int or float in (0, 1]
    kernel : {"average", "rematch"}
    metric : str
        Local similarity between atoms ("linear", "rbf", ... as in DScribe).
    alpha, threshold : float
        REMatch entropy regularisation and convergence threshold.
    gamma : float, optional
        For the "rbf" metric.
    normalize : bool
        Scale every atom's fingerprint to unit length before comparing (usual for SOAP).
    first : {"farthest-from-mean", "random"}, int or list of int
    seed : int
    progress, should_stop : callable, optional
        As every selector takes them (see :class:`~atomsieve.selectors.base.Selector`).

    Attributes
    ----------
    kernel_ : ndarray, shape (n_structures, n_structures)
        The normalised global kernel.
    distances_ : ndarray
        Distance of each pick to the ones before it (``inf`` for the first).

    Examples
    --------
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(values=[[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]], species=[1] * 4,
    ...                    structure=[0, 1, 2, 3])
    >>> KernelFPS(2, first=0).fit(f).selected_.tolist()
    [0, 1]
    """

    name = "kernel-fps"

    def __init__(
        self,
        n_to_select: int | float,
        *,
        kernel: str = "average",
        metric: str = "linear",
        alpha: float = 0.1,
        threshold: float = 1e-6,
        gamma: float | None = None,
        normalize: bool = True,
        first: FirstPoint = "farthest-from-mean",
        seed: int | None = 0,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.n_to_select = n_to_select
        self.kernel = kernel
        self.metric = metric
        self.alpha = alpha
        self.threshold = threshold
        self.gamma = gamma
        self.normalize = normalize
        self.first = first
        self.seed = seed
        self.progress = progress
        self.should_stop = should_stop

    @one_blas_thread
    def _select(self, features: AtomicFeatures) -> np.ndarray:
        candidates = np.flatnonzero(features.atom_counts > 0)
        count = resolve_count(self.n_to_select, len(candidates))
        all_blocks = structure_blocks(features, self.normalize)
        blocks = [all_blocks[i] for i in candidates]
        K = global_kernel(
            blocks, self.kernel, metric=self.metric, alpha=self.alpha, threshold=self.threshold,
            gamma=self.gamma, progress=self.progress,
        )
        self.kernel_ = K
        D = kernel_distances(K)
        order = fps_on_distances(D, count, self.first, self.seed, progress=self.progress,
                                 should_stop=self.should_stop)
        nearest = [D[order[i], order[:i]].min() for i in range(1, len(order))]
        self.distances_ = np.concatenate([[np.inf], nearest])
        return candidates[order]
