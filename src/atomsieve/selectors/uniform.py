"""Selection uniform in a label: energy per atom, atomic energies or force magnitudes.

The range of the quantity is cut into equal-width bins and the selection takes turns over
the bins, so every bin contributes the same number of structures (until it runs out) and
rare high-energy or high-force structures are not drowned by the common ones. These are
the three schemes of "Efficient data selection methods for the development of machine
learned potentials".

For per-atom quantities (atomic energies, force magnitudes) a turn draws a random atom of
the bin whose structure is not yet chosen, and chooses that structure. Bins take their
turns from the least to the most populated, so a remainder goes to the rare bins.

Labels come from ``fit`` keyword arguments: ``dataset=`` (an :class:`atomsieve.Dataset`
whose structures match the features) or the plain arrays ``energies=`` (eV per
structure), ``atomic_energies=`` (eV per atom) and ``forces=`` (eV/Å, shape (n_atoms, 3)),
atoms of all structures stacked in order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback
from atomsieve.selectors.base import Selector, resolve_count
from atomsieve.selectors.structure_points import check_finite

ATOMIC_ENERGY_KEYS = ("energies", "atomic_energies", "REF_energies")


def uniform_bin_order(
    values: np.ndarray,
    owners: np.ndarray,
    n_to_select: int,
    bins: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owners chosen by turns over equal-width bins of ``values``.

    Parameters
    ----------
    values : array of shape (n_items,)
        The quantity of each item (a structure or an atom).
    owners : array of shape (n_items,)
        Structure of each item.
    n_to_select : int
        Structures to choose (at most the number of distinct owners).
    bins : int
        Number of equal-width bins over ``[values.min(), values.max()]``.
    rng : numpy Generator

    Returns
    -------
    order : ndarray of int
        Chosen structures in choice order.
    edges : ndarray of float
        Bin edges, shape (bins + 1,).
    picks : ndarray of int
        Structures chosen through each bin.

    Examples
    --------
    >>> values = np.array([0.0, 0.1, 0.2, 0.3, 5.0])
    >>> order, edges, picks = uniform_bin_order(values, np.arange(5), 2, 2, np.random.default_rng(0))
    >>> int(order[0]), picks.tolist()
    (4, [1, 1])
    """
    if isinstance(bins, bool) or int(bins) != bins or bins < 1:
        raise ParameterError(f"bins={bins!r}: the number of bins must be a positive integer")
    bins = int(bins)
    lo, hi = float(values.min()), float(values.max())
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo] * bins + [hi + 1.0])
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    queues = [rng.permutation(np.flatnonzero(which == b)) for b in range(bins)]
    turn_order = np.argsort([len(q) for q in queues], kind="stable")
    position = np.zeros(bins, dtype=np.int64)
    taken = np.zeros(int(owners.max()) + 1, dtype=bool)
    picks = np.zeros(bins, dtype=np.int64)
    order: list[int] = []
    while len(order) < n_to_select:
        progressed = False
        for b in turn_order:
            queue = queues[b]
            while position[b] < len(queue) and taken[owners[queue[position[b]]]]:
                position[b] += 1
            if position[b] == len(queue):
                continue
            owner = int(owners[queue[position[b]]])
            taken[owner] = True
            order.append(owner)
            picks[b] += 1
            progressed = True
            if len(order) == n_to_select:
                break
        if not progressed:
            break
    return np.array(order, dtype=np.int64), edges, picks


def atomic_energies_of(dataset, key: str | None = None) -> np.ndarray:
    """Per-atom energies (eV) stored with the structures, stacked; or a clear error.

    Looks in ``atoms.arrays`` and the calculator results (ASE's EMT, for instance,
    reports per-atom ``energies``) under ``key`` or the common keys
    ``energies``, ``atomic_energies``, ``REF_energies``.
    """
    keys = (key,) if key else ATOMIC_ENERGY_KEYS
    for name in keys:
        found = []
        for atoms in dataset.atoms:
            value = atoms.arrays.get(name)
            if value is None and atoms.calc is not None:
                value = (getattr(atoms.calc, "results", None) or {}).get(name)
            if value is None or np.shape(value) != (len(atoms),):
                break
            found.append(np.asarray(value, dtype=np.float64))
        else:
            if found:
                return check_finite(np.concatenate(found), f"atomic energies {name!r}")
    raise ParameterError(
        f"{dataset!r} holds no per-atom energies (looked for {', '.join(map(repr, keys))} in the "
        "atoms arrays and calculator results); pass atomic_energies= (eV per atom, e.g. predicted by "
        "a fitted model from atomsieve.potentials) or label the structures with a calculator that "
        "reports them (ASE's EMT does)"
    )


def _check_dataset(dataset, features: AtomicFeatures) -> None:
    counts = np.asarray(dataset.atom_counts)
    if len(counts) != features.n_structures or not np.array_equal(counts, features.atom_counts):
        raise ParameterError(
            f"dataset {dataset!r} does not match the features ({features.n_structures} structures, "
            f"{features.n_atoms} atoms); pass the dataset the features were computed from"
        )


class _UniformSelector(Selector):
    """Base of the label-uniform selectors: ``n_to_select``, ``bins``, ``seed``; ``progress`` and
    ``should_stop`` as every selector takes them (one step: nothing to report or poll)."""

    quantity = "values"

    def __init__(self, n_to_select: int | float, *, bins: int = 10, seed: int | None = 0,
                 progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None):
        self.n_to_select = n_to_select
        self.bins = bins
        self.seed = seed
        self.progress = progress
        self.should_stop = should_stop

    def _items(self, features: AtomicFeatures, **labels) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError  # pragma: no cover

    def _select(self, features: AtomicFeatures, dataset=None, **labels) -> np.ndarray:
        check_finite(features.values, "features.values")  # the same contract as every selector
        if dataset is not None:
            _check_dataset(dataset, features)
        values, owners = self._items(features, dataset=dataset, **labels)
        values = check_finite(values, self.quantity)
        count = resolve_count(self.n_to_select, len(np.unique(owners)))
        order, self.bin_edges_, self.picks_per_bin_ = uniform_bin_order(
            values, owners, count, self.bins, np.random.default_rng(self.seed)
        )
        return order

    def _extra(self) -> dict:
        return {"bin_edges": self.bin_edges_.tolist(), "picks_per_bin": self.picks_per_bin_.tolist()}


def _missing(what: str, argument: str, dataset) -> ParameterError:
    where = f"the dataset {dataset!r} has none (load it with the right key)" if dataset is not None else (
        "none were given"
    )
    return ParameterError(f"{what} are needed but {where}; pass dataset= with them or {argument}=")


class EnergyUniform(_UniformSelector):
    """Uniform in the energy per atom (eV/atom) of the structures.

    ``fit(features, dataset=ds)`` or ``fit(features, energies=E)`` with total energies
    in eV, one per structure.

    Examples
    --------
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(values=[[0.0]] * 5, species=[1] * 5, structure=[0, 1, 2, 3, 4])
    >>> sel = EnergyUniform(2, bins=2).fit(f, energies=[0.0, 0.1, 0.2, 0.3, 5.0])
    >>> 4 in sel.selected_, sel.picks_per_bin_.tolist()
    (True, [1, 1])
    """

    name = "energy"
    quantity = "energies"
    fit_label = "energies"

    def _items(self, features, dataset=None, energies=None):
        if energies is None:
            energies = None if dataset is None else dataset.energies
        if energies is None:
            raise _missing("energies (eV per structure)", "energies", dataset)
        energies = np.asarray(energies, dtype=np.float64).reshape(-1)
        if len(energies) != features.n_structures:
            raise ParameterError(
                f"energies has {len(energies)} values for {features.n_structures} structures"
            )
        keep = np.flatnonzero(features.atom_counts > 0)
        return energies[keep] / features.atom_counts[keep], keep


class AtomicEnergyUniform(_UniformSelector):
    """Uniform in atomic energies (eV per atom).

    ``fit(features, atomic_energies=e)`` with one value per atom (structures stacked),
    or ``fit(features, dataset=ds)`` when the structures carry per-atom energies
    (see :func:`atomic_energies_of`); otherwise a :class:`ParameterError` says that a
    fitted model's atomic energies are needed.

    Examples
    --------
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(values=[[0.0]] * 4, species=[1] * 4, structure=[0, 0, 1, 2])
    >>> AtomicEnergyUniform(2, bins=2).fit(f, atomic_energies=[-1.0, 3.0, -1.1, -0.9]).selected_.tolist()
    [0, 2]
    """

    name = "atomic-energy"
    quantity = "atomic energies"
    fit_label = "atomic_energies"

    def __init__(self, n_to_select, *, bins: int = 10, seed: int | None = 0, key: str | None = None,
                 progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None):
        super().__init__(n_to_select, bins=bins, seed=seed, progress=progress, should_stop=should_stop)
        self.key = key

    def _items(self, features, dataset=None, atomic_energies=None):
        if atomic_energies is None:
            if dataset is None:
                raise _missing("atomic energies (eV per atom)", "atomic_energies", None)
            atomic_energies = atomic_energies_of(dataset, self.key)
        values = np.asarray(atomic_energies, dtype=np.float64).reshape(-1)
        if len(values) != features.n_atoms:
            raise ParameterError(f"atomic_energies has {len(values)} values for {features.n_atoms} atoms")
        return values, np.repeat(np.arange(features.n_structures), features.atom_counts)


class ForceUniform(_UniformSelector):
    """Uniform in the force magnitude |F| (eV/Å) of the atoms.

    ``fit(features, dataset=ds)`` or ``fit(features, forces=F)`` with F of shape
    (n_atoms, 3), structures stacked.

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.descriptors import AtomicFeatures
    >>> f = AtomicFeatures(values=[[0.0]] * 3, species=[1] * 3, structure=[0, 1, 2])
    >>> forces = np.array([[0.1, 0, 0], [0.2, 0, 0], [4.0, 0, 0]])
    >>> ForceUniform(2, bins=2).fit(f, forces=forces).selected_.tolist()[0]
    2
    """

    name = "force"
    quantity = "forces"
    fit_label = "forces"

    def _items(self, features, dataset=None, forces=None):
        if forces is None:
            forces = None if dataset is None else dataset.forces
        if forces is None:
            raise _missing("forces (eV/Å per atom)", "forces", dataset)
        forces = np.asarray(forces, dtype=np.float64)
        if forces.shape != (features.n_atoms, 3):
            raise ParameterError(f"forces has shape {forces.shape}; expected ({features.n_atoms}, 3)")
        magnitudes = np.linalg.norm(check_finite(forces, "forces"), axis=1)
        return magnitudes, np.repeat(np.arange(features.n_structures), features.atom_counts)
