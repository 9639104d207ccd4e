"""The verdict of :func:`atomsieve.evaluate.md_check.md_check`: a plain record, its JSON and its summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from atomsieve.evaluate.md_run import MDRun
from atomsieve.evaluate.rdf import RDF
from atomsieve.jsonable import jsonable


@dataclass
class MDCheckReport:
    """Verdict of :func:`md_check`.

    ``verdict`` is ``"ok"``, ``"unphysical"`` (short-range contacts, or an RDF distance above the
    limit given), ``"blew-up"``, ``"inconclusive"`` (no pair distance within the RDF range, so nothing
    was compared), or ``"timed-out"`` (the wall-clock limit ended the run before any
    problem showed; the RDFs cover the steps that ran); ``reasons`` says why in words. Distances are
    in Å, energies in eV/atom, ``short_range_fraction`` the fraction of each pair's distances (below
    ``r_max``) that lie under the reference's closest distance less the tolerance, ``energy_drift``
    in eV/atom/ps (slope of the potential energy after equilibration), ``nve_drift`` the largest total-energy
    excursion per atom in the NVE segment (eV/atom; NaN when not run).
    """

    verdict: str
    reasons: list[str]
    temperature: float
    n_atoms: int
    steps_run: int
    steps_requested: int
    seconds: float
    rdf_distance: dict[str, float]
    mean_rdf_distance: float
    min_distance: dict[str, float]
    reference_min_distance: dict[str, float]
    short_range_pairs: list[str]
    short_range_fraction: dict[str, float]
    energy_drift: float
    nve_drift: float
    rdf: RDF | None = field(default=None, repr=False)
    reference_rdf: RDF | None = field(default=None, repr=False)
    run: MDRun | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def to_dict(self) -> dict:
        """JSON-ready summary with both RDFs (no frames)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("rdf", "reference_rdf", "run")}
        out["rdf"] = None if self.rdf is None else self.rdf.to_dict()
        out["reference_rdf"] = None if self.reference_rdf is None else self.reference_rdf.to_dict()
        return jsonable(out, finite=True)  # NaN and infinity: None (JSON has neither)

    def summary(self) -> str:
        """A few lines for people."""
        lines = [f"verdict: {self.verdict}" + (f" ({'; '.join(self.reasons)})" if self.reasons else ""),
                 f"MD: {self.steps_run}/{self.steps_requested} steps at {self.temperature:g} K, "
                 f"{self.n_atoms} atoms, {self.seconds:.1f} s; "
                 f"potential-energy trend {self.energy_drift:+.4f} eV/atom/ps; "
                 f"NVE drift {self.nve_drift:.2e} eV/atom"]
        for key, value in self.rdf_distance.items():
            closest = self.min_distance.get(key, np.inf)
            ref = self.reference_min_distance.get(key, np.inf)
            lines.append(f"  {key:<8} RDF distance {value:7.3f} Å   closest {closest:.3f} Å "
                         f"(reference {ref:.3f} Å)")
        return "\n".join(lines)
