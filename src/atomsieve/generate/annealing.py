"""Annealing cycles: thermostatted MD with the temperature ramped down while the bias K ramps up.

Each cycle starts at ``t_start`` with K = 0 (velocities redrawn from Maxwell–Boltzmann) and, over
``n_steps`` Langevin steps, lowers the temperature linearly to ``t_end`` while K rises linearly to
``k_max`` (Karabin & Perez: 10,000 K → 0 K, K_max = 1000 eV). The configuration at the end of the
cycle is harvested. The integrator is BAOAB Langevin (Leimkuhler & Matthews), seeded through a
``numpy.random.Generator``. Units: ASE's (Å, eV, amu; time in ``ase.units.fs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units

from atomsieve.errors import AtomsieveError, ParameterError
from atomsieve.generate.effective import EntropyBiasedPotential, Evaluation

#: Largest displacement of an atom in one step (Å) before the run is declared unstable.
MAX_STEP_DISPLACEMENT = 0.5


@dataclass(frozen=True)
class AnnealingSchedule:
    """Linear temperature and bias ramps of one annealing cycle.

    Parameters
    ----------
    t_start, t_end : float
        Temperature (K) at the start and at the end of the cycle.
    k_max : float
        Bias strength K (eV) reached at the end; 0 gives the unbiased reference.
    n_steps : int
        MD steps per cycle.
    timestep : float
        fs.
    friction : float
        Langevin friction, 1/fs.

    Examples
    --------
    >>> s = AnnealingSchedule(t_start=1000.0, k_max=10.0, n_steps=4)
    >>> [s.temperature(i) for i in range(4)], [s.bias_strength(i) for i in range(4)]
    ([750.0, 500.0, 250.0, 0.0], [2.5, 5.0, 7.5, 10.0])
    """

    t_start: float = 10_000.0
    t_end: float = 0.0
    k_max: float = 1000.0
    n_steps: int = 1000
    timestep: float = 1.0
    friction: float = 0.01

    def __post_init__(self) -> None:
        temps = (self.t_start, self.t_end)
        if not all(np.isfinite(t) and t >= 0 for t in temps):
            raise ParameterError(f"t_start={self.t_start}, t_end={self.t_end}: temperatures must be ≥ 0 K")
        if not (np.isfinite(self.k_max) and self.k_max >= 0):
            raise ParameterError(f"k_max={self.k_max} must be a finite bias strength ≥ 0 eV (0: unbiased)")
        if not (isinstance(self.n_steps, (int, np.integer)) and self.n_steps >= 1):
            raise ParameterError(f"n_steps={self.n_steps} must be a whole number of MD steps ≥ 1")
        if not (np.isfinite(self.timestep) and 0 < self.timestep <= 10):
            raise ParameterError(f"timestep={self.timestep} fs must lie in (0, 10]")
        if not (np.isfinite(self.friction) and self.friction >= 0):
            raise ParameterError(f"friction={self.friction} must be ≥ 0 per fs")

    def fraction(self, step: int) -> float:
        """How far step ``step`` (0-based) is through the cycle: 1/n_steps … 1."""
        return (step + 1) / self.n_steps

    def temperature(self, step: int) -> float:
        """Thermostat temperature (K) during step ``step``."""
        return self.t_start + (self.t_end - self.t_start) * self.fraction(step)

    def bias_strength(self, step: int) -> float:
        """K (eV) during step ``step``."""
        return self.k_max * self.fraction(step)


class LangevinIntegrator:
    """BAOAB Langevin dynamics of an :class:`EntropyBiasedPotential` under a changing schedule.

    Parameters
    ----------
    potential : EntropyBiasedPotential
    masses : array (A,)
        amu.
    rng : numpy.random.Generator
        The only source of randomness (velocities and thermostat noise).

    Examples
    --------
    >>> from atomsieve.generate.descriptor import ConfigurationDescriptor, default_symmetry_functions
    >>> cell = np.eye(3) * 9.0
    >>> d = ConfigurationDescriptor(default_symmetry_functions("W"), [74] * 2, cell)
    >>> md = LangevinIntegrator(EntropyBiasedPotential(d), [183.84] * 2, np.random.default_rng(0))
    >>> x, final = md.run_cycle([[0.0, 0, 0], [3.0, 0, 0]], AnnealingSchedule(k_max=0.0, n_steps=50))
    >>> x.shape, final.repulsive_energy >= 0
    ((2, 3), True)
    """

    def __init__(self, potential: EntropyBiasedPotential, masses, rng: np.random.Generator):
        self.potential = potential
        self.masses = np.asarray(masses, dtype=np.float64)[:, None]
        self.rng = rng

    def maxwell_boltzmann(self, temperature: float) -> np.ndarray:
        """Velocities (Å per ASE time unit) drawn at ``temperature`` K with zero total momentum."""
        sigma = np.sqrt(units.kB * temperature / self.masses)
        v = self.rng.standard_normal((len(self.masses), 3)) * sigma
        return v - (self.masses * v).sum(0) / self.masses.sum()

    def run_cycle(self, positions: np.ndarray, schedule: AnnealingSchedule) -> tuple[np.ndarray, Evaluation]:
        """One annealing cycle from ``positions`` (A, 3) Å; returns the final positions and the
        evaluation there (with the entropy)."""
        x = np.array(positions, dtype=np.float64)
        dt = schedule.timestep * units.fs
        c1 = np.exp(-schedule.friction / units.fs * dt)
        v = self.maxwell_boltzmann(schedule.t_start)
        # One force evaluation per step: the first half kick of a step uses the forces of the previous
        # step's K, which differs by k_max / n_steps.
        evaluation = self.potential.evaluate(x, 0.0, with_entropy=False)
        for step in range(schedule.n_steps):
            k = schedule.bias_strength(step)
            kt = units.kB * schedule.temperature(step)
            v += 0.5 * dt * evaluation.forces / self.masses  # B
            move = 0.5 * dt * v  # A
            v = c1 * v + np.sqrt((1 - c1 * c1) * kt / self.masses) * self.rng.standard_normal(v.shape)  # O
            move += 0.5 * dt * v  # A
            largest = float(np.sqrt((move * move).sum(1).max()))
            if not np.isfinite(largest) or largest > MAX_STEP_DISPLACEMENT:
                raise AtomsieveError(
                    f"MD became unstable at step {step} (an atom moved {largest:.3g} Å in one step, "
                    f"K={k:.4g} eV); "
                    f"use a smaller timestep than {schedule.timestep} fs or a smaller k_max"
                )
            x += move
            evaluation = self.potential.evaluate(x, k, with_entropy=False)
            v += 0.5 * dt * evaluation.forces / self.masses  # B
        final = self.potential.evaluate(x, schedule.bias_strength(schedule.n_steps - 1), with_entropy=True)
        return x, final
