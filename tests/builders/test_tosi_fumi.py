"""Physics of the Born–Mayer–Huggins–Tosi–Fumi NaCl calculator and its pair finder."""

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.md.verlet import VelocityVerlet
from ase.neighborlist import neighbor_list
from scipy.optimize import minimize_scalar

from atomsieve.builders.pairs import pairs_within
from atomsieve.builders.sampling import thermalize
from atomsieve.builders.tosi_fumi import COULOMB_CONSTANT, TosiFumi, tosi_fumi_nacl_parameters
from atomsieve.errors import ParameterError


def rattled_crystal(seed=0, a=5.64):
    atoms = bulk("NaCl", "rocksalt", a=a, cubic=True).repeat(2)
    atoms.rattle(0.15, seed=seed)
    return atoms


def test_parameters_match_the_tabulated_ev_values():
    # Anwar, Frenkel & Noro, J. Chem. Phys. 118, 728 (2003), Table I, converted from kJ/mol
    kj = 96.485332
    p = tosi_fumi_nacl_parameters()
    assert p["Na", "Na"]["A"] == pytest.approx(25.4435 / kj, rel=1e-3)
    assert p["Na", "Cl"]["A"] == pytest.approx(20.3548 / kj, rel=1e-3)
    assert p["Cl", "Cl"]["A"] == pytest.approx(15.2661 / kj, rel=1e-3)
    assert p["Na", "Cl"]["C"] == pytest.approx(674.4793 / kj, rel=1e-3)
    assert p["Cl", "Cl"]["D"] == pytest.approx(14031.5785 / kj, rel=1e-3)
    assert [p[k]["sigma"] for k in p] == [2.34, 2.755, 3.17]
    assert COULOMB_CONSTANT == pytest.approx(14.399645, rel=1e-6)


def test_forces_equal_finite_differences():
    atoms = rattled_crystal(seed=1)
    atoms.calc = TosiFumi()
    some = [0, 5, 17, 40, 63]
    numeric = calculate_numerical_forces(atoms, eps=1e-4, iatoms=some)
    assert np.abs(atoms.get_forces()[some] - numeric).max() < 1e-5
    assert np.abs(atoms.get_forces()).max() > 0.1  # the rattle makes real forces


def test_forces_equal_finite_differences_for_a_cluster():
    atoms = Atoms("Na2Cl2", positions=[[0, 0, 0], [2.9, 2.9, 0], [2.8, 0.1, 0.2], [0.1, 2.7, -0.3]])
    atoms.calc = TosiFumi()
    numeric = calculate_numerical_forces(atoms, eps=1e-5)
    assert np.abs(atoms.get_forces() - numeric).max() < 1e-5
    assert "stress" not in atoms.calc.results


def test_stress_equals_finite_differences():
    atoms = rattled_crystal(seed=2)
    atoms.calc = TosiFumi()
    numeric = calculate_numerical_stress(atoms, eps=1e-5)
    assert np.abs(atoms.get_stress() - numeric).max() < 1e-7


def test_per_atom_energies_sum_to_the_total():
    atoms = rattled_crystal(seed=3)
    atoms.calc = TosiFumi()
    assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    assert atoms.get_potential_energies().shape == (len(atoms),)


def test_energy_and_force_vanish_smoothly_at_the_cutoff():
    calc = TosiFumi(cutoff=8.0)
    energies = []
    for r in (7.999, 8.0 - 1e-9):
        energies.append(calc.get_potential_energy(Atoms("NaCl", positions=[[0, 0, 0], [r, 0, 0]])))
    kernel_at_cutoff = calc._coulomb_kernel(np.array([8.0]))[0][0]
    self_energy = 2 * -COULOMB_CONSTANT * (0.5 * kernel_at_cutoff + 0.25 / np.sqrt(np.pi))
    assert energies[1] == pytest.approx(self_energy, abs=1e-9)
    assert abs(energies[0] - energies[1]) < 1e-6


def test_rock_salt_lattice_constant_and_cohesive_energy():
    def energy(a):
        atoms = bulk("NaCl", "rocksalt", a=a)
        atoms.calc = TosiFumi()
        return atoms.get_potential_energy()

    best = minimize_scalar(energy, bounds=(5.2, 6.2), method="bounded", options={"xatol": 1e-4})
    # experiment: a = 5.64 Å at room temperature (5.60 Å extrapolated to 0 K), lattice energy
    # 786 kJ/mol = 8.15 eV per ion pair; Tosi-Fumi gives a slightly smaller, less bound crystal
    assert 5.55 < best.x < 5.70
    assert -8.3 < best.fun < -7.8


def test_dsf_coulomb_reproduces_the_madelung_energy():
    calc = TosiFumi()
    calc._table[[0, 3, 4]] = 0.0  # A, C, D = 0: Coulomb only
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    madelung = -1.747565 * COULOMB_CONSTANT / (5.64 / 2)
    assert calc.get_potential_energy(atoms) == pytest.approx(madelung, rel=2e-3)


def test_energy_is_conserved_in_nve():
    atoms = rattled_crystal(seed=4, a=5.9)
    atoms.calc = TosiFumi(cutoff=8.0)
    thermalize(atoms, 1200, np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    totals = []
    for _ in range(40):
        dyn.run(5)
        totals.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
    totals = np.array(totals) / len(atoms)
    temperature = atoms.get_kinetic_energy() / (1.5 * units.kB * len(atoms))
    assert temperature > 200  # the ions really moved
    assert np.ptp(totals) < 2e-3  # eV/atom over 200 fs
    assert abs(np.polyfit(np.arange(len(totals)), totals, 1)[0]) * len(totals) < 1e-3


def test_unknown_elements_and_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="only Na and Cl"):
        TosiFumi().get_potential_energy(bulk("KCl", "rocksalt", a=6.3))
    with pytest.raises(ParameterError, match="cutoff"):
        TosiFumi(cutoff=-1)


@pytest.mark.parametrize("case", ["box", "slab", "triclinic", "large-box"])
def test_pairs_within_matches_ase_neighbor_list(case):
    if case == "box":
        atoms = bulk("NaCl", "rocksalt", a=6.0, cubic=True).repeat((2, 2, 3))[:44]
    elif case == "slab":
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 2, 1))
        atoms.pbc = [True, True, False]
    elif case == "triclinic":
        atoms = bulk("NaCl", "rocksalt", a=5.64).repeat((2, 1, 3))
    else:  # wider than twice the cutoff: the periodic k-d tree path
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((3, 3, 3))
        atoms.positions[0] -= [0.05, 0, 0]  # one atom just outside the box
    atoms.rattle(0.2, seed=5)
    ours = pairs_within(atoms, 7.5)
    ref = neighbor_list("ijdD", atoms, 7.5)
    key = lambda i, j, d: sorted(zip(i.tolist(), j.tolist(), np.round(d, 9).tolist()))
    assert key(*ours[:3]) == key(*ref[:3])
    order = np.lexsort((*np.round(ours[3], 9).T[::-1], ours[1], ours[0]))
    order_ref = np.lexsort((*np.round(ref[3], 9).T[::-1], ref[1], ref[0]))
    np.testing.assert_allclose(ours[3][order], ref[3][order_ref], atol=1e-9)
