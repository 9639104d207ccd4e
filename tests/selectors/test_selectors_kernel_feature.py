"""Kernel FPS (SOAP average / REMatch via DScribe) and force-correlation feature selection."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from dscribe.kernels import AverageKernel, REMatchKernel

from atomsieve.data import Dataset
from atomsieve.datasets import load_default
from atomsieve.descriptors import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.selectors import ForceCorrelation, KernelFPS, soap_features
from atomsieve.selectors.feature_selection import force_correlation_order, force_features_from_jacobian
from atomsieve.selectors.kernel_fps import fps_on_distances, global_kernel, kernel_distances, structure_blocks


def random_blocks(seed: int = 0, n: int = 7, d: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((int(rng.integers(2, 6)), d)) for _ in range(n)]


def test_average_kernel_equals_dscribe():
    blocks = random_blocks()
    expected = AverageKernel(metric="linear").create(blocks)
    np.testing.assert_allclose(global_kernel(blocks, "average"), expected, atol=1e-12)
    rbf = global_kernel(blocks, "average", metric="rbf", gamma=0.5, block_size=3)
    np.testing.assert_allclose(rbf, AverageKernel(metric="rbf", gamma=0.5).create(blocks), atol=1e-12)


def test_rematch_kernel_equals_dscribe_in_blocks():
    blocks = random_blocks(1)
    ours = global_kernel(blocks, "rematch", alpha=0.1, block_size=3)
    theirs = REMatchKernel(metric="linear", alpha=0.1, threshold=1e-6).create(blocks)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)  # Sinkhorn converged to 1e-6 either way
    np.testing.assert_allclose(np.diag(ours), 1.0)
    D = kernel_distances(ours)
    assert np.all(D >= 0) and np.allclose(D, D.T, atol=1e-3) and np.allclose(np.diag(D), 0.0)


def test_fps_on_distances_matches_euclidean_fps():
    from atomsieve.selectors.fps import farthest_point_sampling_reference

    points = np.random.default_rng(2).normal(size=(40, 3))
    D = np.linalg.norm(points[:, None] - points[None], axis=-1)
    expected = farthest_point_sampling_reference(points, 12, first=0)
    assert fps_on_distances(D, 12, 0, 0).tolist() == expected.tolist()


def test_kernel_fps_on_soap_of_germanium():
    ds = load_default("test").subset(range(8))
    f = soap_features(ds, r_cut=4.0, n_max=3, l_max=2)
    assert f.n_atoms == ds.n_atoms and f.params["kind"] == "soap"
    for kernel in ("average", "rematch"):
        sel = KernelFPS(4, kernel=kernel).fit(f)
        again = KernelFPS(4, kernel=kernel).fit(f)
        assert sel.selected_.tolist() == again.selected_.tolist()
        assert len(set(sel.selected_.tolist())) == 4
        assert np.allclose(np.diag(sel.kernel_), 1.0)
        assert np.all(np.diff(sel.distances_[1:]) <= 1e-12)
    blocks = structure_blocks(f, normalize=True)
    assert [len(b) for b in blocks] == ds.atom_counts.tolist()


def test_kernel_fps_errors():
    f = AtomicFeatures(values=np.eye(3), species=[1, 1, 1], structure=[0, 1, 2])
    with pytest.raises(ParameterError, match="kernel="):
        KernelFPS(2, kernel="polynomial").fit(f)
    with pytest.raises(ParameterError, match="larger than"):
        KernelFPS(4).fit(f)
    with pytest.raises(ParameterError, match="first="):
        KernelFPS(2, first="middle").fit(f)


def test_force_correlation_finds_the_informative_columns():
    rng = np.random.default_rng(3)
    D = rng.normal(size=(50, 3, 8))
    D[:, :, 5] = D[:, :, 1] + 1e-9 * rng.normal(size=(50, 3))  # a near copy of column 1
    forces = 1.5 * D[:, :, 1] - 0.7 * D[:, :, 6]
    order, corr, residual = force_correlation_order(D, forces, 3)
    assert set(order[:2].tolist()) in ({1, 6}, {5, 6})
    assert residual < 1e-6  # two columns explain the forces
    assert corr[0] > 0.8 and order[2] not in (1, 5)  # the near copy is spent once its twin is chosen
    f = AtomicFeatures(values=rng.random((50, 8)), species=[1] * 50, structure=np.arange(50) // 5)
    sel = ForceCorrelation(2).fit(f, force_features=D, forces=forces)
    assert sel.selected_.tolist() == order[:2].tolist()
    assert 0.0 <= sel.relative_norm_deviation_ <= 1.0 and sel.force_residual_ < 1e-6
    assert sel.transform(f).n_features == 2


def test_force_correlation_errors():
    f = AtomicFeatures(values=np.ones((4, 2)), species=[1] * 4, structure=[0, 0, 1, 1])
    with pytest.raises(ParameterError, match="force_features="):
        ForceCorrelation(1).fit(f)
    with pytest.raises(ParameterError, match="columns but the features have 2"):
        ForceCorrelation(1).fit(f, force_features=np.ones((4, 3, 3)), forces=np.ones((4, 3)))
    with pytest.raises(ParameterError, match="rows but forces"):
        ForceCorrelation(1).fit(f, force_features=np.ones((4, 3, 2)), forces=np.ones((5, 3)))
    with pytest.raises(ParameterError, match="all equal"):
        ForceCorrelation(1).fit(f, force_features=np.random.default_rng(0).random((4, 3, 2)),
                                forces=np.ones((4, 3)))
    with pytest.raises(ParameterError, match="larger than the 2 features"):
        ForceCorrelation(3).fit(f, force_features=np.ones((4, 3, 2)), forces=np.ones((4, 3)))


def test_force_features_from_symmetry_function_jacobian():
    """D from the descriptor's Jacobian reproduces the forces of a linear model."""
    from atomsieve.descriptors.presets import preset

    frames = []
    for i in range(2):
        atoms = bulk("Cu", cubic=True)
        atoms.rattle(0.1, seed=i)
        atoms.calc = EMT()
        frames.append(atoms)
    ds = Dataset(frames, forces=np.concatenate([a.get_forces() for a in frames]))
    sf = preset("li_single_element", ["Cu"], r_cut=4.0)
    jac = sf.jacobian(ds)
    D = force_features_from_jacobian(jac)
    assert D.shape == (ds.n_atoms, 3, sf.n_features)
    w = np.random.default_rng(0).normal(size=sf.n_features)
    np.testing.assert_allclose(D @ w, jac.forces(np.tile(w, (ds.n_atoms, 1))).numpy(), atol=1e-10)
    f = AtomicFeatures(values=jac.values.numpy(), species=ds.numbers, structure=ds.structure_index)
    sel = ForceCorrelation(5).fit(f, force_features=D, forces=ds.forces)
    assert len(set(sel.selected_.tolist())) == 5 and 0.0 <= sel.force_residual_ <= 1.0
