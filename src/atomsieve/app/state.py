"""Dashboard state: data and derived results, no widgets."""

from __future__ import annotations

import param

from atomsieve.data import Dataset


class DatasetState(param.Parameterized):
    """The dataset a dashboard session works on."""

    dataset = param.ClassSelector(class_=Dataset, doc="the loaded structures and labels")
    name = param.String(default="", doc="what to call the dataset on screen")

    @classmethod
    def from_path(cls, path=None, *, energy_key=None, forces_key=None) -> DatasetState:
        """Load ``path``, or the embedded germanium set when ``path`` is None."""
        from atomsieve.data import load
        from atomsieve.datasets import load_default

        if path is None:
            return cls(dataset=load_default(), name="germanium DFT set (Zuo et al. 2020, mlearn)")
        ds = load(path, energy_key=energy_key, forces_key=forces_key)
        return cls(dataset=ds, name=str(path))
