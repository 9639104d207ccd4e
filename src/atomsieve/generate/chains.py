"""Independent annealing chains: a random start, then one harvested configuration per cycle.

A chain is a plain picklable job (:class:`ChainSpec` → list of :class:`Harvest`), so
:class:`atomsieve.parallel.TaskRunner` can run chains in this process or on Dask workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from ase.data import atomic_masses

from atomsieve.errors import ParameterError
from atomsieve.generate.annealing import AnnealingSchedule, LangevinIntegrator
from atomsieve.generate.descriptor import ConfigurationDescriptor
from atomsieve.generate.effective import EntropyBiasedPotential
from atomsieve.generate.repulsive import RepulsivePotential, minimum_image_vectors
from atomsieve.progress import ProgressCallback, report

#: Random-sequential-addition attempts per atom before giving up on a starting configuration.
PLACEMENT_ATTEMPTS = 10_000


def minimum_distance(positions: np.ndarray, cell: np.ndarray) -> float:
    """Smallest minimum-image distance (Å) between two atoms of a periodic configuration.

    >>> round(minimum_distance(np.array([[0.1, 0, 0], [9.9, 0, 0], [5, 5, 5]]), np.eye(3) * 10), 6)
    0.2
    """
    with torch.no_grad():
        vectors = minimum_image_vectors(torch.as_tensor(positions, dtype=torch.float64),
                                        torch.as_tensor(np.asarray(cell, dtype=np.float64)))
        r = vectors.norm(dim=-1)
        r.fill_diagonal_(float("inf"))
        return float(r.min())


def random_configuration(n_atoms: int, cell: np.ndarray, rng: np.random.Generator,
                         min_distance: float) -> np.ndarray:
    """Uniformly random positions (Å) in a periodic cell, no two closer than ``min_distance``
    (random sequential addition)."""
    cell = np.asarray(cell, dtype=np.float64)
    inverse = np.linalg.inv(cell)
    placed: list[np.ndarray] = []
    batch = 500
    for i in range(n_atoms):
        for _ in range(PLACEMENT_ATTEMPTS // batch):
            candidates = rng.uniform(size=(batch, 3)) @ cell
            if not placed:
                candidate = candidates[0]
                break
            frac = (np.asarray(placed)[None, :, :] - candidates[:, None, :]) @ inverse
            r = np.linalg.norm((frac - np.round(frac)) @ cell, axis=-1).min(axis=1)
            ok = np.flatnonzero(r >= min_distance)
            if len(ok):
                candidate = candidates[ok[0]]
                break
        else:
            raise ParameterError(
                f"cannot place atom {i + 1} of {n_atoms} at least {min_distance:.3g} Å from the others "
                "in a cell "
                f"of volume {abs(np.linalg.det(cell)):.4g} Å³; use fewer atoms or a larger cell"
            )
        placed.append(candidate)
    return np.asarray(placed)


@dataclass
class Harvest:
    """A configuration harvested at the end of a cycle."""

    positions: np.ndarray
    """(A, 3), Å, wrapped into the cell."""
    entropy: float
    """S of the scaled descriptors."""
    repulsive_energy: float
    """eV."""
    min_distance: float
    """Smallest interatomic distance, Å."""
    chain: int
    cycle: int


@dataclass
class ChainSpec:
    """Everything one chain needs; picklable."""

    chain: int
    n_cycles: int
    numbers: np.ndarray
    cell: np.ndarray
    module: Any
    """The descriptor module (``SymmetryFunctions``)."""
    scale: np.ndarray
    repulsive: dict
    schedule: AnnealingSchedule
    seed: Any
    """A ``numpy.random.SeedSequence`` (or int)."""
    start_min_distance: float
    torch_threads: int | None = 1


def run_chain(spec: ChainSpec, progress: ProgressCallback | None = None, *,
              should_stop: Callable[[], bool] | None = None) -> list[Harvest]:
    """Run ``spec.n_cycles`` annealing cycles from a random start; one :class:`Harvest` per cycle.

    ``progress(done, total, label)`` is called after each cycle; ``should_stop()`` is polled between
    cycles: True returns the harvests so far (at least one). Torch runs on
    ``spec.torch_threads`` threads (restored afterwards): 39-atom forces are too small to share.
    """
    threads = torch.get_num_threads()
    if spec.torch_threads:
        torch.set_num_threads(spec.torch_threads)
    try:
        rng = np.random.default_rng(spec.seed)
        cell = np.asarray(spec.cell, dtype=np.float64)
        descriptor = ConfigurationDescriptor(spec.module, spec.numbers, cell, spec.scale)
        potential = EntropyBiasedPotential(descriptor, RepulsivePotential(**spec.repulsive))
        masses = atomic_masses[np.asarray(spec.numbers)]
        integrator = LangevinIntegrator(potential, masses, rng)
        x = random_configuration(len(spec.numbers), cell, rng, spec.start_min_distance)
        harvests = []
        for cycle in range(spec.n_cycles):
            if cycle and should_stop is not None and should_stop():
                break
            x, final = integrator.run_cycle(x, spec.schedule)
            frac = x @ np.linalg.inv(cell)
            x = (frac - np.floor(frac)) @ cell
            harvests.append(Harvest(positions=x.copy(), entropy=final.entropy,
                                    repulsive_energy=final.repulsive_energy,
                                    min_distance=minimum_distance(x, cell), chain=spec.chain, cycle=cycle))
            report(progress, cycle + 1, spec.n_cycles, f"chain {spec.chain}")
        return harvests
    finally:
        torch.set_num_threads(threads)
