"""Force locality: how the force on one atom converges as the chunk around it grows.

The study behind the choice of the chunk cutoff (Zeng, Chen & Peterson, J. Chem. Phys. 156,
064104 (2022), Fig. 2 and Fig. S7): cut chunks of increasing radius around an atom, label each
with the parent, and compare the central atom's force with its force in the whole structure.
A nearsighted parent (EMT) converges once the radius passes its interaction range; a non-local
one (tight binding, DFT) converges slowly. Every chunk is an independent parent call, run
through :class:`atomsieve.parallel.TaskRunner`.

Units: Å, eV/Å.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from atomsieve.active.chunks import cut_chunk
from atomsieve.active.parents import label_structures
from atomsieve.errors import ParameterError, Stopped
from atomsieve.progress import ProgressCallback, StopCallback


@dataclass
class LocalityStudy:
    """Central-atom forces of chunks of growing radius, against the whole structure.

    Attributes
    ----------
    radii : ndarray (n,)
        Chunk radii in Å.
    n_atoms : ndarray (n,)
        Atoms in each chunk.
    forces : ndarray (n, 3)
        Force on the central atom in each chunk (eV/Å).
    reference : ndarray (3,)
        Force on the atom in the whole structure (eV/Å).
    """

    atom: int
    radii: np.ndarray
    n_atoms: np.ndarray
    forces: np.ndarray
    reference: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> np.ndarray:
        """|F_chunk − F_full| per radius (eV/Å)."""
        return np.linalg.norm(self.forces - self.reference, axis=1)

    def converged_radius(self, tolerance: float = 0.01) -> float | None:
        """The smallest radius from which every larger radius is within ``tolerance`` eV/Å, or None."""
        ok = self.errors <= tolerance
        for k in range(len(ok)):
            if ok[k:].all():
                return float(self.radii[k])
        return None

    def as_table(self) -> list[dict]:
        """One row per radius: radius, atoms, force components, error (for CSV or a plot)."""
        return [
            {"radius": float(r), "n_atoms": int(n), "fx": float(f[0]), "fy": float(f[1]), "fz": float(f[2]),
             "error": float(e)}
            for r, n, f, e in zip(self.radii, self.n_atoms, self.forces, self.errors)
        ]


def force_locality(
    atoms: Atoms,
    atom: int,
    radii: Sequence[float],
    parent: str | Callable[[], Calculator] = "emt",
    *,
    periodic: bool = False,
    scheduler: Any = None,
    n_workers: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> LocalityStudy:
    """Force on ``atom`` in chunks of each radius in ``radii``, and in the whole ``atoms``.

    ``progress(done, total, label)`` hears of the structures labelled; ``should_stop()`` is polled
    between them (True raises :class:`~atomsieve.errors.Stopped`: a study needs every radius).

    Examples
    --------
    >>> from ase.cluster import Octahedron
    >>> study = force_locality(Octahedron("Pt", 6, 2), 0, [3.0, 9.0], "emt")
    >>> study.n_atoms.tolist(), bool(study.errors[-1] < 1e-5)
    ([7, 60], True)
    """
    radii = np.asarray(sorted(float(r) for r in radii))
    if radii.size == 0 or radii[0] <= 0:
        raise ParameterError(f"radii must be positive distances in Å; got {radii.tolist()}")
    chunks = [cut_chunk(atoms, atom, r, periodic=periodic) for r in radii]
    whole = atoms.copy()
    labelled = label_structures([whole, *chunks], parent, scheduler=scheduler, n_workers=n_workers,
                                progress=progress, should_stop=should_stop)
    if len(labelled) < len(chunks) + 1:
        raise Stopped("force_locality: stopped on request before every structure was labelled")
    reference = labelled[0].get_forces()[atom % len(atoms)]
    forces = np.array([c.get_forces()[0] for c in labelled[1:]])
    return LocalityStudy(atom=int(atom), radii=radii, n_atoms=np.array([len(c) for c in chunks]),
                         forces=forces, reference=reference, meta={"periodic": periodic})
