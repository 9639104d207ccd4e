"""A trained potential bundled with the descriptor and scaler it needs to see new structures."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from atomsieve.data import Dataset
from atomsieve.descriptors import SymmetryFunctions
from atomsieve.errors import ParameterError
from atomsieve.potentials.calculator import AtomsieveCalculator
from atomsieve.potentials.featurize import prepare
from atomsieve.potentials.io import read_potential, save_potential
from atomsieve.potentials.prepared import PreparedData
from atomsieve.progress import ProgressCallback


def as_dataset(data) -> Dataset:
    """A Dataset from a Dataset, one Atoms or a list of Atoms."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, Atoms):
        return Dataset([data])
    if isinstance(data, list | tuple) and all(isinstance(a, Atoms) for a in data):
        return Dataset(list(data))
    raise ParameterError(f"expected a Dataset, an ase.Atoms or a list of Atoms; got {type(data).__name__}")


def needs_pairs(model) -> bool:
    """Whether ``model`` (or an ensemble of it) needs the per-pair Jacobian (the neural network)."""
    from atomsieve.potentials.bpnn import BPNNModel

    inner = getattr(model, "model", model)
    return isinstance(inner, BPNNModel) or isinstance(model, BPNNModel)


@dataclass
class Potential:
    """A fitted model (linear, BPNN or ensemble) with its descriptor and fitted scaler.

    Examples
    --------
    >>> from atomsieve.datasets import load_default
    >>> from atomsieve.descriptors import preset
    >>> from atomsieve.potentials import LinearModel
    >>> ds = load_default("test").subset([0, 1, 2])
    >>> pot = fit_potential(ds, LinearModel(), preset(None, ["Ge"], r_cut=3.0))
    >>> energies, forces = pot.predict(ds.atoms[:2])
    >>> energies.shape, forces.shape
    ((2,), (126, 3))
    """

    model: Any
    descriptor: SymmetryFunctions
    scaler: Any

    def prepare(self, data) -> PreparedData:
        """Fingerprints and Jacobian of ``data`` with this potential's descriptor and scaler."""
        ds = as_dataset(data)
        prepared, _ = prepare(ds, self.descriptor, self.scaler, cache=False, central_atoms=None,
                              pairs=needs_pairs(self.model))
        return prepared

    def predict(self, data) -> tuple[np.ndarray, np.ndarray]:
        """Energies (eV) per structure and forces (eV/Å) per atom of a Dataset, Atoms or list."""
        return self.model.predict(self.prepare(data))

    def atomic_energies_only(self, atoms: Atoms) -> np.ndarray:
        """Energy of each atom of one structure (eV), from fingerprints alone (no Jacobian)."""
        import torch

        feats = self.descriptor.compute(as_dataset(atoms), scaler=self.scaler)
        species = self.descriptor.species_index(torch.as_tensor(feats.species)).cpu().numpy()
        return self.model.energies_from_features(feats.values, species)

    def predict_uncertainty(self, data) -> dict[str, np.ndarray]:
        """Ensemble mean and spread (see :meth:`Ensemble.predict_uncertainty`); ensembles only."""
        if not hasattr(self.model, "predict_uncertainty"):
            raise ParameterError(f"{type(self.model).__name__} has no uncertainty; fit an Ensemble")
        return self.model.predict_uncertainty(self.prepare(data))

    def atomic_energies(self, data) -> np.ndarray:
        """Energy of each atom (eV)."""
        return self.model.atomic_energies(self.prepare(data))

    def score(self, data) -> dict[str, float]:
        """Error measures (eV/atom, eV/Å) on a labelled Dataset."""
        return self.model.score(self.prepare(data))

    def calculator(self) -> AtomsieveCalculator:
        """An ASE calculator using this potential."""
        return AtomsieveCalculator(self)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False):
        """Write to ``path`` (a torch file of tensors and JSON; see :func:`save_potential`)."""
        return save_potential(self, path, overwrite=overwrite)


#: What :func:`fit_potential` gives a neural network when no descriptor is given: the 56 Gaussian G2/G4
#: candidates at 6.5 Å, 21 kept by force correlation on the training data (as ``atomsieve nft`` and the
#: nearsighted-force-training paper do). Measured on the EMT platinum check (benchmarks/README.md):
#: 2.6–4.0 meV/Å test force MAE on four data draws, against 3.7–10.4 with all 56 and 32.5 with
#: ``li_single_element``.
NETWORK_FUNCTIONS = {"preset": "gaussian_g2g4", "feature_selection": "fcorr", "n_features": 21}


def fit_potential(dataset: Dataset, model, descriptor: SymmetryFunctions | None = None,
                  scaler: Any = "minmax", *, feature_selection: str | None = "auto", n_features: int = 21,
                  structures=None, progress: ProgressCallback | None = None,
                  should_stop: Callable[[], bool] | None = None, **fit_kwargs) -> Potential:
    """Prepare ``dataset`` and fit ``model`` on it; returns the bundled :class:`Potential`.

    ``model`` is an unfitted :class:`LinearModel`, :class:`BPNNModel` or
    :class:`Ensemble`; ``fit_kwargs`` (``structure_weights``, ``atom_force_weights``) go to its
    ``fit``. Chunk central atoms are read from ``atoms.info["central_atom"]``.

    ``feature_selection`` ("cur", "fcorr" or None) keeps ``n_features`` of the descriptor's
    functions (all of them when it has no more), chosen on the training structures
    (:func:`~atomsieve.potentials.featurize.select_functions`).
    ``"auto"``: a neural network without a descriptor gets :data:`NETWORK_FUNCTIONS`; otherwise the
    descriptor (default: the preset for the dataset's elements) is used whole.
    """
    import numbers

    from atomsieve.descriptors.presets import keep_functions, preset
    from atomsieve.potentials.featurize import FUNCTION_SELECTIONS, select_functions

    if feature_selection not in ("auto", None, *FUNCTION_SELECTIONS):
        raise ParameterError(f"feature_selection must be 'auto', None or one of {FUNCTION_SELECTIONS}; "
                             f"got {feature_selection!r}")
    if isinstance(n_features, bool) or not isinstance(n_features, numbers.Integral) or n_features < 1:
        raise ParameterError(f"n_features (functions to keep) must be a whole number of at least 1; "
                             f"got {n_features!r}")
    if feature_selection == "auto":
        feature_selection = None
        if descriptor is None and needs_pairs(model):
            descriptor = preset(NETWORK_FUNCTIONS["preset"], dataset.elements)
            feature_selection = NETWORK_FUNCTIONS["feature_selection"]
    if feature_selection is not None:
        from atomsieve.descriptors import default_descriptor

        descriptor = descriptor if descriptor is not None else default_descriptor(dataset)
        training = dataset if structures is None else dataset.subset(structures)
        data, _ = prepare(training, descriptor, scaler, cache=False)
        count = min(int(n_features), descriptor.n_features)
        descriptor = keep_functions(descriptor, select_functions(data, feature_selection, count))
    data, feats = prepare(dataset, descriptor, scaler, pairs=needs_pairs(model))
    model.fit(data, structures=structures, progress=progress, should_stop=should_stop, **fit_kwargs)
    from atomsieve.descriptors import SymmetryFunctions as SF

    sf = descriptor if descriptor is not None else SF.from_params(feats.params)
    return Potential(model=model, descriptor=sf, scaler=feats.scaler)


def load_potential(path: str | os.PathLike) -> Potential:
    """Read a potential written by :meth:`Potential.save` (``weights_only=True``: no code runs)."""
    model, descriptor, scaler = read_potential(path)
    return Potential(model=model, descriptor=descriptor, scaler=scaler)


def load_calculator(path: str | os.PathLike) -> AtomsieveCalculator:
    """The ASE calculator of a potential saved with :meth:`Potential.save`."""
    return load_potential(path).calculator()
