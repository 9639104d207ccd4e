"""Candidate-pool builders: labelled structures for the three kinds of systems selection studies use.

============== ===================================================== ===========================
name           what                                                  labelled by
============== ===================================================== ===========================
pdh-cluster    Pd13H2 (or Pd55/Pd147 + H) clusters, Langevin MD       ASE EMT
molten-nacl    100-atom NaCl boxes, 900–2200 K, several densities     Tosi–Fumi + DSF Coulomb
one-element    bulk/strained/surface/vacancy/liquid/amorphous Cu      ASE EMT
============== ===================================================== ===========================

Every structure carries its energy (eV), forces (eV/Å) and per-atom energies (eV, the ``energies``
array; see :func:`per_atom_energies`). Work is split into independent trajectories that run through
:func:`atomsieve.parallel.run_tasks`, seeded per trajectory, so a pool is the same serially or on Dask.

>>> sorted(BUILDERS)
['molten-nacl', 'one-element', 'pdh-cluster']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
from ase import Atoms

from atomsieve.builders.molten_nacl import build_molten_nacl, molten_nacl_structure
from atomsieve.builders.one_element import build_one_element
from atomsieve.builders.pdh_cluster import build_pdh_cluster, pdh_cluster_structure
from atomsieve.builders.sampling import per_atom_energies
from atomsieve.builders.tosi_fumi import TosiFumi
from atomsieve.data import Dataset
from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback, StopCallback

#: Builder name -> function ``(n_structures, seed, progress, scheduler, *, should_stop, **options)``.
BUILDERS: dict[str, Callable[..., Dataset]] = {
    "pdh-cluster": build_pdh_cluster,
    "molten-nacl": build_molten_nacl,
    "one-element": build_one_element,
}


def build(
    name: str,
    n_structures: int | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    scheduler=None,
    *,
    should_stop: StopCallback | None = None,
    **options,
) -> Dataset:
    """Build the candidate pool ``name`` (a key of :data:`BUILDERS`).

    Parameters
    ----------
    name : str
        ``"pdh-cluster"``, ``"molten-nacl"`` or ``"one-element"``.
    n_structures : int, optional
        Structures in the pool; each builder's default when omitted (1000, 500, 500).
    seed : int
        Seeds everything; the same seed gives the same pool whatever the scheduler.
    progress : callable, optional
        ``progress(done, total, label)`` after each trajectory.
    scheduler : None, "serial", "local", address or distributed.Client
        Where trajectories run (see :mod:`atomsieve.parallel`).
    should_stop : callable ``should_stop() -> bool``, optional
        Polled between trajectories; True returns the structures built so far (see the builders).
    **options
        Passed to the builder (e.g. ``element="Pt"`` for one-element, ``temperatures=(900, 1400)``).

    Examples
    --------
    >>> ds = build("one-element", 2, mix={"strained": 1}, supercell=1)
    >>> len(ds), ds.energies.shape, ds.forces.shape, per_atom_energies(ds).shape
    (2, (2,), (8, 3), (8,))
    """
    if name not in BUILDERS:
        raise ParameterError(f"unknown builder {name!r}; choose one of {', '.join(sorted(BUILDERS))}")
    if n_structures is not None:
        options["n_structures"] = int(n_structures)
    builder = BUILDERS[name]
    accepted = set(inspect.signature(builder).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ParameterError(
            f"builder {name!r} has no option {', '.join(unknown)}; it accepts {', '.join(sorted(accepted))}"
        )
    return builder(seed=seed, progress=progress, scheduler=scheduler, should_stop=should_stop, **options)


def md_structure(name: str, n_atoms: int | None = None, seed: int = 0, element: str = "Cu") -> Atoms:
    """A starting structure of system ``name`` for MD checks, usually larger than the pool's cells.

    - ``molten-nacl``: a cubic box of ``n_atoms`` ions (default 1000, as in the salt study's MD) at
      1.38 g/cm³, the density of molten NaCl at 1400 K (Janz: ρ = 2.139 − 5.43e-4 T g/cm³);
    - ``pdh-cluster``: the largest icosahedral Pd core (13, 55, 147) with H (2 per 13 Pd) that fits
      in ``n_atoms`` (default 15: Pd13H2);
    - ``one-element``: a cubic fcc supercell of ``element`` with at least ``n_atoms`` (default 256)
      at EMT's lattice constant.

    >>> md_structure("molten-nacl", 16).get_chemical_formula()
    'Cl8Na8'
    """
    if name == "molten-nacl":
        n = 1000 if n_atoms is None else n_atoms
        if n < 2 or n % 2:
            raise ParameterError(f"molten-nacl needs an even number of atoms >= 2; got {n}")
        return molten_nacl_structure(n // 2, density=1.38, seed=seed)
    if name == "pdh-cluster":
        n = 15 if n_atoms is None else n_atoms
        fits = [p for p in (13, 55, 147) if p + round(2 * p / 13) <= n]
        if not fits:
            raise ParameterError(f"pdh-cluster needs at least 15 atoms (Pd13H2); got {n}")
        return pdh_cluster_structure(fits[-1], round(2 * fits[-1] / 13), seed=seed)
    if name == "one-element":
        from ase.build import bulk

        from atomsieve.builders.one_element import emt_lattice_constant

        n = 256 if n_atoms is None else n_atoms
        repeat = max(1, int(np.ceil((n / 4) ** (1 / 3) - 1e-9)))
        return bulk(element, "fcc", a=emt_lattice_constant(element), cubic=True).repeat(repeat)
    raise ParameterError(f"unknown system {name!r}; choose one of {', '.join(sorted(BUILDERS))}")


__all__ = [
    "TosiFumi",
    "build",
    "md_structure",
    "per_atom_energies",
]
