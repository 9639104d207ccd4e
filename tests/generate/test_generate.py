"""Entropy-maximisation generator: repulsion, entropy estimator, effective potential, annealing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ase import Atoms

from atomsieve import ParameterError
from atomsieve.generate import EntropyBiasCalculator, default_symmetry_functions
from atomsieve.generate.annealing import AnnealingSchedule
from atomsieve.generate.chains import minimum_distance, random_configuration
from atomsieve.generate.descriptor import ConfigurationDescriptor
from atomsieve.generate.effective import EntropyBiasedPotential
from atomsieve.generate.entropy import (
    kozachenko_leonenko_entropy,
    nearest_neighbour_distances,
    nearest_neighbour_entropy,
)
from atomsieve.generate.repulsive import RepulsivePotential, check_minimum_image, mie

CELL = np.diag([7.0, 7.5, 8.0])


def _close_configuration(n=8, seed=3):
    """Atoms close enough that the wall and the descriptors both act."""
    return random_configuration(n, CELL, np.random.default_rng(seed), min_distance=2.2)


# ---------------------------------------------------------------- repulsion
def test_pair_energy_follows_the_paper_formula_and_vanishes_at_the_cutoff():
    pot = RepulsivePotential()
    assert pot.pair_energy(pot.r_cut) == pytest.approx(0.0, abs=1e-14)
    r = 2.2
    expected = 1.0 / 4 * (4 * (2.7 / r) ** 8 - 8 * (2.7 / r) ** 4) - mie(2.71, 1.0, 8, 4, 2.7)
    assert pot.pair_energy(r) == pytest.approx(expected)
    # a pair is counted twice by the double sum Σ_i Σ_j
    energy, _ = pot.energy_and_forces(np.array([[0, 0, 0], [r, 0, 0]]), np.eye(3) * 10)
    assert energy == pytest.approx(2 * expected)
    assert pot.energy_and_forces(np.array([[0, 0, 0], [2.72, 0, 0]]), np.eye(3) * 10)[0] == 0.0


def test_repulsive_forces_analytic_autograd_and_finite_differences_agree():
    pot = RepulsivePotential()
    x = _close_configuration()
    energy, forces = pot.energy_and_forces(x, CELL)
    assert energy > 0 and np.abs(forces).max() > 0.1
    xt = torch.tensor(x, requires_grad=True)
    e_t = pot.energy(xt, torch.tensor(CELL))
    (grad,) = torch.autograd.grad(e_t, xt)
    assert float(e_t.detach()) == pytest.approx(energy, rel=1e-12)
    np.testing.assert_allclose(-grad.numpy(), forces, atol=1e-9)
    h = 1e-5
    for atom, axis in [(0, 0), (3, 1), (5, 2)]:
        plus, minus = x.copy(), x.copy()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        fd = -(pot.energy_and_forces(plus, CELL)[0] - pot.energy_and_forces(minus, CELL)[0]) / (2 * h)
        assert forces[atom, axis] == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_repulsion_acts_across_the_periodic_boundary():
    pot = RepulsivePotential()
    inside = pot.energy_and_forces(np.array([[3.0, 1, 1], [5.2, 1, 1]]), CELL)
    across = pot.energy_and_forces(np.array([[0.1, 1, 1], [CELL[0, 0] - 2.1, 1, 1]]), CELL)
    assert across[0] == pytest.approx(inside[0]) and inside[0] > 0
    assert across[1][0, 0] > 0  # pushed away from its image across the boundary: +x


def test_bad_repulsion_parameters_and_small_cells_are_refused():
    with pytest.raises(ParameterError, match="n > m"):
        RepulsivePotential(n=4, m=8)
    with pytest.raises(ParameterError, match="r0"):
        RepulsivePotential(r0=3.0, r_cut=2.0)
    with pytest.raises(ParameterError, match="half the smallest cell width"):
        check_minimum_image(np.eye(3) * 5.0, 2.71)


# ---------------------------------------------------------------- entropy estimator
def test_paper_entropy_on_hand_computed_points():
    q = [[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]]  # nearest distances 3, 4, 3
    assert float(nearest_neighbour_entropy(q)) == pytest.approx((2 * math.log(9) + math.log(12)) / 3)
    np.testing.assert_allclose(nearest_neighbour_distances(q).numpy(), [3, 4, 3])


def test_paper_entropy_permutation_invariant_and_shifts_by_log_of_a_scale():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(30, 4))
    s = float(nearest_neighbour_entropy(q))
    assert float(nearest_neighbour_entropy(q[rng.permutation(30)])) == pytest.approx(s)
    assert float(nearest_neighbour_entropy(2.5 * q + 7)) == pytest.approx(s + math.log(2.5))


@pytest.mark.parametrize("dimension", [1, 2])
def test_kozachenko_leonenko_recovers_the_entropy_of_known_distributions(dimension):
    rng = np.random.default_rng(dimension)
    a = 3.0
    uniform = rng.uniform(0, a, size=(2000, dimension))
    assert kozachenko_leonenko_entropy(uniform) == pytest.approx(dimension * math.log(a), abs=0.12)
    sigma = 0.5
    gauss = rng.normal(0, sigma, size=(2000, dimension))
    exact = dimension / 2 * math.log(2 * math.pi * math.e * sigma**2)
    assert kozachenko_leonenko_entropy(gauss) == pytest.approx(exact, abs=0.12)


def test_paper_entropy_is_the_1d_estimator_minus_constants():
    x = np.random.default_rng(5).normal(size=(500, 1))
    s = float(nearest_neighbour_entropy(x))
    h = kozachenko_leonenko_entropy(x)
    euler_gamma = 0.5772156649015329
    assert h == pytest.approx(s - math.log(500) + math.log(2) + euler_gamma + math.log(499))


def test_entropy_gradient_matches_finite_differences_and_is_finite_for_duplicates():
    q = torch.tensor(np.random.default_rng(2).normal(size=(5, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(nearest_neighbour_entropy, (q,))
    dup = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(nearest_neighbour_entropy(dup), dup)
    assert torch.isfinite(g).all()


def test_entropy_refuses_a_single_point():
    with pytest.raises(ParameterError, match="at least 2"):
        nearest_neighbour_entropy([[1.0, 2.0]])


# ---------------------------------------------------------------- effective potential
@pytest.fixture(scope="module")
def biased_potential():
    sf = default_symmetry_functions("W")
    numbers = [74] * 8
    scale = [1.5, 1, 0.5, 0.3, 0.1, 0.05]
    return EntropyBiasedPotential(ConfigurationDescriptor(sf, numbers, CELL, scale=scale))


def test_effective_forces_match_finite_differences_of_v(biased_potential):
    x = _close_configuration()
    k = 40.0
    e = biased_potential.evaluate(x, k)
    assert e.energy == pytest.approx(e.repulsive_energy - k * e.entropy)
    assert np.abs(e.forces).max() > 1.0
    h = 1e-5
    for atom, axis in [(0, 0), (2, 1), (4, 2), (7, 0)]:
        plus, minus = x.copy(), x.copy()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        v_plus = biased_potential.evaluate(plus, k).energy
        v_minus = biased_potential.evaluate(minus, k).energy
        fd = -(v_plus - v_minus) / (2 * h)
        assert e.forces[atom, axis] == pytest.approx(fd, rel=1e-4, abs=1e-5)


def test_effective_potential_without_bias_is_the_repulsion(biased_potential):
    x = _close_configuration()
    e0 = biased_potential.evaluate(x, 0.0)
    energy, forces = RepulsivePotential().energy_and_forces(x, CELL)
    assert e0.energy == pytest.approx(energy)
    np.testing.assert_allclose(e0.forces, forces)
    assert np.isfinite(e0.entropy)
    # the autograd path at a tiny K converges to the same forces
    np.testing.assert_allclose(biased_potential.evaluate(x, 1e-12).forces, forces, atol=1e-8)


def test_ase_calculator_gives_the_potential(biased_potential):
    x = _close_configuration()
    atoms = Atoms("W8", positions=x, cell=CELL, pbc=True)
    atoms.calc = EntropyBiasCalculator(biased_potential, bias_strength=25.0)
    direct = biased_potential.evaluate(x, 25.0)
    assert atoms.get_potential_energy() == pytest.approx(direct.energy)
    np.testing.assert_allclose(atoms.get_forces(), direct.forces)
    atoms.calc.set(bias_strength=0.0)
    assert atoms.get_potential_energy() == pytest.approx(direct.repulsive_energy)


@pytest.mark.parametrize("cell", [CELL, np.diag([6.0, 6.0, 6.0])])
def test_descriptor_equals_the_symmetry_function_module_with_its_gradient(cell):
    # 8.0 Å cells take the minimum-image fast path, 6.0 Å cells (r_cut 4.5 > 3.0) the module's own list
    sf = default_symmetry_functions("W")
    x = random_configuration(8, cell, np.random.default_rng(1), 2.2)
    d = ConfigurationDescriptor(sf, [74] * 8, cell, scale=[2.0] * 6)
    assert d.minimum_image == (cell[0, 0] > 2 * sf.r_cut)
    xt = torch.tensor(x, requires_grad=True)
    q = d(xt)
    (g,) = torch.autograd.grad((q * q).sum(), xt)
    xr = torch.tensor(x, requires_grad=True)
    ref = sf(torch.zeros(1, 8, dtype=torch.long), xr[None], torch.tensor(cell)[None],
             torch.ones(1, 3, dtype=torch.bool))[0] / 2.0
    (g_ref,) = torch.autograd.grad((ref * ref).sum(), xr)
    np.testing.assert_allclose(q.detach().numpy(), ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), atol=1e-10)


def test_descriptor_scale_must_match_the_descriptor():
    with pytest.raises(ParameterError, match="6 positive"):
        ConfigurationDescriptor(default_symmetry_functions("W"), [74, 74], CELL, scale=[1.0, 2.0])


# ---------------------------------------------------------------- annealing
def test_schedule_ramps_end_at_the_target_and_validates():
    s = AnnealingSchedule(t_start=10_000.0, k_max=1000.0, n_steps=10)
    assert s.temperature(9) == 0.0 and s.bias_strength(9) == 1000.0
    assert s.temperature(0) == pytest.approx(9000.0) and s.bias_strength(0) == pytest.approx(100.0)
    temps = [s.temperature(i) for i in range(10)]
    assert all(a > b for a, b in zip(temps, temps[1:]))
    for bad in ({"k_max": -1.0}, {"n_steps": 0}, {"timestep": 0.0}, {"t_start": -5.0}):
        with pytest.raises(ParameterError):
            AnnealingSchedule(**bad)


def test_random_configuration_respects_the_minimum_distance():
    x = random_configuration(39, np.diag([9.54, 9.54, 14.31]), np.random.default_rng(0), 2.43)
    assert minimum_distance(x, np.diag([9.54, 9.54, 14.31])) >= 2.43
    with pytest.raises(ParameterError, match="cannot place"):
        random_configuration(200, np.eye(3) * 6, np.random.default_rng(0), 2.4)


def test_langevin_free_particles_diffuse_at_the_thermostat_temperature():
    # Non-interacting atoms (dilute, no bias): the mean squared displacement of Langevin dynamics is
    # 6 (kT / (m γ)) (t − (1 − e^{−γt}) / γ); a wrong noise amplitude or friction would miss it.
    from ase import units

    from atomsieve.generate.annealing import LangevinIntegrator

    cell = np.eye(3) * 45.0
    n, temperature, friction, n_steps = 80, 1000.0, 0.01, 1200
    x0 = random_configuration(n, cell, np.random.default_rng(0), 3.0)
    descriptor = ConfigurationDescriptor(default_symmetry_functions("W"), [74] * n, cell)
    integrator = LangevinIntegrator(EntropyBiasedPotential(descriptor), np.full(n, 183.84),
                                    np.random.default_rng(1))
    schedule = AnnealingSchedule(t_start=temperature, t_end=temperature, k_max=0.0, n_steps=n_steps,
                                 timestep=1.0, friction=friction)
    x, _ = integrator.run_cycle(x0, schedule)
    msd = float(((x - x0) ** 2).sum(1).mean())
    kt_over_m = units.kB * temperature / 183.84 * units.fs**2  # Å²/fs²
    t = n_steps * 1.0
    expected = 6 * kt_over_m / friction * (t - (1 - math.exp(-friction * t)) / friction)
    assert msd == pytest.approx(expected, rel=0.3)  # 240 displacement components: ~9% spread
