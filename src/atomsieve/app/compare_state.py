"""Cross-method comparison: learning-curve rows streamed from a background job. No widgets.

Rows come from :func:`atomsieve.evaluate.curves.iter_learning_curves` (each method selects
``size`` structures, a model is trained on them and scored on the training and prediction
sets), one at a time as jobs finish; ``cancel()`` stops between jobs. The evaluation context
(fingerprints with their derivatives) is built once per dataset and shared by sessions.
"""

from __future__ import annotations

import threading

import param

from atomsieve.app.background import Background, Job
from atomsieve.app.state import DatasetState

#: Methods offered on screen (the registry's own names).
DEFAULT_METHODS = ["lebank", "fps", "cur", "random"]
DEFAULT_SIZES = [10, 20, 40, 80]

_CONTEXTS: dict[tuple, object] = {}
_CONTEXT_LOCK = threading.Lock()


def available_methods() -> list[str]:
    """Selection methods the evaluation can run."""
    from atomsieve.selectors.registry import METHODS

    return list(METHODS)


def context_key(dataset, test, model: str, descriptor=None) -> tuple:
    """The explicit key of a shared evaluation context: content hashes, model, descriptor digest."""
    from atomsieve.app.selection_state import params_digest

    return (dataset.content_hash(), None if test is None else test.content_hash(), model,
            None if descriptor is None else params_digest(descriptor.params))


#: Largest model input held in memory (fingerprints, element-summed Jacobian, labels) the dashboard
#: prepares; $ATOMSIEVE_MODEL_INPUT_BYTES changes it.
MODEL_INPUT_BYTES = 3 * 2**30


def model_input_bytes(n_atoms: int, n_elements: int, n_features: int, shared_features: bool = False) -> int:
    """Bytes of memory the model input of ``n_atoms`` atoms holds: the element-summed Jacobian
    (n_elements × n_features × 3 float64 per atom) unless it goes to a file
    (:func:`~atomsieve.potentials.featurize.jacobian_on_disk`), the raw and the scaled
    fingerprints (n_features float64 each) unless ``shared_features``, and labels and
    bookkeeping (48 bytes per atom).

    >>> gib = [model_input_bytes(1_000_000, 1, 40), model_input_bytes(5_000_000, 1, 40, shared_features=True)]
    >>> [round(b / 2**30, 2) for b in gib]
    [1.53, 0.22]
    """
    from atomsieve.potentials.featurize import jacobian_on_disk

    on_disk = jacobian_on_disk(n_atoms, n_elements, n_features)
    summed = 0 if on_disk else int(n_atoms) * int(n_elements) * int(n_features) * 3 * 8
    fingerprints = 0 if shared_features else int(n_atoms) * int(n_features) * 8 * 2
    return summed + fingerprints + 48 * int(n_atoms)


def check_model_input(dataset, test=None, descriptor=None, shared_features: bool = False) -> None:
    """Refuse (``ParameterError``, naming the sizes) a model input over :data:`MODEL_INPUT_BYTES`
    (``shared_features``: the pool's fingerprints exist already and are not held again)."""
    from atomsieve.errors import ParameterError
    from atomsieve.limits import env_bytes

    if descriptor is None:
        from atomsieve.descriptors import default_descriptor

        descriptor = default_descriptor(dataset)
    sizes = (descriptor.n_species, descriptor.n_features)
    need = model_input_bytes(dataset.n_atoms, *sizes, shared_features)
    n_atoms = dataset.n_atoms
    if test is not None:
        need += model_input_bytes(test.n_atoms, *sizes)
        n_atoms += test.n_atoms
    limit = env_bytes("ATOMSIEVE_MODEL_INPUT_BYTES", MODEL_INPUT_BYTES)
    if need > limit:
        raise ParameterError(
            f"the model input of {n_atoms:,} atoms (fingerprints and their summed derivatives) would take "
            f"about {need / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB allowed "
            f"($ATOMSIEVE_MODEL_INPUT_BYTES); the model error is off for this dataset")


def evaluation_context(dataset, test, model: str, descriptor=None, progress=None, features=None,
                       should_stop=None):
    """The shared evaluation context of ``dataset`` (prediction set ``test``) for ``model``.

    Keyed on :func:`context_key`; ``progress(done, total, label)`` hears of a build's progress;
    ``features``: the pool's scaled fingerprints from ``descriptor`` if they exist (shared, not
    computed again); ``should_stop()`` True stops a build (:class:`~atomsieve.errors.Stopped`, nothing
    kept), e.g. when the session that asked for it closes.
    """
    from atomsieve.evaluate.context import build_context

    check_model_input(dataset, test, descriptor, shared_features=features is not None)
    key = context_key(dataset, test, model, descriptor)
    with _CONTEXT_LOCK:
        if key not in _CONTEXTS:
            _CONTEXTS.clear()  # one at a time: contexts hold derivatives and are large
            _CONTEXTS[key] = build_context(dataset, test=test, model=model, descriptor=descriptor,
                                           progress=progress, features=features, should_stop=should_stop)
        return _CONTEXTS[key]


def parse_sizes(text: str, n_structures: int) -> list[int]:
    """``"10, 20 40"`` -> ``[10, 20, 40]``; numbers outside [1, n_structures] are an error.

    >>> parse_sizes("10, 20 40", 228)
    [10, 20, 40]
    """
    from atomsieve.errors import ParameterError

    parts = [p for p in str(text).replace(",", " ").split() if p]
    try:
        sizes = sorted({int(p) for p in parts})
    except ValueError:
        raise ParameterError(f"sizes {text!r}: give whole numbers of structures, e.g. '10, 20, 40'") from None
    if not sizes:
        raise ParameterError("sizes is empty; give at least one number of structures, e.g. '10, 20, 40'")
    bad = [s for s in sizes if not 1 <= s <= n_structures]
    if bad:
        raise ParameterError(f"sizes {bad}: each must lie in [1, {n_structures}] (structures in the dataset)")
    return sizes


class CompareState(param.Parameterized):
    """Learning curves of several selection methods, streamed into ``rows``.

    Examples
    --------
    >>> from atomsieve.datasets import load_default
    >>> data = DatasetState(dataset=load_default("test"), title="Ge test")
    >>> compare = CompareState(data=data, methods=["random"], sizes=[5])
    >>> compare.start().join(600)
    True
    >>> sorted(row["method"] for row in compare.rows)
    ['full', 'random']
    """

    data = param.ClassSelector(class_=DatasetState)
    methods = param.List(default=list(DEFAULT_METHODS), doc="selection methods to compare")
    sizes = param.List(default=list(DEFAULT_SIZES), doc="numbers of structures to select")
    model = param.Selector(default="linear", objects=["linear", "bpnn"],
                           doc="model trained on each selection")
    repeats = param.Integer(default=1, bounds=(1, 10))
    test = param.Parameter(default=None, doc="prediction set (Dataset); the whole dataset when None")
    descriptor = param.Parameter(default=None, doc="SymmetryFunctions; the preset for the elements when None")
    rows = param.List(default=[], doc="finished rows (meV/atom, meV/Å, seconds)")
    running = param.Boolean(default=False)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0))
    status = param.String(default="")

    def __init__(self, background: Background | None = None, **params):
        super().__init__(**params)
        self.background = background or Background()
        self.job: Job | None = None
        self.data.param.watch(lambda *_e: self.reset(), ["dataset"])

    def reset(self) -> None:
        self.cancel()
        self.rows, self.progress, self.status = [], 0.0, ""

    def start(self) -> Job:
        """Start (or restart) the comparison in the background."""
        from atomsieve.evaluate.curves import iter_learning_curves

        self.cancel()
        dataset, test, model, descriptor = self.data.dataset, self.test, self.model, self.descriptor
        methods, sizes, repeats = list(self.methods), list(self.sizes), self.repeats
        from atomsieve.errors import ParameterError

        if not methods:
            raise ParameterError("pick at least one selection method to compare")
        self.rows, self.progress, self.running = [], 0.0, True
        self.status = "preparing fingerprints and their derivatives…"

        def work(cancelled, emit):
            context = evaluation_context(dataset, test, model, descriptor)
            emit(("status", f"training {model} models on {len(methods)} method(s) × {len(sizes)} size(s)…"))
            total = 1 + len(methods) * len(sizes) * repeats
            done = 0
            for row in iter_learning_curves(dataset, methods, sizes, model, repeats, test=test,
                                            context=context, should_stop=cancelled.is_set):
                done += 1
                emit(("row", row, done / total))
            return done

        def on_emit(item):
            if item[0] == "status":
                self.status = item[1]
            else:
                self.rows = [*self.rows, item[1]]
                self.progress = float(item[2])

        def finished():
            if self.job is job:
                self.running = False
                cancelled = job.cancelled.is_set()
                self.status = (f"cancelled after {len(self.rows)} rows" if cancelled
                               else f"done: {len(self.rows)} rows" if job.error is None else "failed")

        self.job = job = Job("comparison")  # made first: ``finished`` may run before submit returns
        return self.background.submit("comparison", work, on_emit=on_emit, on_finally=finished, job=job)

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status = "cancelling after the job in progress…"

    def seconds_per_method(self) -> dict[str, float]:
        """Selection plus training seconds summed per method over the finished rows."""
        out: dict[str, float] = {}
        for row in self.rows:
            out[row["method"]] = out.get(row["method"], 0.0) + float(row["select_seconds"]) + float(
                row["fit_seconds"])
        return out
