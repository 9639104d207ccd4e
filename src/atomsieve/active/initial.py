"""The initial training set of nearsighted force training: random bulk cells near the parent's optimum.

Following Zeng, Chen & Peterson (J. Chem. Phys. 156, 064104 (2022), SI): random bulk cells of one
element — fcc 4-atom cells (space group 225) and body-centred tetragonal 2-atom cells (space group
79) — whose volumes lie near the parent calculator's optimal fcc volume, plus 2×2×2 repeats of
them rattled several times; the most diverse ``n_select`` are then chosen by hierarchical farthest
point sampling (first level: number of atoms; second: fingerprints).

Units: Å, eV.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.eos import EquationOfState
from ase.spacegroup import crystal

from atomsieve.active.parents import ParentError, make_parent, parent_name
from atomsieve.errors import ParameterError


def optimal_lattice_constant(
    element: str,
    parent: str | Callable[[], Calculator] = "emt",
    *,
    guess: float | None = None,
    span: float = 0.06,
    n_points: int = 9,
) -> float:
    """The fcc lattice constant (Å) that minimises the parent's energy, from an EOS fit.

    The cubic 4-atom cell is scaled over ``guess · (1 ± span)`` in ``n_points`` steps and a
    Birch–Murnaghan equation of state is fitted to the energies. ``guess`` defaults to ASE's
    reference lattice constant of the element (or a value from its covalent radius).

    Examples
    --------
    >>> round(optimal_lattice_constant("Pt", "emt"), 2)
    3.92
    """
    from ase.data import atomic_numbers, covalent_radii, reference_states

    if element not in atomic_numbers:
        raise ParameterError(f"element {element!r} is not a chemical symbol")
    z = atomic_numbers[element]
    if guess is None:
        ref = reference_states[z] or {}
        guess = ref.get("a") if ref.get("symmetry") == "fcc" else None
        guess = float(guess or 2 * np.sqrt(2) * covalent_radii[z])
    calc = make_parent(parent)
    volumes, energies = [], []
    for a in np.linspace(guess * (1 - span), guess * (1 + span), n_points):
        cell = fcc_cell(element, a)
        cell.calc = calc
        volumes.append(cell.get_volume())
        try:
            energies.append(cell.get_potential_energy())
        except Exception as exc:  # noqa: BLE001 - a parent failure, as label_structures reports it
            raise ParentError(f"parent {parent_name(parent)!r} failed on {cell.get_chemical_formula()} "
                              f"(fcc, a = {a:.3f} Å): {type(exc).__name__}: {exc}") from None
    eos = EquationOfState(volumes, energies, eos="birchmurnaghan")
    try:
        v0, _, _ = eos.fit()
    except Exception as exc:  # noqa: BLE001 - ASE raises plain exceptions on a failed fit
        raise ParameterError(f"EOS fit for {element} with parent {parent!r} failed: {exc}") from None
    if not volumes[0] < v0 < volumes[-1]:
        raise ParameterError(
            f"{element}: the parent's energy minimum (volume {v0:.2f} Å³) lies outside the scanned "
            f"range {volumes[0]:.2f}–{volumes[-1]:.2f} Å³; pass a better guess"
        )
    return float(v0 ** (1 / 3))


def fcc_cell(element: str, a: float) -> Atoms:
    """The conventional 4-atom fcc cell (space group 225) with lattice constant ``a`` (Å)."""
    return crystal(element, [(0, 0, 0)], spacegroup=225, cellpar=[a, a, a, 90, 90, 90])


def tetragonal_cell(element: str, a: float, c: float) -> Atoms:
    """The 2-atom body-centred tetragonal cell (space group 79, I4) with axes ``a``, ``a``, ``c`` (Å)."""
    return crystal(element, [(0, 0, 0)], spacegroup=79, cellpar=[a, a, c, 90, 90, 90])


def random_bulk_cells(
    element: str,
    a0: float,
    n_cells: int = 20,
    *,
    volume_spread: float = 0.08,
    ratio_range: tuple[float, float] = (0.9, 1.55),
    seed: int = 0,
) -> list[Atoms]:
    """Random fcc (225) and tetragonal (79) cells whose volume per atom lies near fcc's at ``a0``.

    Half the cells are fcc with ``a = a0 · s``, half body-centred tetragonal with a random ``c/a``
    in ``ratio_range`` (1 is bcc, √2 is fcc again); the volume per atom is ``(a0³/4) · s³`` with
    ``s`` uniform in ``1 ± volume_spread``. Each cell's ``info`` records its space group.

    Examples
    --------
    >>> cells = random_bulk_cells("Pt", 3.92, 4, seed=1)
    >>> [len(c) for c in cells], [c.info["spacegroup"] for c in cells]
    ([4, 2, 4, 2], [225, 79, 225, 79])
    """
    if n_cells < 1:
        raise ParameterError(f"n_cells must be at least 1; got {n_cells}")
    if not 0 <= volume_spread < 1:
        raise ParameterError(f"volume_spread must lie in [0, 1); got {volume_spread}")
    rng = np.random.default_rng(seed)
    cells = []
    for k in range(n_cells):
        s = rng.uniform(1 - volume_spread, 1 + volume_spread)
        v_atom = a0**3 / 4 * s**3
        if k % 2 == 0:
            cell = fcc_cell(element, (4 * v_atom) ** (1 / 3))
            cell.info["spacegroup"] = 225
        else:
            ratio = rng.uniform(*ratio_range)
            a = (2 * v_atom / ratio) ** (1 / 3)
            cell = tetragonal_cell(element, a, ratio * a)
            cell.info["spacegroup"] = 79
        cells.append(cell)
    return cells


def rattled_repeats(cells: list[Atoms], n_rattle: int = 3, stdev: float = 0.1, seed: int = 0) -> list[Atoms]:
    """``n_rattle`` copies of each cell's 2×2×2 repeat, atoms displaced by Gaussian noise of ``stdev`` Å.

    Examples
    --------
    >>> out = rattled_repeats(random_bulk_cells("Pt", 3.92, 2), n_rattle=2)
    >>> [len(a) for a in out]
    [32, 32, 16, 16]
    """
    rng = np.random.default_rng(seed)
    out = []
    for cell in cells:
        for _ in range(n_rattle):
            big = cell.repeat((2, 2, 2))
            big.positions += rng.normal(0.0, stdev, size=big.positions.shape)
            big.info["rattle_stdev"] = float(stdev)
            out.append(big)
    return out


def candidate_cells(
    element: str,
    a0: float,
    n_cells: int = 20,
    n_rattle: int = 3,
    *,
    rattle_stdev: float = 0.1,
    volume_spread: float = 0.08,
    seed: int = 0,
) -> list[Atoms]:
    """The random cells followed by their rattled 2×2×2 repeats (the pool the initial set is chosen from)."""
    cells = random_bulk_cells(element, a0, n_cells, volume_spread=volume_spread, seed=seed)
    return cells + rattled_repeats(cells, n_rattle, rattle_stdev, seed=seed + 1)


def initial_training_set(
    element: str,
    parent: str | Callable[[], Calculator] = "emt",
    n_select: int = 20,
    *,
    n_cells: int = 20,
    n_rattle: int = 3,
    rattle_stdev: float = 0.1,
    volume_spread: float = 0.08,
    descriptor=None,
    seed: int = 0,
) -> list[Atoms]:
    """The unlabelled initial training cells: a candidate pool reduced to ``n_select`` by hierarchical FPS.

    Parameters
    ----------
    element : str
        The one element of the target.
    parent : str or callable
        Parent calculator (see :mod:`atomsieve.active.parents`) used for the EOS fit.
    n_select : int
        Cells to keep (all of the pool when it is smaller).
    descriptor : object, optional
        Fingerprints for FPS (``compute(Dataset) -> AtomicFeatures``); by default the
        single-element symmetry-function preset of :mod:`atomsieve.descriptors` at 6.5 Å.

    Returns
    -------
    list of ase.Atoms
        In FPS order; label them with :func:`atomsieve.active.parents.label_structures`.
    """
    a0 = optimal_lattice_constant(element, parent)
    pool = candidate_cells(element, a0, n_cells, n_rattle, rattle_stdev=rattle_stdev,
                           volume_spread=volume_spread, seed=seed)
    for cell in pool:
        cell.info["a0_parent"] = a0
    if n_select >= len(pool):
        return pool
    order = select_diverse(pool, n_select, descriptor=descriptor)
    return [pool[i] for i in order]


def select_diverse(structures: list[Atoms], n_select: int, *, descriptor=None) -> np.ndarray:
    """Indices of ``n_select`` structures by hierarchical FPS (atom count, then fingerprints)."""
    from atomsieve.active.fingerprints import structure_features
    from atomsieve.descriptors.presets import default_descriptor
    from atomsieve.selectors.fps import HierarchicalFPS

    elements = sorted({s for a in structures for s in a.get_chemical_symbols()})
    descriptor = descriptor or default_descriptor(elements)
    features = structure_features(structures, descriptor)
    return np.asarray(HierarchicalFPS(n_to_select=n_select).fit(features).selected_)
