"""RDFs with minimum image, RDF distances, blow-up detection and the md-check verdicts."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.calculators.mixing import SumCalculator
from ase.calculators.morse import MorsePotential
from ase.geometry.rdf import get_rdf

import atomsieve
from atomsieve.builders import md_structure
from atomsieve.cli import main
from atomsieve.errors import ParameterError
from atomsieve.evaluate.md_check import BlowUpLimits, md_check, run_nvt
from atomsieve.evaluate.rdf import (
    largest_rdf_radius,
    nearest_neighbour_distances,
    pair_distances,
    radial_distribution,
    rdf_distance,
)

CU = bulk("Cu", "fcc", a=3.59, cubic=True).repeat(2)  # 32 atoms, RDF up to 3.59 Å
FAST = {"n_steps": 40, "equilibration_steps": 10, "sample_every": 10, "r_max": 3.5, "n_bins": 35,
        "nve_steps": 20}


class BreaksAfter(Calculator):
    """EMT until ``calls`` evaluations have been made, then NaN forces or an exception."""

    implemented_properties = ["energy", "forces", "energies", "free_energy"]

    def __init__(self, calls, how="nan"):
        super().__init__()
        self.emt, self.calls, self.how, self.count = EMT(), calls, how, 0

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.count += 1
        self.emt.calculate(self.atoms, ["energy", "forces", "energies"], all_changes)
        self.results = dict(self.emt.results)
        if self.count > self.calls:
            if self.how == "raise":
                raise RuntimeError("model exploded")
            self.results["forces"] = np.full((len(self.atoms), 3), np.nan)


class Pushed(Calculator):
    """EMT plus a constant force along x that no energy accounts for: not conservative."""

    implemented_properties = ["energy", "forces", "energies", "free_energy"]

    def __init__(self, push):
        super().__init__()
        self.emt, self.push = EMT(), push

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.emt.calculate(self.atoms, ["energy", "forces", "energies"], all_changes)
        self.results = dict(self.emt.results)
        self.results["forces"] = self.results["forces"] + [self.push, 0.0, 0.0]


def salt(seed=0):
    atoms = md_structure("molten-nacl", 64, seed=seed)
    atoms.rattle(0.1, seed=seed)
    return atoms


@pytest.mark.parametrize("elements", [("Na", "Cl"), ("Na", "Na"), ("Cl", "Cl")])
def test_partial_rdfs_equal_ase(elements):
    atoms = salt()
    ours = radial_distribution(atoms, 4.5, 45)
    theirs, r = get_rdf(atoms, 4.5, 45, elements=elements)
    np.testing.assert_allclose(ours.r, r)
    np.testing.assert_allclose(ours.g["-".join(elements)], theirs, atol=1e-10)


def test_minimum_image_is_exact_in_a_skewed_cell():
    atoms = bulk("Cu", "fcc", a=3.6).repeat((3, 3, 3))  # primitive fcc cell: strongly non-orthogonal
    atoms.rattle(0.05, seed=1)
    radius = largest_rdf_radius([atoms])
    ours = np.sort(pair_distances(atoms, np.arange(len(atoms)), np.arange(len(atoms)), radius))
    full = atoms.get_all_distances(mic=True)  # ASE's exhaustive minimum image
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(ours, np.sort(full[full < radius]))
    assert nearest_neighbour_distances(atoms) == pytest.approx(full.min(axis=1))


def test_rdf_of_an_ideal_gas_is_near_one_and_rdf_distance_is_a_metric():
    rng = np.random.default_rng(0)
    frames = [Atoms("Ar400", positions=rng.uniform(0, 20, (400, 3)), cell=[20] * 3, pbc=True)
              for _ in range(5)]
    gas = radial_distribution(frames, 9.0, 30)
    assert np.mean(gas.g["Ar-Ar"][10:]) == pytest.approx(1.0, abs=0.05)
    crystal = radial_distribution(bulk("Ar", "fcc", a=5.26, cubic=True).repeat(4), 9.0, 30)
    d = rdf_distance(gas, crystal)["Ar-Ar"]
    assert d > 1.0 and rdf_distance(crystal, gas)["Ar-Ar"] == pytest.approx(d)
    assert rdf_distance(gas, gas)["Ar-Ar"] == 0.0


def test_cluster_rdf_is_a_normalised_distance_density():
    cluster = md_structure("pdh-cluster")
    rdf = radial_distribution(cluster, 12.0, 240)
    assert not rdf.periodic
    widths = np.diff(rdf.edges)
    assert np.sum(rdf.g["Pd-Pd"] * widths) == pytest.approx(12 / 13)  # 13*12 ordered pairs of 13*13
    assert np.sum(rdf.g["H-Pd"] * widths) == pytest.approx(1.0)


def test_rdf_refuses_what_it_cannot_do():
    with pytest.raises(ParameterError, match="exceeds half the smallest cell width"):
        radial_distribution(CU, 4.0)
    with pytest.raises(ParameterError, match="mix periodic"):
        radial_distribution([CU, md_structure("pdh-cluster")], 3.0)
    a = radial_distribution(CU, 3.0, 30)
    with pytest.raises(ParameterError, match="different bins"):
        rdf_distance(a, radial_distribution(CU, 3.0, 20))


def test_same_calculator_as_reference_passes():
    report = md_check(EMT(), CU, EMT(), temperature=500, **FAST)
    assert report.verdict == "ok" and report.ok and report.reasons == []
    assert report.rdf_distance == {"Cu-Cu": 0.0} and report.steps_run == 40
    assert report.min_distance == report.reference_min_distance
    assert 0 <= report.nve_drift < 1e-3  # EMT conserves energy


def test_a_non_conservative_potential_fails_the_nve_check():
    report = md_check(Pushed(0.3), CU, EMT(), temperature=500, **{**FAST, "nve_steps": 50})
    assert report.verdict == "blew-up" and "NVE" in report.reasons[0]
    assert report.nve_drift > 0.01
    assert report.rdf_distance["Cu-Cu"] < 1e-9  # a uniform push moves the centre of mass only
    skipped = md_check(Pushed(0.3), CU, EMT(), temperature=500, **{**FAST, "nve_steps": 0})
    assert skipped.verdict == "ok" and np.isnan(skipped.nve_drift)
    assert skipped.to_dict()["nve_drift"] is None  # valid JSON: no NaN


def test_a_potential_with_a_hole_is_flagged():
    # EMT plus a deep Morse well at 1.8 Å: the kind of hole a badly trained potential has. Pairs fall
    # in, far below anything EMT ever samples, and the released energy then heats the cell.
    hole = SumCalculator([EMT(), MorsePotential(epsilon=3.0, r0=1.8, rho0=6.0, rcut1=2.6, rcut2=3.0)])
    report = md_check(hole, CU, EMT(), temperature=800, **{**FAST, "n_steps": 100, "nve_steps": 0})
    assert "Cu-Cu" in report.short_range_pairs and report.verdict == "blew-up"
    assert "temperature ran away" in report.reasons[0]  # the heat comes first; the contacts follow
    assert report.short_range_fraction["Cu-Cu"] > 1e-3
    assert report.min_distance["Cu-Cu"] < report.reference_min_distance["Cu-Cu"] - 0.2
    assert report.rdf_distance["Cu-Cu"] > 0.2


def test_the_reference_potential_in_a_bigger_cell_is_not_flagged():
    # more samples give a slightly smaller closest distance; that alone must not count as a contact
    small = run_nvt(EMT(), CU, temperature=900, n_steps=40, sample_every=10, seed=3)
    report = md_check(EMT(), CU.repeat((2, 2, 1)), small.frames[1:], temperature=900, **FAST)
    assert report.verdict == "ok", report.reasons
    assert report.short_range_fraction["Cu-Cu"] <= 1e-3


def test_sparse_pairs_are_not_flagged_at_long_range():
    from atomsieve.builders import pdh_cluster_structure

    reference = [pdh_cluster_structure(13, 2, seed=0)]  # the two H atoms 6.2 Å apart
    start = pdh_cluster_structure(13, 2, seed=2)  # 4.4 Å apart: closer, but no contact
    settings = {**FAST, "r_max": 8.0, "n_steps": 20, "equilibration_steps": 0, "nve_steps": 0}
    report = md_check(EMT(), start, reference, temperature=300, **settings)
    assert report.min_distance["H-H"] < report.reference_min_distance["H-H"] - 1.0
    assert "H-H" not in report.short_range_pairs
    strict = md_check(EMT(), start, reference, temperature=300, contact_distance=8.0, **settings)
    assert "H-H" in strict.short_range_pairs and strict.verdict == "unphysical"


def test_reference_frames_from_a_pool_and_rdf_limit():
    pool = atomsieve.builders.build("one-element", 3, mix={"bulk": 1}, supercell=2, frames_per_trajectory=3,
                                    interval=5, equilibration=5)
    report = md_check(EMT(), CU.repeat((2, 1, 1)), pool, temperature=300, max_rdf_distance=1e-6, **FAST)
    assert report.rdf.n_frames == 4 and report.reference_rdf.n_frames == 3  # samples at steps 10..40
    assert report.verdict == "unphysical" and "mean RDF distance" in report.reasons[0]


def test_a_real_blow_up_stops_cleanly():
    squeezed = CU.copy()
    squeezed.rattle(0.01, seed=0)
    report = md_check(LennardJones(sigma=3.5, epsilon=2.0, rc=4.5), squeezed, EMT(), temperature=500, **FAST)
    assert report.verdict == "blew-up" and report.steps_run < 40
    assert "stopped at step" in report.reasons[0]
    json.dumps(report.to_dict(), allow_nan=False)  # JSON-ready even with NaN/inf inside


@pytest.mark.parametrize(
    "limits, calc, words",
    [
        (BlowUpLimits(), BreaksAfter(5), "NaN"),
        (BlowUpLimits(), BreaksAfter(5, "raise"), "RuntimeError: model exploded"),
        (BlowUpLimits(max_energy_change=1e-5), EMT(), "potential energy moved"),
        (BlowUpLimits(max_temperature_factor=0.5), EMT(), "temperature ran away"),
        (BlowUpLimits(min_distance=2.6), EMT(), "atoms fused"),
        (BlowUpLimits(isolation_distance=2.0), EMT(), "lost"),
    ],
)
def test_each_blow_up_criterion(limits, calc, words):
    run = run_nvt(calc, CU, temperature=500, n_steps=30, sample_every=10, limits=limits)
    assert run.stopped is not None and words in run.stopped
    assert run.steps_run <= 30 and len(run.frames) == len(run.steps)


def test_wall_clock_limit_and_reference_failure():
    run = run_nvt(EMT(), CU, temperature=300, n_steps=10_000, sample_every=5, max_seconds=0.0)
    assert "wall-clock" in run.stopped and run.steps_run == 0 and run.timed_out
    report = md_check(EMT(), CU, EMT(), temperature=300, max_seconds=0.0, **FAST)
    assert report.verdict == "timed-out" and "wall-clock" in report.reasons[0]
    with pytest.raises(ParameterError, match="reference calculator's own MD stopped"):
        md_check(EMT(), CU, BreaksAfter(2), temperature=300, **FAST)
    with pytest.raises(ParameterError, match="both be periodic"):
        md_check(EMT(), CU, [md_structure("pdh-cluster")], temperature=300, **FAST)
    with pytest.raises(ParameterError, match="reference must be"):
        md_check(EMT(), CU, 42, temperature=300, **FAST)


def test_md_check_cli_with_named_calculators(tmp_path, capsys):
    out = tmp_path / "report.json"
    args = ["md-check", "emt", "--reference", "emt", "--system", "one-element", "--atoms", "32",
            "--temperature", "400", "--steps", "30", "--equilibration", "10", "--sample-every", "10",
            "--r-max", "3.5", "--bins", "35", "--nve-steps", "10", "--output", str(out)]
    assert main(args) == 0
    assert "verdict: ok" in capsys.readouterr().out
    assert json.loads(out.read_text())["verdict"] == "ok"
    assert main(args) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err


def test_md_check_cli_reference_file_and_failure_status(tmp_path, capsys):
    pool = tmp_path / "pool.extxyz"
    atomsieve.save(atomsieve.Dataset([CU]), pool)
    args = ["md-check", "tosi-fumi", "--reference", str(pool), "--system", str(pool), "--steps", "20",
            "--equilibration", "0", "--nve-steps", "0"]
    assert main(args) == 2  # Tosi-Fumi knows no Cu: a clean one-line error
    assert "only Na and Cl" in capsys.readouterr().err
    squeezed = CU.copy()
    squeezed.set_cell(CU.cell * 0.8, scale_atoms=True)
    atomsieve.save(atomsieve.Dataset([squeezed]), tmp_path / "squeezed.xyz")
    args = ["md-check", "emt", "--reference", str(pool), "--system", str(tmp_path / "squeezed.xyz"),
            "--steps", "20", "--equilibration", "0", "--sample-every", "10", "--r-max", "2.8", "--bins", "28",
            "--nve-steps", "0"]
    assert main(args) == 3  # squeezed Cu comes closer than the reference crystal
    assert "verdict: unphysical" in capsys.readouterr().out


def test_md_check_cli_refuses_a_file_that_is_not_a_model(tmp_path, capsys):
    model = tmp_path / "model.pt"
    model.write_bytes(b"not a model")
    code = main(["md-check", str(model), "--reference", "emt", "--system", "one-element", "--steps", "10"])
    assert code == 2 and f"{model}: not an atomsieve potential" in capsys.readouterr().err
    assert main(["md-check", "nonexistent", "--reference", "emt", "--system", "one-element"]) == 2


@pytest.mark.slow
def test_md_check_cli_with_a_trained_model_file(tmp_path, capsys):
    from atomsieve import potentials

    pool = atomsieve.builders.build("pdh-cluster", 6, seed=0, frames_per_trajectory=3, interval=5,
                                    equilibration=5)
    atomsieve.save(pool, tmp_path / "pool.extxyz")
    potentials.fit_potential(pool, potentials.LinearModel()).save(tmp_path / "model.pt")
    out = tmp_path / "report.json"
    code = main(["md-check", str(tmp_path / "model.pt"), "--reference", str(tmp_path / "pool.extxyz"),
                 "--system", "pdh-cluster", "--temperature", "300", "--steps", "10", "--equilibration", "0",
                 "--sample-every", "5", "--nve-steps", "0", "--r-max", "8", "--bins", "40", "-o", str(out)])
    report = json.loads(out.read_text())
    assert code == 0 and report["verdict"] == "ok" and report["reasons"] == []
    assert report["steps_run"] == 10
    assert set(report["rdf_distance"]) == {"H-H", "H-Pd", "Pd-Pd"}
