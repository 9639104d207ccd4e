"""Bootstrap ensembles of any potential, with per-atom force uncertainty.

Each of the M members is trained on a bootstrap sample of the structures (drawn with
replacement, seeded). The per-atom uncertainty is the one nearsighted force training uses
(Zeng, Chen, Peterson, J. Chem. Phys. 156, 064104 (2022))::

    δ_i = 2.58 · sqrt( Σ_m |f_i^(m) − f̄_i|² / (M − 1) )     (eV/Å)

2.58 is the two-sided 99 % quantile of a normal distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from atomsieve.errors import ParameterError
from atomsieve.parallel import TaskRunner
from atomsieve.potentials.loss import error_measures
from atomsieve.potentials.prepared import PreparedData
from atomsieve.progress import ProgressCallback

#: Multiplier of the force standard deviation: the 99 % two-sided normal quantile.
UNCERTAINTY_FACTOR = 2.58


def clone(model, **overrides):
    """An unfitted copy of ``model`` with the same constructor arguments (and ``overrides``)."""
    config = {**model.get_config(), **overrides}
    if "seed" not in model.get_config():
        config.pop("seed", None)
    return type(model)(**config)


def _fit_member(job: tuple, should_stop: Callable[[], bool] | None = None) -> Any:
    model, data, idx, structure_weights, atom_force_weights = job
    return model.fit(data, structures=idx, structure_weights=structure_weights,
                     atom_force_weights=atom_force_weights, should_stop=should_stop)


class Ensemble:
    """M copies of a potential trained on bootstrap samples.

    Parameters
    ----------
    model : LinearModel or BPNNModel
        The template (unfitted); each member is a clone with seed ``seed + m``.
    n_members : int
        M, at least 2.
    bootstrap : bool
        Resample structures with replacement per member; when False members differ only by seed.
    seed : int
    scheduler : optional
        Where members are trained (see :mod:`atomsieve.parallel`); in this process by default.

    Attributes
    ----------
    members_ : list
        The fitted members.
    samples_ : list of ndarray
        The structure indices each member was trained on.

    Examples
    --------
    >>> import numpy as np
    >>> from atomsieve.potentials.linear import LinearModel
    >>> rng = np.random.default_rng(0)
    >>> n = 10
    >>> d = PreparedData(features=rng.random((2 * n, 2)), species=np.zeros(2 * n, int), elements=["Ge"],
    ...                  atom_counts=[2] * n, pair_center=np.arange(2 * n), pair_neighbour=np.arange(2 * n),
    ...                  pair_values=rng.random((2 * n, 2, 3)), energies=rng.random(n),
    ...                  forces=rng.random((2 * n, 3)))
    >>> ens = Ensemble(LinearModel(), n_members=4, seed=0).fit(d)
    >>> out = ens.predict_uncertainty(d)
    >>> out["forces"].shape, out["delta"].shape, out["structure_uncertainty"].shape
    ((20, 3), (20,), (10,))
    """

    def __init__(self, model, n_members: int = 10, bootstrap: bool = True, seed: int = 0,
                 scheduler: Any = None):
        self.model = model
        self.n_members = n_members
        self.bootstrap = bootstrap
        self.seed = seed
        self.scheduler = scheduler

    def get_config(self) -> dict:
        return {"n_members": self.n_members, "bootstrap": self.bootstrap, "seed": self.seed}

    def fit(self, data: PreparedData, structures=None, structure_weights=None, atom_force_weights=None,
            progress: ProgressCallback | None = None,
            should_stop: Callable[[], bool] | None = None) -> Ensemble:
        """Train every member on its bootstrap sample of ``data`` (or of ``structures``).

        ``progress(done, total, label)`` hears of the members trained. ``should_stop()``: members
        trained in this process (``scheduler`` None, "serial" or "threads") get it and stop early
        keeping their best weights, so the ensemble is complete; on Dask workers it is polled between
        members, and a stop before every member is trained raises :class:`~atomsieve.errors.Stopped`.
        """
        if int(self.n_members) < 2:
            raise ParameterError(f"an ensemble needs at least 2 members; got n_members={self.n_members}")
        base = np.arange(data.n_structures) if structures is None else np.asarray(structures, dtype=np.int64)
        if base.size == 0:
            raise ParameterError("Ensemble.fit: no structures to fit")
        sw = None if structure_weights is None else np.asarray(structure_weights, dtype=np.float64)
        aw = None if atom_force_weights is None else np.asarray(atom_force_weights, dtype=np.float64)
        local_offsets = np.concatenate([[0], np.cumsum(data.atom_counts[base])])
        jobs, samples = [], []
        for m in range(int(self.n_members)):
            rng = np.random.default_rng([int(self.seed), m])
            pick = rng.integers(0, len(base), len(base)) if self.bootstrap else np.arange(len(base))
            pick = np.sort(pick)
            member_aw = None
            if aw is not None:
                member_aw = np.concatenate([aw[local_offsets[k]:local_offsets[k + 1]] for k in pick])
            samples.append(base[pick])
            member = clone(self.model, seed=int(self.seed) + m)
            jobs.append((member, data, base[pick], None if sw is None else sw[pick], member_aw))
        from functools import partial

        members: list = [None] * len(jobs)
        with TaskRunner(self.scheduler) as runner:
            here = runner.is_serial or self.scheduler == "threads"
            fit_one = partial(_fit_member, should_stop=should_stop) if here else _fit_member
            for i, fitted in runner.map(fit_one, jobs, progress=progress, label="ensemble member",
                                        should_stop=None if here else should_stop):
                members[i] = fitted
        if any(m is None for m in members):
            from atomsieve.errors import Stopped

            raise Stopped("Ensemble.fit: stopped on request before every member was trained")
        self.members_ = members
        self.samples_ = samples
        self.elements_ = members[0].elements_
        return self

    def _check(self) -> None:
        if not hasattr(self, "members_"):
            raise ParameterError("Ensemble is not fitted; call fit (or load a saved ensemble) first")

    def member_predictions(self, data: PreparedData, structures=None) -> tuple[np.ndarray, np.ndarray]:
        """Energies (M, n_structures) and forces (M, n_atoms, 3) of every member."""
        self._check()
        preds = [m.predict(data, structures) for m in self.members_]
        return np.stack([p[0] for p in preds]), np.stack([p[1] for p in preds])

    def predict_uncertainty(self, data: PreparedData, structures=None) -> dict[str, np.ndarray]:
        """Mean energies and forces with their spread.

        Returns a dict: ``energies`` (eV), ``forces`` (eV/Å), ``energy_std`` (eV),
        ``force_std`` per atom (eV/Å, sqrt(Σ_m |f_i^m − f̄_i|²/(M−1))), ``delta`` per atom
        (2.58 · force_std) and ``structure_uncertainty`` (max δ_i per structure).
        """
        energies, forces = self.member_predictions(data, structures)
        m = energies.shape[0]
        mean_f = forces.mean(0)
        force_std = np.sqrt(((forces - mean_f) ** 2).sum(axis=(0, 2)) / (m - 1))
        delta = UNCERTAINTY_FACTOR * force_std
        idx = np.arange(data.n_structures) if structures is None else np.asarray(structures, dtype=np.int64)
        counts = data.atom_counts[idx]
        owner = np.repeat(np.arange(len(idx)), counts)
        structure_unc = np.zeros(len(idx))
        np.maximum.at(structure_unc, owner, delta)
        return {"energies": energies.mean(0), "forces": mean_f, "energy_std": energies.std(0, ddof=1),
                "force_std": force_std, "delta": delta, "structure_uncertainty": structure_unc}

    def predict(self, data: PreparedData, structures=None) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble-mean energies (eV) and forces (eV/Å)."""
        out = self.predict_uncertainty(data, structures)
        return out["energies"], out["forces"]

    def atomic_energies(self, data: PreparedData) -> np.ndarray:
        """Ensemble-mean energy of each atom (eV)."""
        self._check()
        return np.mean([m.atomic_energies(data) for m in self.members_], axis=0)

    def energies_from_features(self, features: np.ndarray, species: np.ndarray) -> np.ndarray:
        """Ensemble-mean atomic energies (eV) from scaled fingerprints and element indices."""
        self._check()
        return np.mean([m.energies_from_features(features, species) for m in self.members_], axis=0)

    def score(self, data: PreparedData, structures=None) -> dict[str, float]:
        """Error measures of the ensemble mean."""
        sub = data if structures is None else data.subset(structures)
        energies, forces = self.predict(sub)
        return error_measures(sub, energies, forces)
