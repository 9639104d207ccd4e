"""One evaluation job: choose structures, train a model on them, score training and prediction sets.

The context (prepared data, features, model settings) is built once per study; every
(method, size, repeat) or threshold job only slices it. Errors are reported in meV/atom and
meV/Å.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atomsieve.data import Dataset
from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.potentials.prepared import PreparedData

MODELS = ("linear", "bpnn")
#: Columns of every curve row, in order.
ERROR_COLUMNS = ("rmse_e_train", "rmse_e_pred", "rmse_f_train", "rmse_f_pred")


def make_model(model: str, params: dict | None = None, seed: int = 0):
    """A fresh ``LinearModel`` or ``BPNNModel`` from a name and keyword arguments."""
    from atomsieve.potentials.bpnn import BPNNModel
    from atomsieve.potentials.linear import LinearModel

    params = dict(params or {})
    if model == "linear":
        return LinearModel(**params)
    if model == "bpnn":
        params.setdefault("seed", seed)
        params.setdefault("device", "cpu")
        return BPNNModel(**params)
    raise ParameterError(f"model must be one of {MODELS}; got {model!r}")


@dataclass
class EvaluationContext:
    """What every job of a study shares.

    ``pool`` is the dataset selections are drawn from, ``features`` its scaled per-atom
    fingerprints (the selectors' input), ``prepared`` the same fingerprints with their Jacobian
    and labels (the models' input). ``test`` is the prediction set; without it the whole pool
    is the prediction set.
    """

    pool: Dataset
    features: AtomicFeatures
    prepared: PreparedData
    test: PreparedData | None = None
    model: str = "linear"
    model_params: dict = field(default_factory=dict)
    selector_params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ParameterError(f"model must be one of {MODELS}; got {self.model!r}")


def train_and_score(context: EvaluationContext, selected: np.ndarray, seed: int = 0,
                    should_stop=None) -> dict[str, Any]:
    """Fit the context's model on the structures ``selected`` of the pool; errors in meV.

    Returns ``rmse_e_train``, ``rmse_f_train`` (on the selected structures), ``rmse_e_pred``,
    ``rmse_f_pred`` (on the test set, or the whole pool) and ``fit_seconds``. ``should_stop()``
    is polled by a network's training between epochs (True ends it early).
    """
    selected = np.asarray(selected, dtype=np.int64)
    if selected.size == 0:
        raise ParameterError("train_and_score: the selection is empty")
    model = make_model(context.model, context.model_params, seed)
    start = time.perf_counter()
    model.fit(context.prepared, structures=selected, should_stop=should_stop)
    fit_seconds = time.perf_counter() - start
    train = model.score(context.prepared, structures=selected)
    prediction_set = context.test if context.test is not None else context.prepared
    # The linear model scores the whole prediction set from its cached Gram statistics.
    pred = model.rmse(prediction_set) if hasattr(model, "rmse") else model.score(prediction_set)
    return {
        "rmse_e_train": 1000 * train["rmse_e"],
        "rmse_e_pred": 1000 * pred["rmse_e"],
        "rmse_f_train": 1000 * train["rmse_f"],
        "rmse_f_pred": 1000 * pred["rmse_f"],
        "fit_seconds": fit_seconds,
    }

