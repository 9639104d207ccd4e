"""The dashboard's shared selection outcomes: small, bounded by bytes, computed once per key."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from atomsieve.app import outcomes
from atomsieve.app.outcomes import (
    OUTCOMES,
    OutcomeCache,
    SelectionOutcome,
    fit_outcome,
    precompute_grid,
    run_selection,
    selection_key,
    slider_grid,
)
from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.selectors import LEBank


def _features(seed: int = 0) -> AtomicFeatures:
    """Two elements, structures interleaved in row order (rows are not grouped by structure)."""
    rng = np.random.default_rng(seed)
    n = 240
    structure = np.tile(np.arange(12), n // 12)
    species = np.where(rng.random(n) < 0.6, "Si", "O")
    return AtomicFeatures(values=rng.random((n, 5)), species=species, structure=structure,
                          params={"test": seed})


def _outcome(key, n_rows: int) -> SelectionOutcome:
    return SelectionOutcome(key=key, selected=np.arange(3), n_structures=3, n_atoms=9, bank_size=n_rows,
                            bank_per_element={"H": n_rows}, seconds=0.0,
                            bank_rows=np.arange(n_rows, dtype=np.int32))


@pytest.mark.parametrize("shuffle", [False, True])
def test_outcome_keeps_rows_only_and_rebuilds_the_same_bank(shuffle):
    feats = _features(1)
    thresholds = {"O": 0.45, "Si": 0.5}
    key = selection_key(feats, "hash", thresholds, 3, shuffle)
    out = fit_outcome(feats, key, thresholds, 3, shuffle)
    ref = LEBank(thresholds=thresholds, seed=3, shuffle=shuffle, engine="fast", device="cpu").fit(feats)
    assert out.selected.tolist() == list(ref.selected_)
    assert out.bank_rows.dtype == np.int32 and out.bank_size == len(ref.bank_) > 0
    bank = out.bank
    for name in ("vectors", "species", "source_structure", "source_atom"):
        np.testing.assert_array_equal(getattr(bank, name), getattr(ref.bank_, name))
    assert bank.thresholds == ref.bank_.thresholds
    assert bank.counts_per_element() == out.bank_per_element
    # Only indices are held: far less than the bank vectors themselves.
    assert out.nbytes < ref.bank_.vectors.nbytes + outcomes.OUTCOME_OVERHEAD
    assert out.bank_for(feats).vectors.shape == ref.bank_.vectors.shape


def test_bank_is_none_once_the_features_are_gone():
    feats = _features(2)
    out = fit_outcome(feats, ("k",), {"O": 0.5, "Si": 0.5}, 0, False)
    del feats
    import gc

    gc.collect()
    assert out.bank is None


def test_cache_is_bounded_by_bytes_least_recently_used_first():
    one = _outcome(("a",), 100).nbytes
    cache = OutcomeCache(max_bytes=int(2.5 * one))
    for name in "abc":
        cache.put(_outcome((name,), 100))
    assert cache.get(("a",)) is None and cache.get(("b",)) is not None
    cache.put(_outcome(("d",), 100))  # "c" is now the least recently used
    assert cache.get(("c",)) is None and cache.get(("b",)) is not None
    assert len(cache) == 2 and cache.nbytes == 2 * one <= cache.max_bytes
    cache.put(_outcome(("big",), 10_000))  # larger than the budget: kept alone
    assert len(cache) == 1 and cache.get(("big",)) is not None
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def ask_at_once(ask, n: int, gate: threading.Event) -> None:
    """Run ``ask`` in ``n`` threads, let them all start and block, then open ``gate`` and wait."""
    threads = [threading.Thread(target=ask) for _ in range(n)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(10)


def test_one_key_is_computed_once_however_many_ask_at_once():
    cache = OutcomeCache()
    calls, results = [], []
    gate = threading.Event()

    def compute():
        calls.append(1)
        gate.wait(5)
        return _outcome(("k",), 4)

    ask_at_once(lambda: results.append(cache.get_or_compute(("k",), compute)), 6, gate)
    assert len(calls) == 1 and len(results) == 6
    assert all(r is results[0] for r in results)


def test_a_failed_computation_reaches_every_waiter_and_is_not_cached():
    cache = OutcomeCache()
    gate = threading.Event()
    errors = []

    def compute():
        gate.wait(5)
        raise ValueError("bad thresholds")

    def ask():
        try:
            cache.get_or_compute(("k",), compute)
        except ValueError as exc:
            errors.append(str(exc))

    ask_at_once(ask, 3, gate)
    assert errors == ["bad thresholds"] * 3
    assert cache.get(("k",)) is None
    assert cache.get_or_compute(("k",), lambda: _outcome(("k",), 1)).bank_size == 1  # retried


def test_precompute_fills_the_slider_grid_of_a_single_element_dataset():
    from atomsieve.app.features_state import features_for
    from atomsieve.datasets import load_default

    ds = load_default("test")
    feats = features_for(ds)
    grid = [0.605, 0.61, 0.615]
    assert all(t in slider_grid() for t in grid)
    stop = threading.Event()
    stop.set()
    assert precompute_grid(feats, ds.content_hash(), grid=grid, stop=stop) == 0
    done = precompute_grid(feats, ds.content_hash(), grid=grid, first=[0.615])
    keys = [selection_key(feats, ds.content_hash(), {"Ge": t}, 0, False) for t in grid]
    assert all(OUTCOMES.get(k) is not None for k in keys)
    assert done <= 3 and precompute_grid(feats, ds.content_hash(), grid=grid) == 0  # all cached
    # The cached position is the slider's own fit.
    hit = run_selection(feats, keys[0], {"Ge": 0.605}, 0, False, interactive=True)
    assert hit is OUTCOMES.get(keys[0])
    assert precompute_grid(_features(), "hash", grid=grid) == 0  # several elements: skipped


def test_grid_order_puts_first_then_fans_out_from_the_default():
    order = outcomes.grid_order(slider_grid(), first=[0.1, 0.2, 7.0])
    assert order[:2] == [0.1, 0.2] and sorted(order) == slider_grid()
    assert order[2] == outcomes.DEFAULT_THRESHOLD


def test_threshold_curve_points_match_the_selectors_sweep():
    from atomsieve.app.features_state import FeaturesState
    from atomsieve.app.selection_state import SelectionState
    from atomsieve.app.state import DatasetState
    from atomsieve.app.studies_state import StudiesState
    from atomsieve.datasets import load_default
    from atomsieve.selectors import threshold_sweep

    fs = FeaturesState(data=DatasetState(dataset=load_default("test"), title="Ge test"))
    feats = fs.compute_now()
    studies = StudiesState(selection=SelectionState(features_state=fs, synchronous=True))
    assert studies.run_curve(thresholds=(0.3, 0.7)).join(60)
    sweep = threshold_sweep(feats, [0.3, 0.7], device="cpu")
    for k in ("threshold", "structures", "atoms", "bank_size"):
        assert studies.curve[k] == list(sweep[k]), k


def test_memory_release_runs_once_per_burst_of_closed_sessions():
    from atomsieve.app.serve import MemoryReleaser, release_memory

    assert release_memory() in (True, False)
    releaser = MemoryReleaser(delay=0.2)
    for _ in range(5):
        releaser.request()
    deadline = time.monotonic() + 10
    while releaser.runs == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.4)
    assert releaser.runs == 1
