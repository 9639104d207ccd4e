"""Chunks, parent labelling, force locality and initial cells of nearsighted force training."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.cluster import Octahedron

from atomsieve.active.chunks import central_atom, cut_chunk, cut_chunks, neighbourhood
from atomsieve.active.initial import (
    candidate_cells,
    optimal_lattice_constant,
    random_bulk_cells,
    rattled_repeats,
)
from atomsieve.active.locality import force_locality
from atomsieve.active.parents import ParentError, label_structures, make_parent, parent_factory
from atomsieve.errors import ParameterError


def rattled_octahedron(seed=0):
    atoms = Octahedron("Pt", 6, 2)
    atoms.positions += np.random.default_rng(seed).normal(0, 0.1, atoms.positions.shape)
    return atoms


def test_chunk_holds_exactly_the_atoms_within_cutoff_central_first():
    atoms = rattled_octahedron()
    centre, cutoff = 17, 5.0
    chunk = cut_chunk(atoms, centre, cutoff)
    dist = np.linalg.norm(atoms.positions - atoms.positions[centre], axis=1)
    expected = set(np.flatnonzero(dist <= cutoff).tolist())
    assert set(chunk.arrays["source_index"].tolist()) == expected
    assert len(chunk) == len(expected)
    assert chunk.arrays["source_index"][0] == centre
    assert chunk.info["central_atom"] == 0 and central_atom(chunk) == 0
    assert chunk.arrays["central"].tolist() == [True] + [False] * (len(chunk) - 1)
    # geometry is kept: every distance to the centre equals the one in the target
    got = np.linalg.norm(chunk.positions - chunk.positions[0], axis=1)
    np.testing.assert_allclose(got, dist[chunk.arrays["source_index"]], atol=1e-10)
    assert not chunk.pbc.any()
    # vacuum: the chunk sits inside its box with room to spare
    assert chunk.positions.min() >= 6.0 - 1e-9 and chunk.positions.max() <= chunk.cell[0, 0] - 6.0 + 1e-9


def test_periodic_target_uses_minimum_image():
    atoms = bulk("Pt", "fcc", a=3.92, cubic=True).repeat((3, 3, 3))
    atoms.rattle(0.05, seed=1)
    centre = 0  # at the corner: most neighbours are images across the boundary
    chunk = cut_chunk(atoms, centre, 3.0)
    assert len(chunk) == 13  # fcc: 12 nearest neighbours + the centre
    d = atoms.get_distances(centre, chunk.arrays["source_index"][1:], mic=True)
    got = np.linalg.norm(chunk.positions[1:] - chunk.positions[0], axis=1)
    np.testing.assert_allclose(np.sort(got), np.sort(d), atol=1e-10)


def test_small_cell_gives_every_periodic_image():
    cell = bulk("Pt", "fcc", a=3.92, cubic=True)  # 4 atoms, side 3.92 < cutoff
    chunk = cut_chunk(cell, 0, 4.0)
    assert len(chunk) == 1 + 12 + 6  # first and second fcc shells (2.77 Å and 3.92 Å)
    idx, vec = neighbourhood(cell, 0, 4.0)
    assert len(idx) == 18 and np.all(np.linalg.norm(vec, axis=1) <= 4.0)


def test_periodic_chunk_of_a_slab_keeps_surface_and_lateral_periodicity():
    slab = fcc111("Pt", size=(6, 6, 4), vacuum=8.0)
    centre = len(slab) - 1  # a top-layer atom
    chunk = cut_chunk(slab, centre, 4.0, periodic=True)
    assert chunk.pbc.tolist() == [True, True, False]
    np.testing.assert_allclose(np.diag(chunk.cell)[:2], 8.0)
    assert chunk.info["chunk_kind"] == "periodic" and chunk.arrays["central"][0]
    # no two atoms overlap across the new periodic boundaries
    assert min(chunk.get_all_distances(mic=True)[np.triu_indices(len(chunk), 1)]) > 0.5
    with pytest.raises(ParameterError, match="periodic direction"):
        cut_chunk(Octahedron("Pt", 4, 1), 0, 3.0, periodic=True)


def test_chunk_errors_name_the_problem():
    atoms = Octahedron("Pt", 4, 1)
    with pytest.raises(ParameterError, match="outside the target"):
        cut_chunk(atoms, 99, 3.0)
    with pytest.raises(ParameterError, match="positive"):
        cut_chunk(atoms, 0, 0.0)
    with pytest.raises(ParameterError, match="not a chunk"):
        central_atom(Atoms("H"))
    assert [c.info["source_atom"] for c in cut_chunks(atoms, [3, 1], 3.0)] == [3, 1]


def test_label_structures_serial_matches_direct_emt():
    atoms = rattled_octahedron()
    chunks = cut_chunks(atoms, [0, 5], 4.5)
    labelled = label_structures(chunks, "emt")
    for chunk, out in zip(chunks, labelled):
        ref = chunk.copy()
        ref.calc = EMT()
        np.testing.assert_allclose(out.get_forces(), ref.get_forces(), atol=1e-12)
        assert out.get_potential_energy() == pytest.approx(ref.get_potential_energy())
        assert out.arrays["central"][0] and out.info["parent_seconds"] >= 0


@pytest.mark.slow
def test_label_structures_on_a_dask_local_cluster():
    atoms = rattled_octahedron()
    chunks = cut_chunks(atoms, [0, 1, 2], 4.0)
    seen = []
    labelled = label_structures(chunks, "emt", scheduler="local", n_workers=2,
                                progress=lambda d, t, label: seen.append((d, t)))
    serial = label_structures(chunks, "emt")
    for a, b in zip(labelled, serial):
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-12)
    assert seen[-1] == (3, 3)


def test_parent_errors():
    with pytest.raises(ParameterError, match="unknown"):
        parent_factory("dft-please")
    assert make_parent("EMT").__class__.__name__ == "EMT"

    # EMT has no parameters for uranium: the failure names the structure
    with pytest.raises(ParentError, match="structure 0"):
        label_structures([Atoms("U2", positions=[[0, 0, 0], [0, 0, 2.5]])], "emt")


def test_force_locality_converges_for_emt_platinum():
    atoms = rattled_octahedron()
    study = force_locality(atoms, 40, [3.0, 4.0, 5.0, 6.5, 8.0, 20.0], "emt")
    assert study.n_atoms[-1] == len(atoms)  # 20 Å holds the whole cluster
    assert study.errors[-1] < 1e-9
    assert study.errors[0] > 0.1  # the first shell alone is far off
    assert study.errors[3] < 0.02  # EMT on Pt is converged at 6.5 Å (paper: Fig. 2)
    assert study.converged_radius(0.02) <= 6.5
    assert len(study.as_table()) == 6


def test_optimal_lattice_constant_is_the_emt_minimum():
    a0 = optimal_lattice_constant("Pt", "emt")
    energies = []
    for a in (a0 - 0.01, a0, a0 + 0.01):
        cell = bulk("Pt", "fcc", a=a, cubic=True)
        cell.calc = EMT()
        energies.append(cell.get_potential_energy())
    assert energies[1] < energies[0] and energies[1] < energies[2]
    with pytest.raises(ParameterError, match="chemical symbol"):
        optimal_lattice_constant("Xx")


def test_random_cells_and_rattled_repeats():
    cells = random_bulk_cells("Pt", 3.92, 6, seed=3)
    assert [c.info["spacegroup"] for c in cells] == [225, 79] * 3
    for c in cells:
        v = c.get_volume() / len(c)
        assert 3.92**3 / 4 * 0.92**3 - 1e-9 <= v <= 3.92**3 / 4 * 1.08**3 + 1e-9
        if c.info["spacegroup"] == 79:
            a, b, cc = c.cell.lengths()
            assert a == pytest.approx(b) and len(c) == 2
    again = random_bulk_cells("Pt", 3.92, 6, seed=3)
    assert [c.get_volume() for c in again] == [c.get_volume() for c in cells]
    reps = rattled_repeats(cells[:2], n_rattle=2, stdev=0.1, seed=0)
    assert [len(r) for r in reps] == [32, 32, 16, 16]
    assert not np.allclose(reps[0].positions, reps[1].positions)
    assert len(candidate_cells("Pt", 3.92, 4, 2)) == 4 + 8


@pytest.mark.slow
def test_gfn1_xtb_parent_labels_a_small_chunk():
    pytest.importorskip("tblite")
    chunk = cut_chunk(Octahedron("Pt", 4, 1), 0, 3.0)
    labelled = label_structures([chunk], "gfn1-xtb")[0]
    forces = labelled.get_forces()
    assert forces.shape == (len(chunk), 3) and np.all(np.isfinite(forces))
    # no net force on an isolated cluster
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-4)
    assert labelled.get_potential_energy() < 0
