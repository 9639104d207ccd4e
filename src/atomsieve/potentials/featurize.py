"""From a dataset to :class:`PreparedData`: scaled fingerprints, their Jacobian and the labels.

The scaler is affine per element and feature (min–max by default, fitted on the data being
prepared unless a fitted scaler is passed), so the Jacobian of the scaled fingerprints is the
descriptor's Jacobian times the scaler's slope.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch

from atomsieve.descriptors import AtomicFeatures, SymmetryFunctions, default_descriptor
from atomsieve.descriptors.scaling import make_scaler
from atomsieve.digest import digest, params_digest
from atomsieve.disk_cache import NpzFolder
from atomsieve.errors import CacheError, ParameterError
from atomsieve.keyed_cache import KeyedCache
from atomsieve.potentials.prepared import PreparedData, sum_pairs
from atomsieve.progress import ProgressCallback

#: atoms.info key naming a chunk's central atom (index within the structure).
CENTRAL_ATOM_KEY = "central_atom"

CACHE_FORMAT = "atomsieve-prepared-1"
#: Prepared (data, features) of the last few calls of :func:`prepare` in this process.
_PREPARED = KeyedCache(max_entries=4)


def scaler_slopes(scaler: Any, elements: list[str], n_features: int) -> np.ndarray:
    """Slope of the affine ``scaler`` per element and feature, shape (n_elements, n_features)."""
    from ase.data import atomic_numbers

    z = np.array([atomic_numbers[e] for e in elements])
    ones = scaler.transform(np.ones((len(z), n_features)), z)
    zeros = scaler.transform(np.zeros((len(z), n_features)), z)
    return np.asarray(ones - zeros, dtype=np.float64)


def central_atoms_of(dataset) -> np.ndarray | None:
    """Each structure's ``atoms.info["central_atom"]`` (−1 where absent), or None if none has one."""
    found = [a.info.get(CENTRAL_ATOM_KEY, -1) for a in dataset.atoms]
    if all(int(c) < 0 for c in found):
        return None
    return np.asarray(found, dtype=np.int64)


def _disk_cache() -> NpzFolder:
    """The prepared inputs' folder beside the feature cache's (both follow ``$ATOMSIEVE_CACHE_DIR``)."""
    from atomsieve.descriptors.cache import default_cache_dir

    return NpzFolder(default_cache_dir().parent / "prepared", "prepared-data cache")


def _read_raw(path, key: str) -> dict:
    with np.load(path, allow_pickle=False) as z:
        if str(z["key"]) != key:
            raise CacheError("written for another key")
        return {"values": z["values"], "numbers": z["numbers"], "summed": z["summed"]}


#: Atoms featurised per chunk by :func:`prepare`: only one chunk's per-pair Jacobian (about 50 kB
#: per atom for the germanium preset) is ever held before it is summed or stored compactly.
CHUNK_ATOMS = 4096

#: Largest per-pair Jacobian (bytes, in ``store_dtype``) that ``prepare(pairs=True)`` builds; the
#: neural network trains on it in memory. Override with $ATOMSIEVE_MAX_PAIR_BYTES.
MAX_PAIR_BYTES = 4 * 2**30  # about 2.6e5 germanium atoms (34 pairs of 480 B each per atom)


def structure_chunks(atom_counts, max_atoms: int = CHUNK_ATOMS) -> list[np.ndarray]:
    """Consecutive structure indices in groups of at most ``max_atoms`` atoms (a larger structure
    forms a group of its own).

    >>> [c.tolist() for c in structure_chunks([3, 3, 3, 9, 1], max_atoms=6)]
    [[0, 1], [2], [3], [4]]
    """
    counts = np.asarray(atom_counts, dtype=np.int64)
    groups, start, atoms = [], 0, 0
    for m, n in enumerate(counts.tolist()):
        if m > start and atoms + n > max_atoms:
            groups.append(np.arange(start, m))
            start, atoms = m, 0
        atoms += n
    if start < len(counts):
        groups.append(np.arange(start, len(counts)))
    return groups


def _max_pair_bytes() -> int:
    from atomsieve.limits import env_bytes

    return env_bytes("ATOMSIEVE_MAX_PAIR_BYTES", MAX_PAIR_BYTES)


#: Element-summed Jacobians larger than this (bytes, float64) are written to a file beside the cache
#: and read a selection or a block at a time (:class:`~atomsieve.potentials.prepared.JacobianFile`):
#: 1 GiB is about 1.1 × 10^6 single-element atoms of a 40-function descriptor.
JACOBIAN_MEMORY_BYTES = 2**30


def jacobian_on_disk(n_atoms: int, n_elements: int, n_features: int) -> bool:
    """Whether :func:`prepare` keeps the element-summed Jacobian of this size in a file (float64 bytes
    over :data:`JACOBIAN_MEMORY_BYTES`) rather than in memory (without ``pairs``).

    >>> jacobian_on_disk(1_000_000, 1, 40), jacobian_on_disk(5_000_000, 1, 40)
    (False, True)
    """
    return int(n_atoms) * int(n_elements) * int(n_features) * 3 * 8 > JACOBIAN_MEMORY_BYTES


def _jacobian_path(key: str):
    """The cache's summed-Jacobian file of ``key``."""
    return _disk_cache().folder / f"{key}.npy"


def _jacobian_file(key: str, cache: bool):
    """An open, empty file for a summed Jacobian written a chunk at a time: the cache's ``<key>.npy``
    through a temporary name, or an unlinked temporary file when there is no cache (or it cannot
    be written). Returns ``(file, path, publish)``; ``publish()`` puts a finished cache file in place."""
    import tempfile

    folder = _disk_cache().folder
    if cache:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".npy")
            return os.fdopen(fd, "w+b"), tmp, lambda: os.replace(tmp, _jacobian_path(key))
        except OSError as exc:
            warnings.warn(f"prepared-data cache: cannot write in {folder}: {exc}; the Jacobian goes to a "
                          f"temporary file", RuntimeWarning, stacklevel=3)
    fd, tmp = tempfile.mkstemp(suffix=".npy")
    os.unlink(tmp)  # gone with its last descriptor
    return os.fdopen(fd, "w+b"), tmp, None


def _cached_jacobian_file(key: str, shape: tuple):
    """The cache's summed Jacobian file of ``key`` if it is whole and of ``shape``, else None."""
    from atomsieve.potentials.prepared import JacobianFile

    path = _jacobian_path(key)
    if not path.is_file():
        return None
    try:
        rows = JacobianFile(path)
        if rows.shape != shape:
            raise ValueError(f"holds shape {rows.shape}, expected {shape}")
        return rows
    except (OSError, ValueError) as exc:
        warnings.warn(f"prepared-data cache {path}: {exc}; recomputing", RuntimeWarning, stacklevel=3)
        path.unlink(missing_ok=True)
        return None


def _raw_jacobian(dataset, sf: SymmetryFunctions, pairs: bool, device: str, disk_cache: bool,
                  progress: ProgressCallback | None, store_dtype=np.float32, should_stop=None,
                  keep_values: bool = True) -> dict:
    """Unscaled features, element-summed Jacobian and (if asked) pair Jacobian in ``store_dtype``;
    the first two are cached on disk by dataset content hash and descriptor parameters.

    Built in chunks of about :data:`CHUNK_ATOMS` atoms, each chunk's per-pair blocks summed (or
    copied into the compact pair arrays) before the next chunk is computed, so the peak memory is
    the result plus one chunk. Structures are independent, so this is the whole-set answer.
    A summed Jacobian over :data:`JACOBIAN_MEMORY_BYTES` goes a chunk at a time into a file (cached
    as ``<key>.npy``) and comes back as a :class:`~atomsieve.potentials.prepared.JacobianFile`;
    then the features are kept only when ``keep_values``, and are not cached."""
    from atomsieve.potentials.prepared import JacobianFile

    key = digest({"dataset": dataset.content_hash(), "params": sf.params, "format": CACHE_FORMAT})
    counts = np.asarray(dataset.atom_counts, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n_atoms, n_f, n_e = int(offsets[-1]), sf.n_features, sf.n_species
    on_disk = not pairs and jacobian_on_disk(n_atoms, n_e, n_f)
    if disk_cache and not pairs:
        if not on_disk and (hit := _disk_cache().load(key, _read_raw)) is not None:
            return hit
        if on_disk and (rows := _cached_jacobian_file(key, (n_atoms, n_e, n_f, 3))) is not None:
            values = _raw_values(dataset, sf, progress, should_stop) if keep_values else None
            return {"values": values, "numbers": dataset.numbers, "summed": rows}
    values = np.empty((n_atoms, n_f), dtype=np.float64) if keep_values or not on_disk else None
    numbers = np.empty(n_atoms, dtype=np.int64)
    if on_disk:
        handle, path, publish = _jacobian_file(key, disk_cache)
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False,
                                                      "shape": (n_atoms, n_e, n_f, 3)})
    else:
        summed = np.empty((n_atoms, n_e, n_f, 3), dtype=np.float64)
    centers, neighbours, grads = [], [], []
    n_pairs, limit = 0, _max_pair_bytes() if pairs else 0
    pair_bytes = n_f * 3 * np.dtype(store_dtype).itemsize
    from atomsieve.progress import check_stop, report

    report(progress, 0, len(counts), "symmetry-function derivatives")
    try:
        for idx in structure_chunks(counts, CHUNK_ATOMS):  # read now: tests set it smaller
            check_stop(should_stop, "symmetry-function derivatives")
            a, b = int(offsets[idx[0]]), int(offsets[idx[-1] + 1])
            jac = sf.jacobian([dataset.atoms[m] for m in idx.tolist()], device=device, dtype=torch.float64)
            if values is not None:
                values[a:b] = jac.values.numpy()
            numbers[a:b] = jac.species.numpy()
            species_index = sf.species_index(jac.species).cpu().numpy()
            center, neighbour, grad = jac.center.numpy(), jac.neighbor.numpy(), jac.grad.numpy()
            block = sum_pairs(center, neighbour, grad, species_index, b - a, n_e)
            if on_disk:
                handle.write(np.ascontiguousarray(block, dtype="<f8").tobytes())
            else:
                summed[a:b] = block
            if pairs:
                n_pairs += len(center)
                estimate = n_pairs / b * n_atoms * pair_bytes  # pairs per atom so far, times all atoms
                if estimate > limit:
                    raise ParameterError(
                        f"{dataset.source or 'the dataset'}: the per-pair Jacobian the neural network "
                        f"trains on would take about {estimate / 2**30:.1f} GiB for {n_atoms:,} atoms, more "
                        f"than the {limit / 2**30:.1f} GiB allowed ($ATOMSIEVE_MAX_PAIR_BYTES); use the "
                        f"linear model, a subset, or raise the limit")
                centers.append(center + a)
                neighbours.append(neighbour + a)
                grads.append(grad.astype(store_dtype))
            del jac, center, neighbour, grad, block
            report(progress, int(idx[-1]) + 1, len(counts), "symmetry-function derivatives")
        if on_disk:
            handle.flush()
            os.fsync(handle.fileno())
            if publish is None:
                summed = JacobianFile(path, fd=os.dup(handle.fileno()))
            else:
                publish()
                summed = JacobianFile(_jacobian_path(key))
    except BaseException:
        if on_disk:
            handle.close()
            if publish is not None:  # the temporary name: never published
                _remove_temporaries(key)
        raise
    if on_disk:
        handle.close()
    out = {"values": values, "numbers": numbers, "summed": summed}
    if pairs:
        empty = np.zeros(0, dtype=np.int64)
        out.update(center=np.concatenate(centers) if centers else empty,
                   neighbour=np.concatenate(neighbours) if neighbours else empty,
                   grad=np.concatenate(grads) if grads else np.zeros((0, n_f, 3), dtype=store_dtype))
        del centers, neighbours, grads
    if disk_cache and not on_disk:
        _disk_cache().store(key, lambda tmp: np.savez(tmp, key=np.array(key), values=out["values"],
                                                      numbers=numbers, summed=out["summed"]))
    return out


def _remove_temporaries(key: str) -> None:
    for path in _disk_cache().folder.glob(f".{key}.*.npy"):
        path.unlink(missing_ok=True)


def _raw_values(dataset, sf: SymmetryFunctions, progress, should_stop) -> np.ndarray:
    """Unscaled features of every atom, a chunk of structures at a time (compiled kernels)."""
    from atomsieve.descriptors.compute import raw_features_cpu
    from atomsieve.progress import report

    offsets = dataset.offsets
    values = np.empty((dataset.n_atoms, sf.n_features), dtype=np.float64)
    for idx in structure_chunks(dataset.atom_counts, 1 << 16):
        values[offsets[idx[0]]:offsets[idx[-1] + 1]] = raw_features_cpu(
            sf, [dataset.atoms[m] for m in idx.tolist()], should_stop=should_stop)
        report(progress, int(idx[-1]) + 1, len(dataset), "symmetry functions")
    return values


def _scaled_jacobian(summed, slopes: np.ndarray):
    """``summed × slopes`` per element and feature: in place for an array (always a fresh one), on
    every read for a :class:`~atomsieve.potentials.prepared.JacobianFile`."""
    if not isinstance(summed, np.ndarray):
        return summed.scaled(slopes)
    summed *= slopes[None, :, :, None]
    return summed


def _check_features(features: AtomicFeatures, dataset, sf: SymmetryFunctions) -> None:
    theirs, ours = params_digest(features.params or {}), params_digest(sf.params)
    if features.n_atoms != dataset.n_atoms or theirs != ours:
        raise ParameterError(
            f"features: {features.n_atoms:,} atoms from descriptor {theirs[:8]}; the dataset has "
            f"{dataset.n_atoms:,} atoms and the descriptor is {ours[:8]}")
    if features.scaler is None:
        raise ParameterError("features: unscaled fingerprints; give them with their fitted scaler")


def prepare(dataset, descriptor: SymmetryFunctions | None = None, scaler: Any = "minmax", *,
            pairs: bool = False, device: str = "auto", store_dtype=np.float32, central_atoms: Any = "info",
            progress: ProgressCallback | None = None,
            cache: bool = True, should_stop=None,
            features: AtomicFeatures | None = None) -> tuple[PreparedData, AtomicFeatures]:
    """Fingerprints and Jacobian of every structure, ready for fitting and for selectors.

    Parameters
    ----------
    dataset : Dataset
        Structures with energies (eV) and forces (eV/Å); either may be missing.
    descriptor : SymmetryFunctions, optional
        Default: the preset for the dataset's elements.
    scaler : "minmax", "standard", "none" or a fitted scaler
        A name fits a new scaler on this dataset; pass the training set's fitted scaler
        (``features.scaler``) when preparing a test set.
    pairs : bool
        Keep the per-pair Jacobian, which the neural network needs (the linear model needs only
        its per-element sums). Memory: about n_pairs × n_features × 3 numbers.
    store_dtype : numpy dtype
        Precision the pair blocks are kept in (float32 halves the memory).
    central_atoms : "info", None or array
        Chunk central atoms: read from ``atoms.info["central_atom"]``, none, or given per structure.
    cache : bool
        Keep the last few prepared datasets in memory, and the unscaled fingerprints with their
        element-summed Jacobian on disk (next to the feature cache, see
        :func:`atomsieve.descriptors.cache.default_cache_dir`), keyed by content hash and descriptor
        parameters, so repeated studies on the same data skip the descriptor.
    progress : callable ``progress(done, total, label)``, optional
        Called after every chunk of structures.
    should_stop : callable ``should_stop() -> bool``, optional
        Polled before every chunk; True raises :class:`~atomsieve.errors.Stopped` (partial model
        input is no answer) and nothing is cached.
    features : AtomicFeatures, optional
        This dataset's scaled fingerprints from ``descriptor`` (e.g. the selection's): used as they
        are, with their scaler, instead of a second copy (``scaler`` is then ignored).

    Returns
    -------
    (PreparedData, AtomicFeatures)
        The model input and the scaled per-atom fingerprints (selector input).

    Examples
    --------
    >>> from ase.build import bulk
    >>> from atomsieve import Dataset
    >>> ds = Dataset([bulk("Si", cubic=True)], energies=[-43.0], forces=np.zeros((8, 3)))
    >>> data, feats = prepare(ds, default_descriptor(["Si"], 4.0))
    >>> data.n_atoms, data.features.shape == feats.values.shape
    (8, True)
    """
    sf = descriptor if descriptor is not None else default_descriptor(dataset)
    missing = sorted(set(dataset.elements) - set(sf.species))
    if missing:
        raise ParameterError(
            f"dataset has element(s) {missing} that the descriptor (species {sf.species}) lacks")
    scaler_key = scaler if isinstance(scaler, str) else repr(sorted(scaler.to_dict().items()))
    key = (dataset.content_hash(), params_digest(sf.params), scaler_key, str(central_atoms), pairs,
           np.dtype(store_dtype).str)
    if features is not None:
        _check_features(features, dataset, sf)
        key = key[:2] + (("features", id(features)),) + key[3:]
    if cache and isinstance(central_atoms, str | type(None)) and (hit := _PREPARED.get(key)) is not None:
        return hit
    raw = _raw_jacobian(dataset, sf, pairs, device, cache, progress, store_dtype, should_stop,
                        keep_values=features is None)
    numbers = raw["numbers"]
    if features is not None:
        scaler_obj, values = features.scaler, features.values
    else:
        scaler_obj, needs_fit = make_scaler(scaler)
        if needs_fit or getattr(scaler_obj, "elements_", None) is None:
            scaler_obj.fit(raw["values"], numbers)
        values = scaler_obj.transform(raw["values"], numbers)
    species_index = sf.species_index(torch.as_tensor(numbers)).cpu().numpy()
    slopes = scaler_slopes(scaler_obj, sf.species, sf.n_features)
    pair_arrays = {}
    if pairs:
        grad = raw["grad"]  # scaled in place, a chunk of pairs at a time (no second full copy)
        for start in range(0, len(grad), 1 << 16):
            part = slice(start, start + (1 << 16))
            # Multiplied in float64: a slope of a nearly dead function (1e76 for a 1e-77 range) is
            # beyond float32, and 0 · inf would make the whole pair NaN.
            grad[part] *= slopes[species_index[raw["center"][part]]][:, :, None]
        pair_arrays = {"pair_center": raw["center"], "pair_neighbour": raw["neighbour"],
                       "pair_values": grad}
    if isinstance(central_atoms, str) and central_atoms == "info":
        central = central_atoms_of(dataset)
    else:
        central = None if central_atoms is None else np.asarray(central_atoms, dtype=np.int64)
    data = PreparedData(
        features=values, species=species_index, elements=list(sf.species), atom_counts=dataset.atom_counts,
        summed_jacobian=_scaled_jacobian(raw["summed"], slopes), energies=dataset.energies,
        forces=dataset.forces, central_atoms=central, **pair_arrays,
    )
    feats = features if features is not None else AtomicFeatures(
        values=values, species=numbers, structure=dataset.structure_index, params=sf.params,
        scaler=scaler_obj, feature_names=sf.feature_names, n_structures=len(dataset))
    if cache:
        _PREPARED.put(key, (data, feats))
    return data, feats


#: Feature selections :func:`select_functions` knows: CUR on the fingerprints, or force correlation.
FUNCTION_SELECTIONS = ("cur", "fcorr")


def select_functions(data: PreparedData, method: str, count: int) -> np.ndarray:
    """The ``count`` fingerprint columns of ``data`` that ``method`` keeps, ascending: ``"cur"`` (CUR
    on the per-atom fingerprints) or ``"fcorr"`` (force correlation: the functions whose force
    features ``D_aα,j = −Σ_i ∂G_ij/∂r_aα`` best explain the labelled forces, on every atom of a cell
    and the central atom of a chunk). Give the columns to
    :func:`~atomsieve.descriptors.presets.keep_functions` for the smaller descriptor.

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> from atomsieve import Dataset
    >>> from atomsieve.descriptors.presets import gaussian_g2g4
    >>> cells = [bulk("Pt", cubic=True) for _ in range(3)]
    >>> for k, a in enumerate(cells):
    ...     a.rattle(0.1, seed=k); a.calc = EMT()
    >>> ds = Dataset(cells, energies=[a.get_potential_energy() for a in cells],
    ...              forces=np.concatenate([a.get_forces() for a in cells]))
    >>> data, _ = prepare(ds, gaussian_g2g4(["Pt"]), cache=False)
    >>> select_functions(data, "fcorr", 5).shape
    (5,)
    """
    from atomsieve.descriptors.features import AtomicFeatures
    from atomsieve.potentials.loss import scored_atoms
    from atomsieve.selectors.feature_selection import FeatureCUR, ForceCorrelation

    feats = AtomicFeatures(values=data.features, species=data.species + 1, structure=data.structure_index)
    if method == "cur":
        chosen = FeatureCUR(count).fit(feats).selected_
    elif method == "fcorr":
        if data.forces is None:
            raise ParameterError("force-correlation feature selection needs forces (eV/Å) to correlate")
        used = scored_atoms(data)
        d = -data.element_summed_jacobian().sum(axis=1)  # (n_atoms, n_features, 3)
        chosen = ForceCorrelation(count).fit(feats, force_features=d.transpose(0, 2, 1)[used],
                                             forces=data.forces[used]).selected_
    else:
        raise ParameterError(f"feature selection must be one of {FUNCTION_SELECTIONS}; got {method!r}")
    return np.sort(np.asarray(chosen, dtype=np.int64))
