"""Entropy-maximisation generation of diverse configurations (Karabin & Perez, J. Chem. Phys. 153,
094110 (2020), doi:10.1063/5.0013059), with the unbiased reference at ``k_max=0``."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

from atomsieve.data import Dataset
from atomsieve.errors import ParameterError
from atomsieve.generate.annealing import AnnealingSchedule
from atomsieve.generate.chains import ChainSpec, Harvest, random_configuration, run_chain
from atomsieve.generate.descriptor import (
    ConfigurationDescriptor,
    default_symmetry_functions,
    descriptor_scale,
)
from atomsieve.generate.repulsive import RepulsivePotential, check_minimum_image
from atomsieve.parallel import TaskRunner
from atomsieve.progress import ProgressCallback, StopCallback, report

#: The paper's cell, Å (orthorhombic, periodic).
PAPER_CELL = (9.54, 9.54, 14.31)
#: Random configurations whose descriptors set the per-descriptor scale.
N_SCALE_CONFIGURATIONS = 8


def as_cell(cell) -> np.ndarray:
    """A 3×3 cell (rows = lattice vectors, Å) from 3 lengths or 9 numbers.

    >>> as_cell((1, 2, 3)).diagonal().tolist()
    [1.0, 2.0, 3.0]
    """
    arr = np.asarray(cell, dtype=np.float64).reshape(-1)
    if arr.size == 3:
        arr = np.diag(arr)
    elif arr.size == 9:
        arr = arr.reshape(3, 3)
    else:
        raise ParameterError(f"cell must be 3 lengths or 9 numbers (3 lattice vectors), Å; "
                             f"got {arr.size} numbers")
    if not np.all(np.isfinite(arr)) or abs(np.linalg.det(arr)) < 1e-6:
        raise ParameterError(f"cell {arr.tolist()} is degenerate or not finite")
    return arr


class EntropyMaximisationGenerator:
    """Generate configurations by annealing under V = E_repulsive − K·S.

    Parameters
    ----------
    n_configs : int
        Configurations to harvest (one per annealing cycle, spread over the chains).
    n_atoms : int
        Atoms per configuration (paper: 39).
    cell : 3 lengths or 3×3, Å
        Periodic cell (paper: 9.54 × 9.54 × 14.31 Å).
    element : str
        Chemical symbol of the atoms (paper: W).
    k_max : float
        Final bias strength K in eV (paper: 1000 eV); 0 gives the unbiased reference.
    t_start, t_end : float
        Temperature ramp of each cycle, K (paper: 10,000 → 0 K).
    n_steps : int
        MD steps per cycle.
    timestep : float
        fs.
    friction : float
        Langevin friction, 1/fs.
    descriptor : SymmetryFunctions, optional
        The differentiable descriptor; :func:`default_symmetry_functions` (6 functions) by default.
    descriptor_scale : array (F,), optional
        Divisors that bring each descriptor to order one; by default the standard deviation over
        random starting configurations drawn from ``seed`` (so equal seeds give equal scales,
        whatever ``k_max``).
    repulsive : RepulsivePotential, optional
        The wall (paper: E0 = 1 eV, n = 8, m = 4, r0 = 2.7 Å, r_cut = 2.71 Å).
    n_chains : int
        Independent chains, each with its own random start and seed stream.
    scheduler : None, "serial", "local", address or Client
        Where chains run (:class:`atomsieve.parallel.TaskRunner`).
    n_workers : int, optional
        Workers of a ``"local"`` cluster.
    seed : int
        Results depend only on the seed and the parameters, not on the scheduler.

    Attributes
    ----------
    configurations_ : Dataset
        Harvested configurations in (chain, cycle) order; ``atoms.info`` holds ``entropy``,
        ``repulsive_energy`` (eV), ``min_distance`` (Å), ``chain``, ``cycle``, ``k_max`` (eV) and
        ``descriptor_scale`` (so saved sets can be featurised on the same scale later).
    entropies_ : ndarray (n_configs,)
        S of each configuration.
    min_distances_ : ndarray (n_configs,)
        Smallest interatomic distance of each configuration, Å.
    descriptor_scale_ : ndarray (F,)
    seconds_ : float
        Wall time of :meth:`fit`.
    seconds_per_configuration_ : float
    stopped_ : bool
        ``should_stop()`` ended :meth:`fit` early: fewer than ``n_configs`` configurations.

    Examples
    --------
    >>> gen = EntropyMaximisationGenerator(n_configs=2, n_atoms=6, cell=(6.0, 6.0, 6.0), k_max=20.0,
    ...                                    t_start=3000.0, n_steps=20, seed=1).fit()
    >>> len(gen.configurations_), gen.configurations_.atoms[0].get_chemical_formula()
    (2, 'W6')
    """

    def __init__(self, n_configs: int = 100, n_atoms: int = 39, cell=PAPER_CELL, element: str = "W",
                 k_max: float = 1000.0, t_start: float = 10_000.0, t_end: float = 0.0, n_steps: int = 1000,
                 timestep: float = 1.0, friction: float = 0.01, descriptor=None, descriptor_scale=None,
                 repulsive: RepulsivePotential | None = None, n_chains: int = 1, scheduler: Any = None,
                 n_workers: int | None = None, seed: int = 0):
        self.n_configs = n_configs
        self.n_atoms = n_atoms
        self.cell = cell
        self.element = element
        self.k_max = k_max
        self.t_start = t_start
        self.t_end = t_end
        self.n_steps = n_steps
        self.timestep = timestep
        self.friction = friction
        self.descriptor = descriptor
        self.descriptor_scale = descriptor_scale
        self.repulsive = repulsive
        self.n_chains = n_chains
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.seed = seed

    # ------------------------------------------------------------------ set-up
    def _check(self) -> tuple[np.ndarray, RepulsivePotential]:
        for name in ("n_configs", "n_atoms", "n_chains"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ParameterError(f"{name}={value!r} must be a whole number ≥ 1")
        if self.n_atoms < 2:
            raise ParameterError(f"n_atoms={self.n_atoms}: the entropy needs at least 2 atoms")
        if self.n_chains > self.n_configs:
            raise ParameterError(f"n_chains={self.n_chains} exceeds n_configs={self.n_configs}")
        if self.element not in atomic_numbers or self.element == "X":
            raise ParameterError(f"element={self.element!r} is not a chemical symbol like 'W' or 'Ge'")
        cell = as_cell(self.cell)
        repulsive = self.repulsive or RepulsivePotential()
        check_minimum_image(cell, repulsive.r_cut, "repulsive r_cut")
        return cell, repulsive

    def _seeds(self):
        root = np.random.SeedSequence(self.seed)
        scale_seed, *chain_seeds = root.spawn(self.n_chains + 1)
        return scale_seed, chain_seeds

    def _cycles_per_chain(self) -> list[int]:
        base, extra = divmod(self.n_configs, self.n_chains)
        return [base + (1 if c < extra else 0) for c in range(self.n_chains)]

    # ------------------------------------------------------------------ run
    def fit(self, progress: ProgressCallback | None = None, *,
            should_stop: StopCallback | None = None) -> EntropyMaximisationGenerator:
        """Run the chains and harvest ``n_configs`` configurations.

        ``progress(done, total, "configurations")`` is called as configurations are harvested
        (per cycle when serial, per finished chain otherwise); ``should_stop()`` is polled between
        cycles (serial) or chains: True keeps the configurations harvested so far (``stopped_`` True; raises
        :class:`~atomsieve.errors.Stopped` if there are none).
        """
        start = time.perf_counter()
        cell, repulsive = self._check()
        schedule = AnnealingSchedule(t_start=self.t_start, t_end=self.t_end, k_max=self.k_max,
                                     n_steps=self.n_steps, timestep=self.timestep, friction=self.friction)
        module = self.descriptor if self.descriptor is not None else default_symmetry_functions(self.element)
        numbers = np.full(self.n_atoms, atomic_numbers[self.element], dtype=np.int64)
        scale_seed, chain_seeds = self._seeds()
        start_min_distance = 0.9 * repulsive.r0
        if self.descriptor_scale is None:
            rng = np.random.default_rng(scale_seed)
            samples = [random_configuration(self.n_atoms, cell, rng, start_min_distance)
                       for _ in range(N_SCALE_CONFIGURATIONS)]
            scale = descriptor_scale(ConfigurationDescriptor(module, numbers, cell), samples)
        else:
            scale = ConfigurationDescriptor(module, numbers, cell, self.descriptor_scale).scale.numpy()
        repulsive_params = {k: getattr(repulsive, k) for k in ("e0", "n", "m", "r0", "r_cut")}
        specs = [ChainSpec(chain=c, n_cycles=n, numbers=numbers, cell=cell, module=module, scale=scale,
                           repulsive=repulsive_params, schedule=schedule, seed=chain_seeds[c],
                           start_min_distance=start_min_distance)
                 for c, n in enumerate(self._cycles_per_chain())]
        results: list[list[Harvest] | None] = [None] * len(specs)
        total = self.n_configs
        report(progress, 0, total, "configurations")
        with TaskRunner(self.scheduler, self.n_workers) as runner:
            if runner.is_serial:
                done_before = 0
                for i, spec in enumerate(specs):
                    if i and should_stop is not None and should_stop():
                        break
                    offset = done_before
                    results[i] = run_chain(
                        spec, lambda d, _t, _l, o=offset: report(progress, o + d, total, "configurations"),
                        should_stop=should_stop)
                    done_before += spec.n_cycles
                    if len(results[i]) < spec.n_cycles:
                        break  # stopped inside the chain
            else:
                done = 0
                for i, harvests in runner.map(run_chain, specs, should_stop=should_stop):
                    results[i] = harvests
                    done += len(harvests)
                    report(progress, done, total, "configurations")
        harvests = [h for chain in results if chain is not None for h in chain]
        if not harvests:
            from atomsieve.errors import Stopped

            raise Stopped("generator: stopped on request before any configuration was harvested")
        self.stopped_ = len(harvests) < self.n_configs
        self.descriptor_module_ = module
        self.descriptor_scale_ = scale
        self.configurations_ = self._dataset(harvests, numbers, cell, scale)
        self.entropies_ = np.array([h.entropy for h in harvests])
        self.min_distances_ = np.array([h.min_distance for h in harvests])
        self.seconds_ = time.perf_counter() - start
        self.seconds_per_configuration_ = self.seconds_ / len(harvests)
        return self

    def generate(self, progress: ProgressCallback | None = None, *,
                 should_stop: StopCallback | None = None) -> Dataset:
        """:meth:`fit`, then the harvested configurations (see :meth:`fit` for ``should_stop``)."""
        return self.fit(progress, should_stop=should_stop).configurations_

    def _dataset(self, harvests: list[Harvest], numbers: np.ndarray, cell: np.ndarray,
                 scale: np.ndarray) -> Dataset:
        frames = []
        for h in harvests:
            atoms = Atoms(numbers=numbers, positions=h.positions, cell=cell, pbc=True)
            atoms.info.update(entropy=h.entropy, repulsive_energy=h.repulsive_energy,
                              min_distance=h.min_distance, chain=h.chain, cycle=h.cycle,
                              k_max=float(self.k_max), generator="entropy_maximisation",
                              descriptor_scale=np.array(scale, dtype=np.float64))
            frames.append(atoms)
        formula = f"{chemical_symbols[numbers[0]]}{len(numbers)}"
        return Dataset(frames, source=f"generated {formula} k_max={self.k_max:g}")
