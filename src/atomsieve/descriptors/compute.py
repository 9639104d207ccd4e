"""From structures to padded batches to :class:`AtomicFeatures`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.descriptors.scaling import make_scaler
from atomsieve.device import resolve_device
from atomsieve.errors import ParameterError
from atomsieve.progress import check_stop, report


def as_atoms_list(data) -> tuple[list[Atoms], object]:
    """Structures of a Dataset, a list of Atoms or one Atoms; also returns the Dataset (or None)."""
    from atomsieve.data import Dataset

    if isinstance(data, Dataset):
        return data.atoms, data
    if isinstance(data, Atoms):
        return [data], None
    if isinstance(data, Sequence) and all(isinstance(a, Atoms) for a in data):
        return list(data), None
    raise ParameterError(f"expected a Dataset, an ase.Atoms or a list of Atoms; got {type(data).__name__}")


def on_device(sf, device: torch.device):
    """``sf`` itself when its buffers are on ``device``, else a copy moved there (``sf`` is untouched)."""
    if sf.species_index_of_z.device == device:
        return sf
    import copy

    return copy.deepcopy(sf).to(device)


@dataclass
class Batch:
    """A padded batch: ``species`` (B, A) index (−1 padding), ``positions`` (B, A, 3) Å,
    ``cells`` (B, 3, 3) Å, ``pbc`` (B, 3); ``members`` are the structure indices it holds."""

    members: list[int]
    species: torch.Tensor
    positions: torch.Tensor
    cells: torch.Tensor
    pbc: torch.Tensor

    @property
    def real(self) -> torch.Tensor:
        return self.species >= 0


def check_cell(index: int, cell: np.ndarray, pbc: np.ndarray) -> None:
    """Raise when structure ``index`` is periodic along a direction whose cell vectors are zero or
    linearly dependent."""
    if pbc.any():
        lengths = np.linalg.norm(cell, axis=1)
        per = np.flatnonzero(pbc)
        if np.any(lengths[per] < 1e-8) or np.linalg.matrix_rank(cell[per], tol=1e-8) < len(per):
            raise ParameterError(
                f"structure {index}: periodic along {pbc.tolist()} but its cell vectors there are "
                f"zero or linearly dependent ({cell.tolist()}); set a cell or pbc=False"
            )


def pack(sf, atoms_list: list[Atoms], members: list[int], dtype, device) -> Batch:
    """Padded tensors of the structures ``members`` of ``atoms_list``."""
    A = max(1, max(len(atoms_list[m]) for m in members))
    B = len(members)
    numbers = np.zeros((B, A), dtype=np.int64)
    pos = np.zeros((B, A, 3), dtype=np.float64)
    cells = np.zeros((B, 3, 3), dtype=np.float64)
    pbc = np.zeros((B, 3), dtype=bool)
    for b, m in enumerate(members):
        at = atoms_list[m]
        n = len(at)
        numbers[b, :n] = at.numbers
        pos[b, :n] = at.positions
        cells[b] = at.cell.array
        pbc[b] = at.pbc
        check_cell(m, cells[b], pbc[b])
    species = sf.species_index(torch.as_tensor(numbers, device=sf.species_index_of_z.device)).to(device)
    return Batch(
        members=list(members),
        species=species,
        positions=torch.as_tensor(pos, dtype=dtype, device=device),
        cells=torch.as_tensor(cells, dtype=dtype, device=device),
        pbc=torch.as_tensor(pbc, device=device),
    )


def batches(atoms_list: list[Atoms], batch_size: int) -> Iterator[list[int]]:
    """Structure indices grouped into batches of at most ``batch_size`` padded atoms
    (structures sorted by size so padding stays small; a structure larger than the budget
    forms a batch of its own)."""
    if batch_size < 1:
        raise ParameterError(f"batch_size is a number of atoms per batch, at least 1; got {batch_size}")
    counts = np.array([len(a) for a in atoms_list])
    order = np.argsort(counts, kind="stable")
    current: list[int] = []
    for m in order.tolist():
        width = max(counts[m], 1)
        if current and width * (len(current) + 1) > batch_size:
            yield current
            current = []
        current.append(m)
    if current:
        yield current


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: leave the setting alone)."""
    if n is None:
        yield
        return
    if int(n) < 1:
        raise ParameterError(f"num_threads must be a positive number of threads; got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: Atoms per neighbour-list group (bounds the memory of the pair list: ~40 bytes per pair).
CHUNK_ATOMS = 16_384


def structure_groups(counts: np.ndarray, max_atoms: int | None = None):
    """Consecutive structure ranges ``(first, stop)`` of at most ``max_atoms`` atoms (default
    :data:`CHUNK_ATOMS`; a larger structure forms a group of its own).

    >>> list(structure_groups(np.array([3, 3, 5, 1]), max_atoms=6))
    [(0, 2), (2, 4)]
    """
    max_atoms = CHUNK_ATOMS if max_atoms is None else max_atoms
    first, atoms = 0, 0
    for m, n in enumerate(counts.tolist()):
        if m > first and atoms + n > max_atoms:
            yield first, m
            first, atoms = m, 0
        atoms += n
    if first < len(counts):
        yield first, len(counts)


def raw_features_cpu(sf, atoms_list, *, progress=None, num_threads: int | None = None,
                     should_stop=None) -> np.ndarray:
    """Unscaled features (n_atoms, n_features) of ``atoms_list`` with the compiled kernels.

    Same numbers as the torch path of :func:`atomsieve.descriptors.compute.raw_features` (to
    rounding), computed in float64 on ``num_threads`` threads (None: ``torch.get_num_threads()``).
    ``should_stop()`` is polled before each group of structures (True raises
    :class:`~atomsieve.errors.Stopped`).

    >>> from ase.build import bulk
    >>> from atomsieve.descriptors import preset
    >>> raw_features_cpu(preset("acsf_standard", ["Si"]), [bulk("Si")]).shape
    (2, 41)
    """
    from atomsieve.descriptors.kernel_threads import numba_threads
    from atomsieve.descriptors.kernels import features_from_csr
    from atomsieve.descriptors.neighbors import neighbor_pairs
    from atomsieve.descriptors.terms import KernelPlan

    plan = KernelPlan(sf)
    counts = np.array([len(a) for a in atoms_list], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    out = np.empty((int(offsets[-1]), sf.n_features), dtype=np.float64)  # every row written below
    table = sf.species_index_of_z.detach().cpu().numpy()
    report(progress, 0, len(atoms_list), "symmetry functions")
    for first, stop in structure_groups(counts):
        check_stop(should_stop, "symmetry functions")
        group = atoms_list[first:stop]
        if not offsets[stop] - offsets[first]:
            report(progress, stop, len(atoms_list), "symmetry functions")
            continue
        numbers = np.concatenate([a.numbers for a in group])
        species = table[np.clip(numbers, 0, len(table) - 1)]
        if np.any(species < 0):
            from ase.data import chemical_symbols

            z = int(numbers[species < 0][0])
            raise ParameterError(
                f"element {chemical_symbols[z] if 0 < z < len(chemical_symbols) else z} is not among this "
                f"descriptor's species {sf.species}")
        cells = np.array([a.cell.array for a in group], dtype=np.float64).reshape(-1, 3, 3)
        pbc = np.array([a.pbc for a in group], dtype=bool).reshape(-1, 3)
        full = pbc.all(axis=1)
        if full.any():  # fully periodic cells at once: three non-zero singular values each
            sv = np.linalg.svd(cells[full], compute_uv=False)
            lengths = np.linalg.norm(cells[full], axis=2)
            bad = np.flatnonzero(full)[(sv[:, -1] <= 1e-8) | (lengths.min(axis=1) < 1e-8)]
            full[bad] = False  # check_cell below raises with the message
        for m in np.flatnonzero(pbc.any(axis=1) & ~full):
            check_cell(first + int(m), cells[m], pbc[m])
        positions = np.concatenate([a.positions for a in group])
        with numba_threads(num_threads):
            pairs = neighbor_pairs(positions, cells, pbc, counts[first:stop], sf.r_cut)
            features_from_csr(plan, species, *pairs, out=out[offsets[first] : offsets[stop]])
        report(progress, stop, len(atoms_list), "symmetry functions")
    return out


ENGINES = ("auto", "kernel", "torch")


def raw_features(sf, atoms_list, *, batch_size: int, device, dtype, progress=None, engine: str = "auto",
                 num_threads: int | None = None, should_stop=None) -> np.ndarray:
    """Unscaled features (n_atoms, n_features), atoms in input order.

    ``engine="auto"`` uses the compiled CPU kernels (:mod:`atomsieve.descriptors.kernels`) when the
    device is the CPU and the torch module otherwise; ``"kernel"`` or ``"torch"`` force one.
    ``should_stop()`` is polled before each batch (True raises :class:`~atomsieve.errors.Stopped`).
    """
    if engine not in ENGINES:
        raise ParameterError(f"engine must be one of {ENGINES}; got {engine!r}")
    device = resolve_device(device)
    if engine == "kernel" and device.type != "cpu":
        raise ParameterError(f"engine='kernel' runs on the CPU only; got device={device}; use engine='torch'")
    if engine != "torch" and device.type == "cpu":
        return raw_features_cpu(sf, atoms_list, progress=progress, num_threads=num_threads,
                                should_stop=should_stop)
    counts = np.array([len(a) for a in atoms_list], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    out = np.zeros((int(offsets[-1]), sf.n_features), dtype=np.float64)
    model = on_device(sf, device)
    done = 0
    report(progress, 0, len(atoms_list), "symmetry functions")
    with torch.inference_mode():
        for members in batches(atoms_list, batch_size):
            check_stop(should_stop, "symmetry functions")
            batch = pack(model, atoms_list, members, dtype, device)
            values = model(batch.species, batch.positions, batch.cells, batch.pbc).double().cpu().numpy()
            for b, m in enumerate(members):
                out[offsets[m] : offsets[m + 1]] = values[b, : counts[m]]
            done += len(members)
            report(progress, done, len(atoms_list), "symmetry functions")
    return out


def compute_features(sf, dataset, *, scaler="minmax", batch_size: int = 4096, device="auto",
                     dtype=torch.float64, progress=None, cache=None,
                     num_threads: int | None = None, engine: str = "auto",
                     should_stop=None) -> AtomicFeatures:
    """Symmetry functions of every atom of ``dataset``, scaled.

    Parameters
    ----------
    sf : SymmetryFunctions
    dataset : Dataset, ase.Atoms or list of Atoms
    scaler : "minmax" (default), "standard", "none" or a fitted scaler
        A name fits a new scaler on these features (per element, per function); a fitted
        scaler object (e.g. a bank's) is applied as is.
    batch_size : int
        Padded atoms per batch (memory grows with it; triples dominate).
    device : "auto", "cpu", "cuda" or a torch.device
    dtype : torch.float64 or torch.float32
        Precision of the torch computation; ``values`` are always returned as float64. The
        compiled CPU kernels always compute in float64 (as fast as float32 there).
    progress : callable ``progress(done, total, label)``, optional
        Called after every batch with structures done.
    cache : None, True or a folder path
        ``True`` uses :func:`atomsieve.descriptors.cache.default_cache_dir`; entries are keyed by
        ``dataset.content_hash()``, the descriptor params, the scaler and the dtype.
    num_threads : int, optional
        Threads for this call (torch intra-op threads, or numba threads for the compiled kernels;
        restored afterwards); None keeps torch's setting (``torch.get_num_threads()``).
        On a machine shared with other busy processes, 1 can be several times faster.
    engine : "auto" (default), "kernel" or "torch"
        "auto": the compiled numba kernels (:mod:`atomsieve.descriptors.kernels`) on the CPU, the
        torch module on CUDA. "torch" forces the torch module (the reference implementation).
    should_stop : callable ``should_stop() -> bool``, optional
        Polled before every batch; True raises :class:`~atomsieve.errors.Stopped` (partial
        features are no answer) and nothing is cached.

    Returns
    -------
    AtomicFeatures
        ``values`` (n_atoms, n_features), ``species``, ``structure``, ``params`` (= ``sf.params``),
        ``scaler`` (the fitted scaler object) and ``feature_names``.
    """
    if dtype not in (torch.float32, torch.float64):
        raise ParameterError(f"dtype must be torch.float32 or torch.float64; got {dtype}")
    atoms_list, ds = as_atoms_list(dataset)
    scaler_obj, needs_fit = make_scaler(scaler)
    feature_cache = None
    if cache is not None and cache is not False:
        from atomsieve.descriptors.cache import FeatureCache, cache_key

        if ds is None:
            from atomsieve.data import Dataset

            ds = Dataset(atoms_list)
        feature_cache = FeatureCache(None if cache is True else cache)
        key = cache_key(ds.content_hash(), sf.params, scaler if isinstance(scaler, str) or scaler is None
                        else scaler_obj.to_dict(), str(dtype))
        hit = feature_cache.load(key)
        if hit is not None:
            report(progress, len(atoms_list), len(atoms_list), "symmetry functions (cached)")
            return hit
    with torch_threads(num_threads):
        raw = raw_features(sf, atoms_list, batch_size=batch_size, device=device, dtype=dtype,
                           progress=progress, engine=engine, num_threads=num_threads, should_stop=should_stop)
    numbers = np.concatenate([a.numbers for a in atoms_list]) if atoms_list else np.zeros(0, dtype=np.int64)
    structure = np.repeat(np.arange(len(atoms_list)), [len(a) for a in atoms_list])
    values = scaler_obj.fit_transform(raw, numbers) if needs_fit else scaler_obj.transform(raw, numbers)
    feats = AtomicFeatures(values=values, species=numbers, structure=structure, params=sf.params,
                           scaler=scaler_obj, feature_names=sf.feature_names, n_structures=len(atoms_list))
    if feature_cache is not None:
        feature_cache.store(key, feats)
    return feats
