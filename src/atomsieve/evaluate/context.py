"""Building the shared context of an evaluation study (featurise once, reuse for every job)."""

from __future__ import annotations

from atomsieve.data import Dataset
from atomsieve.errors import ParameterError
from atomsieve.evaluate.jobs import EvaluationContext
from atomsieve.potentials.featurize import prepare
from atomsieve.progress import ProgressCallback, StopCallback


def build_context(dataset: Dataset, *, test: Dataset | None = None, descriptor=None, model: str = "linear",
                  model_params: dict | None = None, selector_params: dict | None = None,
                  progress: ProgressCallback | None = None,
                  should_stop: StopCallback | None = None, features=None) -> EvaluationContext:
    """Featurise ``dataset`` (and ``test`` with the same descriptor and the pool's scaler).

    The pool needs energies (eV) and forces (eV/Å): every model is scored on both.
    ``progress(done, total, label)`` and ``should_stop()`` go to :func:`prepare` (True raises
    :class:`~atomsieve.errors.Stopped`: a context half built is no context). ``features``: the pool's
    scaled fingerprints from ``descriptor`` when they exist already (the dashboard's selection),
    shared instead of computed and held again.

    >>> from atomsieve.datasets import load_default
    >>> from atomsieve.descriptors import preset
    >>> ctx = build_context(load_default("test").subset(range(5)), descriptor=preset(None, ["Ge"], r_cut=3.0))
    >>> ctx.prepared.n_structures, ctx.features.n_features
    (5, 40)
    """
    if not isinstance(dataset, Dataset):
        raise ParameterError(f"the pool must be a Dataset; got {type(dataset).__name__}")
    if dataset.energies is None and dataset.forces is None:
        raise ParameterError(
            f"{dataset.source or 'the pool'}: has neither energies nor forces; nothing to fit")
    if descriptor is None:
        from atomsieve.descriptors import default_descriptor

        elements = sorted(set(dataset.elements) | set(test.elements if test is not None else []))
        descriptor = default_descriptor(elements)
    prepared, features = prepare(dataset, descriptor, pairs=model == "bpnn", progress=progress,
                                 should_stop=should_stop, features=features)
    test_prepared = None
    if test is not None:
        test_prepared, _ = prepare(test, descriptor, features.scaler, pairs=model == "bpnn",
                                   progress=progress, should_stop=should_stop)
    if model == "linear":  # the whole prediction set's error then costs P² operations per fit
        from atomsieve.potentials.linear import force_gram

        force_gram(test_prepared if test_prepared is not None else prepared)
    return EvaluationContext(pool=dataset, features=features, prepared=prepared, test=test_prepared,
                             model=model, model_params=dict(model_params or {}),
                             selector_params=dict(selector_params or {}))
