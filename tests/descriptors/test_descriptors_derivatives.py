"""Derivatives: the autograd path and the sparse Jacobian against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from atomsieve.descriptors import SymmetryFunctions, preset


def small_molecule():
    rng = np.random.default_rng(5)
    pos = rng.uniform(0, 2.6, (6, 3))
    return Atoms("COHHHH", positions=pos)


def small_crystal():
    at = bulk("Si", "diamond", a=5.43) * (1, 1, 1)
    at.rattle(0.08, seed=1)
    return at


def descriptors():
    mixed = SymmetryFunctions(
        ["C", "O", "H", "Si"], 3.6,
        radial=[{"form": "g1"}, {"form": "g2", "eta": 0.7, "r_s": 1.1},
                {"form": "li", "eta": 30.0, "r_s": 1.5}],
        angular=[{"form": "g4", "eta": 0.05, "zeta": 2.0, "lambda": -1.0},
                 {"form": "g5", "eta": 0.1, "zeta": 1.0, "lambda": 1.0},
                 {"form": "li", "eta": 1.0, "zeta": 4.0, "lambda": 1.0, "theta_s": 1.2}],
    )
    return [mixed, preset("li_two_element", ["C", "O", "H", "Si"], r_cut=3.6)]


def as_inputs(sf, atoms):
    species = sf.species_index(torch.tensor(atoms.numbers[None]))
    pos = torch.tensor(atoms.positions[None], dtype=torch.float64)
    cell = torch.tensor(atoms.cell.array[None], dtype=torch.float64)
    pbc = torch.tensor(atoms.pbc[None])
    return species, pos, cell, pbc


@pytest.mark.parametrize("atoms_factory", [small_molecule, small_crystal])
@pytest.mark.parametrize("which", [0, 1])
def test_autograd_path_matches_finite_differences(atoms_factory, which):
    sf = descriptors()[which]
    species, pos, cell, pbc = as_inputs(sf, atoms_factory())
    weights = torch.linspace(-1.0, 1.0, sf.n_features, dtype=torch.float64)

    def energy(p):
        return (sf(species, p, cell, pbc) * weights).sum()

    pos.requires_grad_(True)
    assert torch.autograd.gradcheck(energy, (pos,), eps=1e-6, atol=1e-6, rtol=1e-5)
    out = sf(species, pos, cell, pbc)
    assert out.shape == (1, len(species[0]), sf.n_features)


def test_padded_batch_forward_equals_compute():
    sf = descriptors()[1]
    frames = [small_molecule(), small_crystal()]
    A = max(map(len, frames))
    species = torch.full((2, A), -1, dtype=torch.long)
    pos = torch.zeros(2, A, 3, dtype=torch.float64)
    cells = torch.zeros(2, 3, 3, dtype=torch.float64)
    pbc = torch.zeros(2, 3, dtype=torch.bool)
    for b, at in enumerate(frames):
        species[b, : len(at)] = sf.species_index(torch.tensor(at.numbers))
        pos[b, : len(at)] = torch.tensor(at.positions)
        cells[b] = torch.tensor(at.cell.array)
        pbc[b] = torch.tensor(at.pbc)
    out = sf(species, pos, cells, pbc)
    ref = sf.compute(frames, scaler="none").values
    got = torch.cat([out[b, : len(at)] for b, at in enumerate(frames)]).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert torch.all(out[0, len(frames[0]) :] == 0)


@pytest.mark.parametrize("which", [0, 1])
def test_jacobian_matches_finite_differences(which):
    sf = descriptors()[which]
    frames = [small_molecule(), small_crystal()]
    jac = sf.jacobian(frames)
    dense = jac.dense().numpy()  # (N, F, N, 3)
    np.testing.assert_allclose(jac.values.numpy(), sf.compute(frames, scaler="none").values, rtol=1e-12)
    h = 1e-5
    offset = 0
    for at in frames:
        n = len(at)
        for j in range(n):
            for c in range(3):
                plus, minus = at.copy(), at.copy()
                plus.positions[j, c] += h
                minus.positions[j, c] -= h
                up, down = sf.compute(plus, scaler="none"), sf.compute(minus, scaler="none")
                fd = (up.values - down.values) / (2 * h)
                block = dense[offset : offset + n, :, offset + j, c]
                np.testing.assert_allclose(block, fd, rtol=1e-5, atol=1e-7)
        offset += n
    # No blocks across structures.
    assert torch.all(jac.structure[jac.center] == jac.structure[jac.neighbor])


def test_jacobian_forces_equal_autograd_forces():
    sf = preset("li_two_element", ["C", "O", "H", "Si"], r_cut=3.6)
    at = small_crystal()
    species, pos, cell, pbc = as_inputs(sf, at)
    rng = np.random.default_rng(0)
    w = torch.tensor(rng.normal(size=sf.n_features))
    pos.requires_grad_(True)
    energy = (sf(species, pos, cell, pbc)[0] * w).sum()
    (grad,) = torch.autograd.grad(energy, pos)
    jac = sf.jacobian(at)
    forces = jac.forces(w.expand(len(at), -1))
    np.testing.assert_allclose(forces.numpy(), -grad[0].numpy(), rtol=1e-9, atol=1e-12)
    # The sum of forces of an isolated system vanishes (translation invariance).
    assert torch.allclose(forces.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-10)


def test_jacobian_of_lone_atom_is_empty_and_finite():
    sf = preset("li_two_element", ["H", "O"])
    jac = sf.jacobian([Atoms("O"), Atoms("HO", positions=[[0, 0, 0], [0.1, 0, 0]])])
    assert torch.isfinite(jac.grad).all() and torch.isfinite(jac.values).all()
    assert not bool((jac.center == 0).any())
