"""Local-environment-bank selection streamed over a feature store larger than memory.

The bank only grows and every decision depends on the bank built so far, so screening
the data chunk by chunk with :meth:`LEBank.partial_fit <atomsieve.selectors.lebank.LEBank.partial_fit>`,
each chunk against the bank left by the previous ones, gives exactly the answer of one
:class:`~atomsieve.selectors.lebank.LEBank` fit over all of it (dataset order; the random initial
vector is drawn over all atoms with the same seed). Only one chunk of fingerprints and the bank are
in memory at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomsieve.errors import ParameterError
from atomsieve.progress import ProgressCallback, report
from atomsieve.selectors.bank import EnvironmentBank
from atomsieve.selectors.lebank import INITS, LEBank


def lebank_stream(
    store,
    thresholds: dict | float,
    *,
    seed: int | None = 0,
    init: str = "random",
    engine: str = "fast",
    device: str = "auto",
    max_atoms: int = 50_000,
    bank: EnvironmentBank | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, EnvironmentBank]:
    """Select structures from a :class:`~atomsieve.descriptors.store.FeatureStore`, chunk by chunk
    (:meth:`LEBank.partial_fit <atomsieve.selectors.lebank.LEBank.partial_fit>` over ``store.chunks``).

    Parameters
    ----------
    store : FeatureStore
    thresholds, seed, init, engine, device
        As for :class:`~atomsieve.selectors.lebank.LEBank`.
    bank : EnvironmentBank, optional
        An existing bank to screen against (as ``LEBank.fit(features, bank=bank)``): the store's
        raw features are scaled with the bank's scaler, and a non-empty bank takes the place of
        the random initial vector.
    max_atoms : int
        Atoms per chunk screened at a time (default 50,000: on 10^6 Ge atoms, 2 cores, this held
        the peak resident memory to about 230 MiB above the imports and was no slower than 200,000).
    progress : callable ``progress(done, total, label)``, optional
        Called after every chunk with atoms screened.
    should_stop : callable, optional
        Polled before every chunk after the first; True ends the selection with the chunks so far.

    Returns
    -------
    selected : ndarray of int
        Global structure indices in selection order (as ``LEBank.selected_``).
    bank : EnvironmentBank
        The final bank; ``source_structure`` holds global structure indices.

    Examples
    --------
    >>> import tempfile, os
    >>> from atomsieve.datasets import default_path
    >>> from atomsieve.descriptors import SymmetryFunctions
    >>> from atomsieve.descriptors.store import FeatureStore
    >>> sf = SymmetryFunctions.li_single_element(["Ge"])
    >>> store = FeatureStore.build(default_path("test"), os.path.join(tempfile.mkdtemp(), "s"), sf)
    >>> selected, bank = lebank_stream(store, {"Ge": 0.3}, max_atoms=300)
    >>> one_fit = LEBank({"Ge": 0.3}).fit(next(store.chunks(max_atoms=10**9)))
    >>> selected.tolist() == one_fit.selected_.tolist(), len(bank) == len(one_fit.bank_)
    (True, True)
    """
    if init not in INITS:
        raise ParameterError(f"init must be one of {INITS}; got {init!r}")
    scaler = bank.scaler if bank is not None and bank.scaler is not None else store.scaler
    if bank is not None and len(bank) == 0:
        bank = None
    first = np.zeros(0, dtype=np.int64)  # the structure of the random initial vector, if any
    if init == "random" and bank is None:
        # The same draw LEBank makes: one integer over all atoms from default_rng(seed).
        row = int(np.random.default_rng(seed).integers(store.n_atoms))
        species = np.asarray(store.species[row : row + 1])
        vector = scaler.transform(np.asarray(store.values[row : row + 1]), species)
        structure = int(store.structure[row])
        first_row = int(np.searchsorted(np.asarray(store.structure[: row + 1]), structure))
        bank = EnvironmentBank(vector, species, [structure], [row - first_row], params=store.params,
                               scaler=scaler)
        first = np.array([structure], dtype=np.int64)
    sel = LEBank(thresholds, seed=seed, init="empty", engine=engine, device=device)
    selected = first
    screened = 0
    for chunk in store.chunks(max_atoms, scaler=scaler):
        if screened and should_stop is not None and should_stop():
            break
        sel.partial_fit(chunk, bank=None if screened else bank)
        selected = np.concatenate([first, sel.selected_[~np.isin(sel.selected_, first)]])
        screened += chunk.n_atoms
        report(progress, screened, store.n_atoms, f"{len(selected):,} structures selected")
    return selected, (sel.bank_ if screened else bank)


class _StreamedCounts:
    """Picklable job for Dask: one streamed selection over the store at ``folder`` (opened in the
    worker, so the store folder must be reachable there)."""

    def __init__(self, folder, options: dict, atom_counts: np.ndarray):
        self.folder, self.options, self.atom_counts = str(folder), options, atom_counts

    def __call__(self, thresholds) -> dict:
        import time

        from atomsieve.descriptors.store import FeatureStore

        start = time.perf_counter()
        selected, bank = lebank_stream(FeatureStore(self.folder, verify=False), thresholds, **self.options)
        return {"structures": len(selected), "atoms": int(self.atom_counts[selected].sum()),
                "bank_size": len(bank), "bank_per_element": bank.counts_per_element(),
                "seconds": time.perf_counter() - start}


def threshold_sweep_stream(
    store,
    thresholds,
    *,
    element: str | None = None,
    fixed: dict[str, float] | None = None,
    seed: int | None = 0,
    init: str = "random",
    device: str = "auto",
    scheduler=None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, list]:
    """:func:`~atomsieve.selectors.studies.threshold_sweep` over a feature store: one streamed
    selection per threshold (on Dask workers with ``scheduler``), the same table; ``should_stop`` as there.

    Examples
    --------
    >>> import tempfile, os
    >>> from atomsieve.datasets import default_path
    >>> from atomsieve.descriptors import SymmetryFunctions
    >>> from atomsieve.descriptors.store import FeatureStore
    >>> from atomsieve.selectors import threshold_sweep
    >>> sf = SymmetryFunctions.li_single_element(["Ge"])
    >>> store = FeatureStore.build(default_path("test"), os.path.join(tempfile.mkdtemp(), "s"), sf)
    >>> streamed = threshold_sweep_stream(store, [0.2, 0.4])
    >>> whole = threshold_sweep(next(store.chunks(max_atoms=10**9)), [0.2, 0.4])
    >>> streamed["structures"] == whole["structures"], streamed["bank_Ge"] == whole["bank_Ge"]
    (True, True)
    """
    from ase.data import chemical_symbols

    from atomsieve.parallel import run_tasks
    from atomsieve.selectors.lebank import normalise_thresholds
    from atomsieve.selectors.studies import _table

    thresholds = [float(t) for t in thresholds]
    if not thresholds:
        raise ParameterError("threshold_sweep_stream needs at least one threshold")
    jobs = [t if element is None else {**normalise_thresholds(fixed or {element: t}), element: t}
            for t in thresholds]
    job = _StreamedCounts(store.folder, {"seed": seed, "init": init, "device": device}, store.atom_counts())
    results = run_tasks(job, jobs, scheduler=scheduler, progress=progress, label="threshold sweep",
                        should_stop=should_stop)
    elements = [chemical_symbols[int(z)] for z in store.meta["scaler"]["elements"]]
    return _table({"threshold": thresholds}, results, elements)
