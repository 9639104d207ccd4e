"""A selection as a chemiscope input file: structures, a 2-D map of the fingerprints, and properties.

`chemiscope <https://chemiscope.org>`_ shows a map beside the structures; clicking a point opens its
structure or atomic environment. The file holds every structure, the first two principal components
of the fingerprints (per atom, and of each structure's mean fingerprint), ``selected`` and
``selection order`` per structure, ``in bank`` per atom (LE-bank selections: the atom's fingerprint
joined the bank) and ``bank atoms`` per structure, the labels (eV/atom, eV/Å) and every scalar
``atoms.info`` entry such as ``config_type``. It is written with the ``chemiscope`` package itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from atomsieve.data.dataset import Dataset
from atomsieve.data.io import atomic_path
from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import DataError, ParameterError

#: ``atoms.info`` entries never copied as properties (labels are added with their units instead).
_SKIPPED_INFO = {"energy", "free_energy", "REF_energy", "dft_energy", "stress", "REF_stress", "virial"}


def _principal_components(values: np.ndarray, n: int = 2) -> np.ndarray:
    """The first ``n`` principal components of the rows of ``values`` (zeros past the rank)."""
    centred = values - values.mean(axis=0)
    out = np.zeros((len(values), n))
    if len(values) < 2:
        return out
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    k = min(n, len(s))
    out[:, :k] = u[:, :k] * s[:k]
    # a sign convention, so the same data always gives the same map
    signs = np.sign(out[np.abs(out).argmax(axis=0), np.arange(n)])
    return out * np.where(signs == 0, 1, signs)


def _info_properties(dataset: Dataset) -> dict:
    """Scalar ``atoms.info`` entries present in every structure (strings or numbers)."""
    props = {}
    keys = set.intersection(*(set(a.info) for a in dataset.atoms)) - _SKIPPED_INFO
    for key in sorted(keys):
        values = [a.info[key] for a in dataset.atoms]
        if all(isinstance(v, str) for v in values):
            props[key] = {"target": "structure", "values": values}
        elif all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                 for v in values):
            props[key] = {"target": "structure", "values": np.asarray(values, dtype=np.float64)}
    return props


def chemiscope_arguments(
    dataset: Dataset,
    features: AtomicFeatures,
    selected,
    *,
    bank=None,
    name: str | None = None,
    description: str = "",
    cutoff: float | None = None,
) -> dict:
    """Keyword arguments of ``chemiscope.create_input``/``write_input`` that describe a selection.

    Parameters
    ----------
    dataset : Dataset
        The structures, with or without labels.
    features : AtomicFeatures
        Their per-atom fingerprints (one row per atom of ``dataset``).
    selected : sequence of int
        Selected structure indices, in selection order.
    bank : EnvironmentBank, optional
        The bank of an LE-bank selection on these features: adds ``in bank`` per atom and
        ``bank atoms`` per structure (rows of the bank's last fit only).
    name, description : str
        Shown by chemiscope as the dataset's title and description.
    cutoff : float, optional
        Radius (Å) of the atomic environments chemiscope highlights; the descriptor's cutoff by
        default.
    """
    import chemiscope

    n = len(dataset)
    if features.n_atoms != dataset.n_atoms or features.n_structures != n:
        raise ParameterError(
            f"features of {features.n_atoms} atoms in {features.n_structures} structures do not match the "
            f"{dataset.n_atoms} atoms in {n} structures of the dataset"
        )
    selected = np.asarray(selected, dtype=np.int64)
    if selected.size and (selected.min() < 0 or selected.max() >= n):
        raise ParameterError(f"selected indices must lie in [0, {n}); got {selected.min()}..{selected.max()}")
    order = np.zeros(n)
    order[selected] = np.arange(1, selected.size + 1)
    structure_of_atom = np.asarray(features.structure)
    counts = np.bincount(structure_of_atom, minlength=n)
    mean_fp = np.zeros((n, features.values.shape[1]))
    np.add.at(mean_fp, structure_of_atom, features.values)
    mean_fp /= np.maximum(counts, 1)[:, None]

    properties = {
        "map PC": {"target": "structure", "values": _principal_components(mean_fp),
                   "description": "principal components of each structure's mean fingerprint"},
        "atom map PC": {"target": "atom", "values": _principal_components(np.asarray(features.values)),
                        "description": "principal components of the atomic fingerprints"},
        "selected": {"target": "structure", "values": ["yes" if o else "no" for o in order],
                     "description": f"{selected.size} of {n} structures selected"},
        "selection order": {"target": "structure", "values": order,
                            "description": "1 = picked first; 0 = not selected"},
        "n_atoms": {"target": "structure", "values": counts.astype(np.float64)},
        **_info_properties(dataset),
    }
    if dataset.energies is not None:
        properties["energy per atom"] = {"target": "structure", "units": "eV/atom",
                                         "values": np.asarray(dataset.energies_per_atom, dtype=np.float64)}
    if dataset.forces is not None:
        norms = np.linalg.norm(np.asarray(dataset.forces, dtype=np.float64), axis=1)
        properties["|force|"] = {"target": "atom", "units": "eV/Å", "values": norms}
        properties["max |force|"] = {"target": "structure", "units": "eV/Å",
                                     "values": np.maximum.reduceat(norms, np.r_[0, np.cumsum(counts)[:-1]])}
    if bank is not None:
        last = np.asarray(bank.batch) == np.max(bank.batch) if bank.batch is not None else slice(None)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        rows = starts[np.asarray(bank.source_structure)[last]] + np.asarray(bank.source_atom)[last]
        in_bank = np.zeros(dataset.n_atoms)
        in_bank[rows] = 1.0
        properties["in bank"] = {"target": "atom", "values": in_bank,
                                 "description": "1 = this atom's fingerprint joined the LE-bank"}
        properties["bank atoms"] = {"target": "structure", "values": np.bincount(
            structure_of_atom, weights=in_bank, minlength=n)}
    r_cut = cutoff if cutoff is not None else float((features.params or {}).get("r_cut", 3.5))
    environments = [(int(s), int(a), r_cut) for s, a in zip(structure_of_atom, features.atom_index)]
    structures = []
    for atoms in dataset.atoms:
        plain = atoms.copy()  # drops the calculator; the labels are properties here
        plain.info = {}
        structures.append(plain)
    settings = chemiscope.quick_settings(x="map PC[1]", y="map PC[2]", map_color="selection order",
                                         periodic=bool(any(a.pbc.any() for a in dataset.atoms)))
    return {
        "structures": structures,
        "metadata": {"name": name or (Path(dataset.source).name if dataset.source else "atomsieve selection"),
                     "description": description},
        "properties": properties,
        "environments": environments,
        "settings": settings,
    }


def write_chemiscope(
    path: str | os.PathLike,
    dataset: Dataset,
    features: AtomicFeatures,
    selected,
    *,
    overwrite: bool = False,
    **options,
) -> Path:
    """Write the selection's chemiscope input to ``path`` (``.json`` or ``.json.gz``) atomically, with
    ``chemiscope.write_input``. ``options`` are those of :func:`chemiscope_arguments`.

    Examples
    --------
    >>> import tempfile, json, gzip
    >>> from atomsieve.datasets import load_default
    >>> ds = load_default("test")
    >>> feats = AtomicFeatures(values=np.random.default_rng(0).random((ds.n_atoms, 4)), species=ds.numbers,
    ...                        structure=np.repeat(np.arange(len(ds)), ds.atom_counts))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_chemiscope(f"{tmp}/map.json.gz", ds, feats, [3, 0])
    ...     data = json.load(gzip.open(path, "rt"))
    >>> len(data["structures"]), data["properties"]["selected"]["values"][:4]
    (25, ['yes', 'no', 'no', 'yes'])
    """
    import chemiscope

    path = Path(path)
    if not path.name.endswith((".json", ".json.gz")):
        raise DataError(f"{path}: chemiscope reads .json or .json.gz files; use one of those suffixes")
    arguments = chemiscope_arguments(dataset, features, selected, **options)
    with atomic_path(path, overwrite) as tmp:
        chemiscope.write_input(str(tmp), **arguments)
    return path
