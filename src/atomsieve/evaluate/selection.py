"""Running any selection method at a requested number of structures.

Every method except the local-environment bank takes the size directly
(:func:`atomsieve.selectors.registry.make_selector`). The LE-bank takes a threshold; to compare it
at equal size, the threshold is calibrated to the requested number of structures
(:func:`atomsieve.selectors.calibrate.calibrate_thresholds`, which bisects the threshold within
its stated tolerance, 2 % of the target by default), and
the row records the threshold used and the count it gave (``n_selected``, which may differ
slightly from the request, because counts move in steps as the threshold changes). The
seconds reported for the LE-bank include the calibration.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError

#: Methods the comparison runs by default, in the order the paper discusses them.
DEFAULT_METHODS = ("lebank", "fps", "cur", "cluster", "random", "energy", "force")


def select(features: AtomicFeatures, method: str, size: int, seed: int = 0, dataset=None,
           params: dict | None = None) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Structure indices chosen by ``method`` at ``size``, the seconds it took and extras.

    ``dataset`` supplies energies and forces for the energy- and force-uniform methods.
    """
    from atomsieve.selectors.registry import fit_labels, make_selector

    params = dict(params or {})
    if size < 1 or size > features.n_structures:
        raise ParameterError(
            f"size {size} must lie in [1, {features.n_structures}] (the structures in the pool)")
    if method == "lebank":
        return _select_lebank(features, size, seed, params)
    start = time.perf_counter()
    selector = make_selector(method, size, seed=seed, **params)
    selector.fit(features, **(fit_labels(method, dataset) if dataset is not None else {}))
    seconds = time.perf_counter() - start
    return np.asarray(selector.selected_, dtype=np.int64), seconds, {}


def _select_lebank(features: AtomicFeatures, size: int, seed: int, params: dict):
    from atomsieve.selectors.calibrate import calibrate_thresholds
    from atomsieve.selectors.lebank import LEBank

    start = time.perf_counter()
    calibration = calibrate_thresholds(features, size, seed=seed, **params)
    thresholds = calibration.thresholds
    lebank_options = {k: params[k] for k in ("shuffle", "init", "device") if k in params}
    selector = LEBank(thresholds=thresholds, seed=seed, **lebank_options).fit(features)
    seconds = time.perf_counter() - start
    extra = {"threshold": ";".join(f"{k}={v:.6g}" for k, v in thresholds.items())}
    return np.asarray(selector.selected_, dtype=np.int64), seconds, extra
