"""The ensemble nearsighted force training trains: descriptor, fixed scaling, bootstrap members.

:class:`NFTEnsemble` joins the pieces of :mod:`atomsieve.descriptors` and
:mod:`atomsieve.potentials` for labelled ASE structures: fingerprints and their sparse Jacobian
are computed once per structure and cached (for a chunk only the blocks ``∂G_i/∂r_centre`` are
kept — all its central-atom force needs); every fit min–max scales them on the training atoms and
trains a :class:`~atomsieve.potentials.ensemble.Ensemble` of Behler–Parrinello (or linear)
members, where a chunk contributes only its central atom's force to the loss. Predictions on a
whole structure take forces by autograd through the descriptor, one backward pass per member.

Units: eV, Å, eV/Å.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms

from atomsieve.active.fingerprints import StructureBlocks, structure_blocks
from atomsieve.descriptors.presets import default_descriptor
from atomsieve.errors import CacheError, ParameterError
from atomsieve.potentials.ensemble import UNCERTAINTY_FACTOR, Ensemble
from atomsieve.potentials.prepared import PreparedData
from atomsieve.progress import ProgressCallback, StopCallback

#: Default Behler–Parrinello members: the paper's (21, 10, 10, 1) networks (21 inputs with the default
#: feature selection) trained by full-batch L-BFGS in float64 until Amp's convergence goals
#: (energy RMSE 1 meV/atom, force RMSE 5 meV/Å, largest force residual 0.02 eV/Å) or 400 iterations.
DEFAULT_BPNN = {"hidden": (10, 10), "optimizer": "lbfgs", "learning_rate": 1.0, "max_epochs": 400,
                "patience": 50, "force_weight": 1.0, "central_force_weight": 4.0,
                "validation_fraction": 0.0, "energy_rmse_goal": 0.001, "force_rmse_goal": 0.005,
                "force_max_goal": 0.02, "device": "cpu", "dtype": "float64"}


def _key(atoms: Atoms, centre_only: bool) -> str:
    h = hashlib.sha1()
    for arr in (atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(b"c" if centre_only else b"f")
    return h.hexdigest()


def _is_chunk(atoms: Atoms) -> bool:
    return "central_atom" in atoms.info


class NFTEnsemble:
    """A bootstrap ensemble on symmetry functions, for labelled initial cells and chunks.

    Structures in, predictions out: it owns its descriptor and scaling and wraps a
    :class:`atomsieve.potentials.Ensemble` (which works on prepared model input). Called
    ``EnsembleModel`` before; that name still imports.

    Parameters
    ----------
    n_members : int
        Bootstrap members (10 in the paper).
    model : {"bpnn", "linear"}
        Member type: :class:`~atomsieve.potentials.bpnn.BPNNModel` or
        :class:`~atomsieve.potentials.linear.LinearModel`.
    model_params : dict, optional
        Constructor arguments of the members (BPNN defaults: :data:`DEFAULT_BPNN`).
    descriptor : str
        Symmetry-function preset name (:mod:`atomsieve.descriptors.presets`).
    descriptor_cutoff : float
        Descriptor cutoff (Å); must not exceed the chunk cutoff.
    feature_selection : {None, "cur", "fcorr"}
        Keep only ``n_features`` of the descriptor's functions, chosen at every fit on the training
        atoms: CUR on the scaled fingerprints, or force correlation (the functions whose force
        features best explain the labelled forces; :mod:`atomsieve.selectors.feature_selection`).
    n_features : int
        Functions kept by the feature selection.
    seed : int

    Examples
    --------
    >>> NFTEnsemble(n_members=4, model="linear").get_config()["n_members"]
    4
    """

    def __init__(self, n_members: int = 10, model: str = "bpnn", model_params: dict | None = None,
                 descriptor: str = "li_single_element", descriptor_cutoff: float = 6.0,
                 feature_selection: str | None = None, n_features: int = 20, seed: int = 0):
        self.n_members = n_members
        self.model = model
        self.model_params = model_params
        self.descriptor = descriptor
        self.descriptor_cutoff = descriptor_cutoff
        self.feature_selection = feature_selection
        self.n_features = n_features
        self.seed = seed

    def get_config(self) -> dict:
        return {"n_members": int(self.n_members), "model": self.model,
                "model_params": dict(self.model_params or {}), "descriptor": self.descriptor,
                "descriptor_cutoff": float(self.descriptor_cutoff),
                "feature_selection": self.feature_selection, "n_features": int(self.n_features),
                "seed": int(self.seed)}

    # -- construction ---------------------------------------------------------------------------
    def with_elements(self, elements: list[str]) -> NFTEnsemble:
        """An unfitted copy whose descriptor covers ``elements`` (shared with its clones)."""
        out = NFTEnsemble(**self.get_config())
        out.elements_ = list(elements)
        out.descriptor_ = default_descriptor(elements, self.descriptor_cutoff, self.descriptor)
        out._blocks = {}
        return out

    def clone(self, seed: int | None = None) -> NFTEnsemble:
        """An unfitted copy sharing the descriptor and the fingerprint cache."""
        self._need("descriptor_", "with_elements")
        cfg = self.get_config()
        if seed is not None:
            cfg["seed"] = int(seed)
        out = NFTEnsemble(**cfg)
        out.elements_, out.descriptor_, out._blocks = self.elements_, self.descriptor_, self._blocks
        return out

    def validate(self) -> None:
        """Check every setting now (a member is built and checked), before a run records them."""
        from atomsieve.descriptors import PRESETS

        if not 1 <= int(self.n_members) <= 1000:
            raise ParameterError(f"n_members must be from 1 to 1000; got {self.n_members}")
        if self.descriptor not in PRESETS:
            raise ParameterError(f"descriptor {self.descriptor!r} is unknown; use one of {sorted(PRESETS)}")
        if not (np.isfinite(self.descriptor_cutoff) and self.descriptor_cutoff > 0):
            raise ParameterError(
                f"descriptor_cutoff must be a positive distance in Å; got {self.descriptor_cutoff}")
        if self.feature_selection not in (None, "cur", "fcorr"):
            raise ParameterError(
                f"feature_selection must be None, 'cur' or 'fcorr'; got {self.feature_selection!r}")
        if self.feature_selection is not None and int(self.n_features) < 1:
            raise ParameterError(f"n_features must be at least 1; got {self.n_features}")
        try:
            member = self._member()
        except TypeError as exc:
            raise ParameterError(f"model_params {self.model_params}: {exc}") from None
        check = getattr(member, "_validate", None)
        if check is not None:
            check()

    def _need(self, attr: str, call: str) -> None:
        if not hasattr(self, attr):
            raise ParameterError(f"NFTEnsemble has no {attr.rstrip('_')} yet; call {call} first")

    def _member(self):
        if self.model == "bpnn":
            from atomsieve.potentials.bpnn import BPNNModel

            return BPNNModel(**{**DEFAULT_BPNN, **(self.model_params or {})})
        if self.model == "linear":
            from atomsieve.potentials.linear import LinearModel

            return LinearModel(**(self.model_params or {}))
        raise ParameterError(f"model must be 'bpnn' or 'linear'; got {self.model!r}")

    # -- data -----------------------------------------------------------------------------------
    def blocks(self, structures: list[Atoms]) -> list[StructureBlocks]:
        """Raw fingerprints and Jacobian blocks of each structure (cached)."""
        out: list[StructureBlocks | None] = []
        missing = []
        for a in structures:
            k = _key(a, _is_chunk(a))
            out.append(self._blocks.get(k))
            if out[-1] is None:
                missing.append((len(out) - 1, k))
        if missing:
            new = structure_blocks(self.descriptor_, [structures[i] for i, _ in missing],
                                   centre_only=[_is_chunk(structures[i]) for i, _ in missing])
            for (i, k), b in zip(missing, new):
                self._blocks[k] = out[i] = b
        return out  # type: ignore[return-value]

    def _prepared(self, structures: list[Atoms], labelled: bool) -> PreparedData:
        blocks = self.blocks(structures)
        species_of = {e: i for i, e in enumerate(self.elements_)}
        feats = np.concatenate([b.features for b in blocks])
        numbers = np.concatenate([a.numbers for a in structures])
        from ase.data import chemical_symbols

        species = np.array([species_of[chemical_symbols[z]] for z in numbers], dtype=np.int64)
        lo, span = self.scale_
        counts = np.array([len(a) for a in structures])
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pc = np.concatenate([b.pair_center + o for b, o in zip(blocks, offsets)])
        pn = np.concatenate([b.pair_neighbour + o for b, o in zip(blocks, offsets)])
        cols = self._columns()
        pv = np.concatenate([b.pair_values[:, cols] for b in blocks]) / span[species[pc]][:, :, None]
        central = np.array([int(a.info["central_atom"]) if _is_chunk(a) else -1 for a in structures])
        energies = forces = None
        if labelled:
            energies = np.array([a.get_potential_energy() for a in structures])
            forces = np.concatenate([a.get_forces() for a in structures])
        return PreparedData(features=(feats[:, cols] - lo[species]) / span[species], species=species,
                            elements=list(self.elements_), atom_counts=counts, pair_center=pc,
                            pair_neighbour=pn, pair_values=pv, energies=energies, forces=forces,
                            central_atoms=central)

    def _fit_scale(self, structures: list[Atoms]) -> None:
        blocks = self.blocks(structures)
        feats = np.concatenate([b.features for b in blocks])
        numbers = np.concatenate([a.numbers for a in structures])
        n_el = len(self.elements_)
        lo, span = np.zeros((n_el, feats.shape[1])), np.ones((n_el, feats.shape[1]))
        from ase.data import atomic_numbers

        for i, e in enumerate(self.elements_):
            rows = feats[numbers == atomic_numbers[e]]
            if len(rows):
                lo[i] = rows.min(0)
                width = rows.max(0) - lo[i]
                span[i] = np.where(width > 1e-12, width, 1.0)
        self.scale_ = (lo, span)

    def _columns(self) -> np.ndarray:
        """The descriptor columns the members see (all, without feature selection)."""
        cols = getattr(self, "columns_", None)
        return np.arange(self.descriptor_.n_features) if cols is None else cols

    def _select_columns(self, structures: list[Atoms]) -> None:
        """Choose ``columns_`` on the training atoms (sets the scale of the kept columns too)."""
        self.columns_ = None
        if self.feature_selection is None:
            return
        from atomsieve.potentials.featurize import select_functions

        n_all = self.descriptor_.n_features
        count = int(self.n_features)
        if not 1 <= count <= n_all:
            raise ParameterError(f"n_features must lie in [1, {n_all}] (the descriptor's size); got {count}")
        data = self._prepared(structures, labelled=self.feature_selection == "fcorr")
        self.columns_ = select_functions(data, self.feature_selection, count)
        lo, span = self.scale_
        self.scale_ = (lo[:, self.columns_], span[:, self.columns_])

    # -- training and prediction ----------------------------------------------------------------
    def fit(self, initial: list[Atoms], chunks: list[Atoms] = (), progress: ProgressCallback | None = None,
            *, should_stop: StopCallback | None = None) -> NFTEnsemble:
        """Train the ensemble on labelled initial cells (all labels) and chunks (central forces only).

        ``progress`` and ``should_stop`` go to :meth:`atomsieve.potentials.ensemble.Ensemble.fit` (a
        stop ends each member's training early, keeping its best weights).
        """
        self._need("descriptor_", "with_elements")
        structures = list(initial) + list(chunks)
        if not structures:
            raise ParameterError("NFTEnsemble.fit: no training structures")
        self.columns_ = None
        self._fit_scale(structures)
        self._select_columns(structures)
        data = self._prepared(structures, labelled=True)
        self.ensemble_ = Ensemble(self._member(), n_members=int(self.n_members), seed=int(self.seed))
        self.ensemble_.fit(data, progress=progress, should_stop=should_stop)
        self.n_train_ = len(structures)
        return self

    def predict(self, atoms: Atoms, cache: bool = True) -> dict[str, Any]:
        """Ensemble mean energy (eV) and forces (eV/Å), per-atom force spread and δ = 2.58 σ_f.

        With ``cache`` (a target predicted in every iteration) forces come from the sparse
        descriptor Jacobian of ``atoms``, kept in the model's cache; without it (every step of a
        relaxation is a new structure) from one autograd pass through the descriptor with the
        members' energy gradients as a batch of cotangents, which is cheaper than a fresh Jacobian.
        """
        self._need("ensemble_", "fit")
        if cache:
            data = self._prepared([atoms], labelled=False)
            out = self.ensemble_.predict_uncertainty(data)
            energies = None
        else:
            energies, forces = self._member_forces_autograd(atoms)
            mean = forces.mean(0)
            std = np.sqrt(((forces - mean) ** 2).sum(axis=(0, 2)) / (len(forces) - 1))
            out = {"energies": [energies.mean()], "energy_std": [energies.std(ddof=1)], "forces": mean,
                   "force_std": std, "delta": UNCERTAINTY_FACTOR * std}
        return {"energy": float(out["energies"][0]), "energy_std": float(out["energy_std"][0]),
                "forces": out["forces"], "force_std": out["force_std"], "delta": out["delta"]}

    def _member_forces_autograd(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """Energies (M,) and forces (M, n, 3) of every member, by autograd through the descriptor."""
        from atomsieve.descriptors.compute import pack

        sf = self.descriptor_
        batch = pack(sf, [atoms], [0], torch.float64, torch.device("cpu"))
        positions = batch.positions.detach().clone().requires_grad_(True)
        lo, span = (torch.as_tensor(x) for x in self.scale_)
        species_of = {e: i for i, e in enumerate(self.elements_)}
        species = torch.as_tensor([species_of[s] for s in atoms.get_chemical_symbols()], dtype=torch.long)
        cols = torch.as_tensor(self._columns())
        g = (sf(batch.species, positions, batch.cells, batch.pbc)[0][:, cols] - lo[species]) / span[species]
        leaf = g.detach().requires_grad_(True)
        energies, gradients = [], []
        for member in self.ensemble_.members_:
            if hasattr(member, "network_"):
                net = member.network_
                e = net.atomic_energies(leaf.to(next(net.parameters()).dtype), species).sum()
                (de_dg,) = torch.autograd.grad(e, leaf)
            else:  # linear: E = Σ_i w_e(i) · G_i + b_e(i)
                coef = torch.as_tensor(member.coef_, dtype=leaf.dtype)[species]
                e = (leaf * coef).sum() + torch.as_tensor(member.offsets_)[species].sum()
                de_dg = coef
            energies.append(float(e.detach()))
            gradients.append(de_dg.to(g.dtype))
        (grad,) = torch.autograd.grad(g, positions, grad_outputs=torch.stack(gradients),
                                      is_grads_batched=True)
        return np.array(energies), -grad.detach().numpy()[:, 0]

    def predict_chunks(self, chunks: list[Atoms]) -> dict[str, np.ndarray]:
        """Central-atom forces (n, 3) and their δ (n,) for chunks, from the cached Jacobian blocks."""
        self._need("ensemble_", "fit")
        data = self._prepared(list(chunks), labelled=False)
        out = self.ensemble_.predict_uncertainty(data)
        centre = data.offsets[:-1] + data.central_atoms
        return {"forces": out["forces"][centre], "delta": out["delta"][centre]}

    def training_errors(self, initial: list[Atoms], chunks: list[Atoms]) -> dict[str, float]:
        """MAE/RMSE of central forces on the training chunks and of forces/energies on the initial cells."""
        out: dict[str, float] = {}
        if chunks:
            pred = self.predict_chunks(chunks)["forces"]
            ref = np.array([c.get_forces()[int(c.info["central_atom"])] for c in chunks])
            out["force_mae_train"] = float(np.mean(np.abs(pred - ref)))
            out["force_rmse_train"] = float(np.sqrt(np.mean((pred - ref) ** 2)))
        data = self._prepared(list(initial), labelled=True)
        scores = self.ensemble_.score(data)
        out["force_mae_initial"] = float(scores["mae_f"])
        out["energy_mae_initial"] = float(scores["mae_e"])
        return out

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the fitted ensemble to ``folder`` (JSON settings + one torch state file, no pickle)."""
        self._need("ensemble_", "fit")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        lo, span = self.scale_
        meta = {"config": self.get_config(), "elements": self.elements_, "lo": lo.tolist(),
                "span": span.tolist(), "columns": None if self.columns_ is None else self.columns_.tolist(),
                "member_configs": [m.get_config() for m in self.ensemble_.members_]}
        state = {f"member{m}": _member_state(member) for m, member in enumerate(self.ensemble_.members_)}
        from atomsieve.data import atomic_group, atomic_path

        with atomic_group():  # weights and settings: both or neither
            with atomic_path(folder / "weights.pt", overwrite=True) as tmp, open(tmp, "wb") as fh:
                torch.save(state, fh)  # a Python file: a full disk is an OSError, not torch's iostream error
            with atomic_path(folder / "model.json", overwrite=True) as tmp:
                tmp.write_text(json.dumps(meta))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> NFTEnsemble:
        """The ensemble saved by :meth:`save`."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "model.json").read_text())
            state = torch.load(folder / "weights.pt", weights_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise CacheError(f"{folder}: not a saved NFTEnsemble ({exc})") from None
        model = cls(**meta["config"]).with_elements(meta["elements"])
        model.scale_ = (np.array(meta["lo"]), np.array(meta["span"]))
        columns = meta.get("columns")
        model.columns_ = None if columns is None else np.asarray(columns, dtype=np.int64)
        proto = model._member()
        members = []
        for m, cfg in enumerate(meta["member_configs"]):
            member = type(proto)(**cfg)
            _restore_member(member, state[f"member{m}"], model)
            members.append(member)
        model.ensemble_ = Ensemble(proto, n_members=len(members), seed=model.seed)
        model.ensemble_.members_ = members
        model.ensemble_.elements_ = list(meta["elements"])
        return model

    def calculator(self):
        """This ensemble as an ASE calculator (:class:`atomsieve.active.calculator.EnsembleCalculator`)."""
        from atomsieve.active.calculator import EnsembleCalculator

        return EnsembleCalculator(self)


def _member_state(member) -> dict:
    if hasattr(member, "network_"):
        return {k: v.detach().cpu() for k, v in member.network_.state_dict().items()}
    return {"coef": torch.as_tensor(member.coef_), "offsets": torch.as_tensor(member.offsets_)}


def _restore_member(member, state: dict, model: NFTEnsemble) -> None:
    n_features = len(model._columns())
    if hasattr(member, "build_network"):
        net = member.build_network(n_features, model.elements_)
        net.load_state_dict(state)
        net.eval()
    else:
        member.coef_ = state["coef"].numpy()
        member.offsets_ = state["offsets"].numpy()
        member.elements_ = list(model.elements_)


#: The former name of :class:`NFTEnsemble` (scripts and notebooks written before the rename).
EnsembleModel = NFTEnsemble
