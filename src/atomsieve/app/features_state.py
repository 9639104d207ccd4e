"""Fingerprints of the session's dataset: descriptor choice in, AtomicFeatures out. No widgets.

Features are computed once per (dataset content hash, descriptor parameters) and shared by every
browser session of the server through :data:`FEATURES`; the descriptors' own disk cache keeps
them across restarts. Computing runs in a background thread, so the page stays live meanwhile.
"""

from __future__ import annotations

import param

from atomsieve.app.background import Background
from atomsieve.app.state import DatasetState
from atomsieve.descriptors.features import AtomicFeatures
from atomsieve.errors import ParameterError
from atomsieve.keyed_cache import KeyedCache

DEFAULT_PRESET = "(automatic)"


def preset_names() -> list[str]:
    """The descriptor presets offered on screen, the automatic choice first."""
    from atomsieve.descriptors.presets import PRESETS

    return [DEFAULT_PRESET, *sorted(PRESETS)]


#: Features shared by all sessions of this process, on ``(dataset content hash, params digest)``;
#: two sessions asking for the same key wait for one computation instead of running two.
FEATURES = KeyedCache(max_entries=4, share_errors=False)


def build_descriptor(dataset, preset_name: str, r_cut: float):
    """The SymmetryFunctions for ``dataset``'s elements from a preset name and cut-off (Å)."""
    from atomsieve.descriptors.presets import preset

    name = None if preset_name in (None, "", DEFAULT_PRESET) else preset_name
    return preset(name, dataset.elements, r_cut)


def feature_key(dataset, descriptor) -> tuple:
    """Explicit cache key: dataset content hash and digest of the descriptor parameters."""
    from atomsieve.digest import params_digest

    return dataset.content_hash(), params_digest(descriptor.params)


def features_for(dataset, preset_name: str = DEFAULT_PRESET, r_cut: float = 6.0,
                 progress=None) -> AtomicFeatures:
    """Min-max scaled features of ``dataset``, computed once per key in this process."""
    descriptor = build_descriptor(dataset, preset_name, r_cut)
    key = feature_key(dataset, descriptor)
    return FEATURES.get_or_compute(
        key, lambda: descriptor.compute(dataset, scaler="minmax", device="cpu", progress=progress,
                                        cache=True))


def describe_features(feats: AtomicFeatures) -> str:
    """One line: functions per atom, preset, cut-off (Å) and atoms."""
    params = feats.params or {}
    return (f"{feats.n_features} symmetry functions per atom ({params.get('preset', 'custom')}, cut-off "
            f"{params.get('r_cut', '?')} Å), {feats.n_atoms:,} atoms")


class FeaturesState(param.Parameterized):
    """Descriptor choice and the resulting per-atom features of the session's dataset.

    Examples
    --------
    >>> from atomsieve.datasets import load_default
    >>> data = DatasetState(dataset=load_default("test"), title="Ge test")
    >>> fs = FeaturesState(data=data)
    >>> fs.compute_now().values.shape
    (1568, 40)
    """

    data = param.ClassSelector(class_=DatasetState)
    preset = param.String(default=DEFAULT_PRESET, doc="descriptor preset name")
    r_cut = param.Number(default=6.0, bounds=(2.0, 12.0), doc="cut-off radius (Å)")
    features = param.ClassSelector(class_=AtomicFeatures, allow_None=True, doc="scaled fingerprints")
    busy = param.Boolean(default=False, doc="a computation is running")
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="fraction of structures done")
    status = param.String(default="", doc="one line on what is happening")

    def __init__(self, background: Background | None = None, **params):
        super().__init__(**params)
        self.background = background or Background()
        self._wanted: tuple | None = None
        self.data.param.watch(lambda *_e: self.request(), ["dataset"], precedence=10)  # after clean-ups
        self.param.watch(lambda *_e: self.request(), ["preset", "r_cut"])

    def descriptor(self):
        """The SymmetryFunctions the current choice builds for the dataset's elements (None if invalid)."""
        try:
            return self._check()
        except Exception:  # noqa: BLE001 - reported when features are requested
            return None

    def _check(self):
        if self.preset not in preset_names():
            raise ParameterError(f"unknown descriptor preset {self.preset!r}; choose one of {preset_names()}")
        return build_descriptor(self.data.dataset, self.preset, self.r_cut)

    def compute_now(self) -> AtomicFeatures:
        """Compute (or fetch) the features in this thread and publish them."""
        self._check()
        feats = features_for(self.data.dataset, self.preset, self.r_cut)
        # Setting the same object fires every watcher again; when the background computation that
        # the descriptor change started has published these features already, there is no news.
        if feats is not self.features:
            self.features = feats
        self.status = describe_features(feats)
        return feats

    def request(self) -> None:
        """Publish cached features at once, or compute them in the background."""
        dataset = self.data.dataset
        try:
            descriptor = self._check()
        except Exception as exc:  # noqa: BLE001 - shown by the views through notify
            from atomsieve.app.notify import describe, notify

            notify(f"Descriptor: {describe(exc)}")
            return
        key = feature_key(dataset, descriptor)
        self._wanted = key
        hit = FEATURES.get(key)
        if hit is not None:
            self._publish(key, hit)
            return
        self.busy, self.progress = True, 0.0
        self.status = f"computing {descriptor.n_features} symmetry functions for {dataset.n_atoms:,} atoms…"

        def work(cancelled, emit):
            def progress(done, total, label=""):
                emit(done / max(total, 1))
            return features_for(dataset, self.preset, self.r_cut, progress=progress)

        self.background.submit(
            "fingerprints", work, on_result=lambda feats: self._publish(key, feats),
            on_emit=lambda frac: setattr(self, "progress", float(min(max(frac, 0.0), 1.0))),
            on_finally=lambda: setattr(self, "busy", self._wanted != key and self.busy),
        )

    def _publish(self, key: tuple, feats: AtomicFeatures) -> None:
        if key != self._wanted:
            return  # the user moved on to another dataset or descriptor meanwhile
        if feats is self.features:  # compute_now got there first: nothing new to tell the watchers
            # (param fires watchers on every assignment, the same object included)
            self.busy, self.progress = False, 1.0
            return
        with param.parameterized.batch_call_watchers(self):
            self.busy, self.progress = False, 1.0
            self.status = describe_features(feats)
            self.features = feats
