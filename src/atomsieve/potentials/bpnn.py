"""Training a Behler–Parrinello network on prepared data: seeded, early-stopped, CPU or CUDA."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable

import numpy as np
import torch

from atomsieve.errors import ParameterError
from atomsieve.potentials.loss import error_measures, loss_weights
from atomsieve.potentials.network import ACTIVATIONS, BehlerParrinelloNetwork
from atomsieve.potentials.prepared import PreparedData
from atomsieve.progress import ProgressCallback, report

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_GLOBAL_RNG = threading.Lock()


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} but CUDA is not available; use 'cpu' or 'auto'")
    return dev


class _Batch:
    """Tensors of a group of structures, with batch-local atom indices, on one device."""

    def __init__(self, data: PreparedData, e_w: np.ndarray, f_w: np.ndarray, device, dtype):
        t = lambda a, dt=dtype: torch.as_tensor(np.asarray(a), dtype=dt, device=device)  # noqa: E731
        self.n_structures = data.n_structures
        self.features = t(data.features)
        self.species = t(data.species, torch.long)
        self.structure = t(data.structure_index, torch.long)
        self.pair_center = t(data.pair_center, torch.long)
        self.pair_neighbour = t(data.pair_neighbour, torch.long)
        self.pair_values = t(data.pair_values)
        zeros_e = np.zeros(data.n_structures)
        self.energies = t(data.energies if data.energies is not None else zeros_e)
        self.forces = t(data.forces if data.forces is not None else np.zeros((data.n_atoms, 3)))
        self.e_w, self.f_w = t(e_w), t(f_w)

    def loss(self, net: BehlerParrinelloNetwork, create_graph: bool) -> torch.Tensor:
        energies, forces, _ = net.energies_and_forces(
            self.features, self.species, self.structure, self.n_structures,
            self.pair_center, self.pair_neighbour, self.pair_values, create_graph=create_graph,
        )
        return (self.e_w * (energies - self.energies) ** 2).sum() + (
            self.f_w * ((forces - self.forces) ** 2).sum(1)
        ).sum()


class BPNNPotential:
    """A Behler–Parrinello neural-network potential (one MLP per element).

    Parameters
    ----------
    hidden : tuple of int
        Widths of the hidden layers of every element's MLP.
    activation : {"tanh", "silu", "softplus", "celu"}
    force_weight : float
        α of the loss in :mod:`atomsieve.potentials.loss` (Å²).
    central_force_weight : float, optional
        β, the weight of a chunk's central-atom force (default α).
    learning_rate : float
        Adam's step size; halved when the validation loss stalls.
    max_epochs, batch_size : int
        Passes over the training structures, structures per step.
    patience : int
        Early stopping: epochs without a better validation loss before training ends;
        the best weights are kept.
    validation_fraction : float
        Share of the training structures held out for early stopping (none when fewer than
        5 structures; the training loss is watched instead).
    seed : int
        Seeds weights, the validation split and batch order.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    dtype : {"float32", "float64"}

    Attributes
    ----------
    network_ : BehlerParrinelloNetwork
    elements_ : list of str
    history_ : list of dict
        Per epoch: training and validation loss.
    best_epoch_, seconds_ : int, float

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((12, 3))
    >>> d = PreparedData(features=x, species=np.zeros(12, int), elements=["Ge"], atom_counts=[3] * 4,
    ...                  pair_center=np.arange(12), pair_neighbour=np.arange(12),
    ...                  pair_values=np.zeros((12, 3, 3)), energies=x.reshape(4, 3, 3).sum((1, 2)))
    >>> model = BPNNPotential(hidden=(8,), max_epochs=5, seed=1).fit(d)
    >>> model.predict(d)[0].shape, len(model.history_)
    ((4,), 5)
    """

    def __init__(self, hidden=(32, 32), activation: str = "tanh", force_weight: float = 1.0,
                 central_force_weight: float | None = None, learning_rate: float = 3e-3,
                 max_epochs: int = 300, batch_size: int = 16, patience: int = 40,
                 validation_fraction: float = 0.1, seed: int = 0, device: str = "auto",
                 dtype: str = "float32"):
        self.hidden = hidden
        self.activation = activation
        self.force_weight = force_weight
        self.central_force_weight = central_force_weight
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.device = device
        self.dtype = dtype

    def _validate(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ParameterError(f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}")
        if self.dtype not in _DTYPES:
            raise ParameterError(f"dtype must be 'float32' or 'float64'; got {self.dtype!r}")
        if not all(int(h) > 0 for h in self.hidden):
            raise ParameterError(f"hidden layer widths must be positive; got {self.hidden}")
        for name in ("max_epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not 0 <= self.validation_fraction < 1:
            raise ParameterError(f"validation_fraction must lie in [0, 1); got {self.validation_fraction}")

    def get_config(self) -> dict:
        """The constructor arguments (JSON-serialisable)."""
        cfg = {k: getattr(self, k) for k in (
            "activation", "force_weight", "central_force_weight", "learning_rate", "max_epochs",
            "batch_size", "patience", "validation_fraction", "seed", "device", "dtype")}
        cfg["hidden"] = [int(h) for h in self.hidden]
        return cfg

    def build_network(self, n_features: int, elements: list[str]) -> BehlerParrinelloNetwork:
        """A freshly initialised (seeded) network for these features and elements."""
        # torch's default generator is process-wide: hold it while seeding and drawing the weights, so
        # networks built in parallel threads (learning-curve jobs) are still seeded exactly.
        with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = BehlerParrinelloNetwork(n_features, len(elements), tuple(self.hidden), self.activation)
        self.elements_ = list(elements)
        self.network_ = net.to(dtype=_DTYPES[self.dtype])
        return self.network_

    def fit(self, data: PreparedData, structures=None, structure_weights=None, atom_force_weights=None,
            progress: ProgressCallback | None = None,
            should_stop: Callable[[], bool] | None = None) -> BPNNPotential:
        """Train on ``data`` (or the structures at ``structures``, repeats allowed)."""
        self._validate()
        start = time.perf_counter()
        device, dtype = resolve_device(self.device), _DTYPES[self.dtype]
        _require_pairs(data)
        sub = data if structures is None else data.subset(structures)
        if sub.n_structures == 0:
            raise ParameterError("BPNNPotential.fit: no structures to fit")
        e_w, f_w = loss_weights(sub, structure_weights, self.force_weight, self.central_force_weight,
                                atom_force_weights)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(sub.n_structures)
        n_val = int(round(self.validation_fraction * sub.n_structures)) if sub.n_structures >= 5 else 0
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        net = self.build_network(sub.n_features, sub.elements)
        _set_energy_reference(net, sub.subset(train_idx), f_w[sub.atoms_of(train_idx)] > 0)
        net.to(device)

        def batches(idx: np.ndarray) -> list[_Batch]:
            out = []
            for lo in range(0, len(idx), int(self.batch_size)):
                part = idx[lo : lo + int(self.batch_size)]
                atoms = sub.atoms_of(part)
                # Renormalise per batch so each batch's loss is a mean like the full loss.
                norm = len(idx) / len(part)
                out.append(_Batch(sub.subset(part), e_w[part] * norm, f_w[atoms] * norm, device, dtype))
            return out

        train_batches = batches(train_idx[rng.permutation(len(train_idx))])
        val_batches = batches(val_idx)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, int(self.patience) // 4))
        best, best_state, stale = np.inf, copy.deepcopy(net.state_dict()), 0
        self.history_ = []
        total = int(self.max_epochs)
        for epoch in range(total):
            if should_stop is not None and should_stop():
                break
            net.train()
            train_loss = 0.0
            for b in rng.permutation(len(train_batches)):
                optimizer.zero_grad()
                loss = train_batches[b].loss(net, create_graph=True)
                loss.backward()
                optimizer.step()
                train_loss += float(loss.detach()) / len(train_batches)
            watched = train_loss
            if val_batches:
                watched = sum(float(b.loss(net, create_graph=False).detach()) for b in val_batches)
                watched /= len(val_batches)
            scheduler.step(watched)
            self.history_.append({"epoch": epoch, "train_loss": train_loss,
                                  "validation_loss": watched if val_batches else np.nan})
            if watched < best * (1 - 1e-4):
                best, best_state, stale = watched, copy.deepcopy(net.state_dict()), 0
                self.best_epoch_ = epoch
            else:
                stale += 1
            report(progress, epoch + 1, total, f"epoch {epoch + 1}")
            if stale >= int(self.patience):
                break
        net.load_state_dict(best_state)
        net.eval()
        self.best_loss_ = float(best)
        self.seconds_ = time.perf_counter() - start
        return self

    def _check(self, data: PreparedData) -> None:
        if not hasattr(self, "network_"):
            raise ParameterError("BPNNPotential is not fitted; call fit (or load a saved model) first")
        if list(data.elements) != self.elements_:
            raise ParameterError(f"data has elements {data.elements}; the model knows {self.elements_}")
        _require_pairs(data)

    def predict_all(self, data: PreparedData, structures=None, batch_atoms: int = 20_000
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Energies (eV), forces (eV/Å) and atomic energies (eV) of ``data`` or of ``structures``.

        Structures are evaluated in groups of about ``batch_atoms`` atoms to bound memory.
        """
        self._check(data)
        idx = np.arange(data.n_structures) if structures is None else np.asarray(structures, dtype=np.int64)
        net = self.network_
        param = next(net.parameters())
        to_np = lambda x: x.detach().cpu().numpy().astype(np.float64)  # noqa: E731
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        counts = np.cumsum(data.atom_counts[idx])
        start = 0
        while start < len(idx):
            stop = int(np.searchsorted(counts, (counts[start - 1] if start else 0) + batch_atoms, "right"))
            stop = max(stop, start + 1)
            sub = data.subset(idx[start:stop])
            batch = _Batch(sub, np.zeros(sub.n_structures), np.zeros(sub.n_atoms), param.device, param.dtype)
            energies, forces, atomic = net.energies_and_forces(
                batch.features, batch.species, batch.structure, batch.n_structures,
                batch.pair_center, batch.pair_neighbour, batch.pair_values)
            parts.append((to_np(energies), to_np(forces), to_np(atomic)))
            start = stop
        if not parts:
            return np.zeros(0), np.zeros((0, 3)), np.zeros(0)
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]

    def energies_from_features(self, features: np.ndarray, species: np.ndarray) -> np.ndarray:
        """Atomic energies (eV) from scaled fingerprints and element indices (no derivatives needed)."""
        if not hasattr(self, "network_"):
            raise ParameterError("BPNNPotential is not fitted; call fit (or load a saved model) first")
        param = next(self.network_.parameters())
        with torch.no_grad():
            out = self.network_.atomic_energies(
                torch.as_tensor(np.asarray(features), dtype=param.dtype, device=param.device),
                torch.as_tensor(np.asarray(species), dtype=torch.long, device=param.device))
        return out.cpu().numpy().astype(np.float64)

    def predict(self, data: PreparedData, structures=None) -> tuple[np.ndarray, np.ndarray]:
        """Energies (eV) per structure and forces (eV/Å) per atom."""
        energies, forces, _ = self.predict_all(data, structures)
        return energies, forces

    def atomic_energies(self, data: PreparedData) -> np.ndarray:
        """Energy of each atom (eV)."""
        return self.predict_all(data)[2]

    def score(self, data: PreparedData, structures=None) -> dict[str, float]:
        """Error measures (eV/atom, eV/Å) on ``data`` or on ``structures``."""
        sub = data if structures is None else data.subset(structures)
        energies, forces = self.predict(sub)
        return error_measures(sub, energies, forces)


def _require_pairs(data: PreparedData) -> None:
    if not data.has_pairs:
        raise ParameterError(
            "the neural network needs the per-pair Jacobian: prepare the data with pairs=True")


def _set_energy_reference(net: BehlerParrinelloNetwork, data: PreparedData, force_used: np.ndarray) -> None:
    """Per-element energy shifts by least squares on composition, and the energy scale."""
    n_el = len(data.elements)
    shift, scale = np.zeros(n_el), 0.0
    ordinary = np.ones(data.n_structures, bool) if data.central_atoms is None else data.central_atoms < 0
    if data.energies is not None and ordinary.any():
        counts = data.species_counts()[ordinary]
        energies = data.energies[ordinary]
        shift = np.linalg.lstsq(counts, energies, rcond=None)[0]
        residual = (energies - counts @ shift) / data.atom_counts[ordinary]
        scale = float(residual.std()) if len(residual) > 1 else 0.0
    if data.forces is not None and force_used.any():
        # Forces set the scale too: an atomic energy must change by about |F| · 1 Å.
        scale = max(scale, float(np.sqrt(np.mean(data.forces[force_used] ** 2))))
    scale = float(np.clip(scale, 0.01, 10.0)) if scale > 0 else 1.0
    with torch.no_grad():
        net.shift.copy_(torch.as_tensor(shift, dtype=net.shift.dtype))
        net.scale.fill_(scale)
