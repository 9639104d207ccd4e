"""Training a Behler–Parrinello network on prepared data: seeded, early-stopped, CPU or CUDA."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import torch

from atomsieve.device import resolve_device
from atomsieve.errors import ParameterError
from atomsieve.potentials.loss import error_measures, loss_weights
from atomsieve.potentials.network import ACTIVATIONS, BehlerParrinelloNetwork
from atomsieve.potentials.prepared import PreparedData
from atomsieve.potentials.training import OPTIMIZERS, Batch, ConvergenceGoals, train_network
from atomsieve.progress import ProgressCallback
from atomsieve.renamed import renamed_names

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_GLOBAL_RNG = threading.Lock()


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"`` → float64 on the CPU (as Amp trains), float32 on an accelerator."""
    if dtype == "auto":
        return torch.float64 if device.type == "cpu" else torch.float32
    return _DTYPES[dtype]


class BPNNModel:
    """A Behler–Parrinello neural-network model (one MLP per element) trained on prepared fingerprints.

    Parameters
    ----------
    hidden : tuple of int
        Widths of the hidden layers of every element's MLP.
    activation : {"tanh", "silu", "softplus", "celu"}
    force_weight : float
        α of the loss in :mod:`atomsieve.potentials.loss` (Å²).
    central_force_weight : float, optional
        β, the weight of a chunk's central-atom force (default α).
    optimizer : {"lbfgs", "adam"}
        Full-batch L-BFGS with a strong-Wolfe line search (as Amp trains), or minibatch Adam.
    learning_rate : float
        L-BFGS: the initial step length (1.0 is the usual); Adam: the step size, halved when the
        watched loss stalls.
    max_epochs : int
        Adam: passes over the training structures; L-BFGS: iterations on the whole set.
    batch_size : int
        Structures per Adam step (unused by L-BFGS).
    patience : int
        Early stopping: epochs without a better watched loss before training ends;
        the best weights are kept.
    validation_fraction : float
        Share of the training structures held out for early stopping (none when fewer than
        5 structures; the training loss is watched instead).
    l2 : float
        Weight of the L2 penalty ``l2 · Σ w²`` on the weight matrices (the loss is a mean per atom
        in eV²/atom² and eV²/Å², so 1e-8 is a light touch; the default halved the worst test errors of
        the EMT platinum check, see benchmarks/README.md).
    energy_rmse_goal, force_rmse_goal, force_max_goal : float or None
        Convergence rules on the training set (eV/atom, eV/Å, eV/Å; see
        :mod:`atomsieve.potentials.training`): training ends when every goal that is set is met.
        The paper's values are 0.001, 0.005 and 0.02.
    seed : int
        Seeds weights, the validation split and batch order.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    dtype : {"auto", "float32", "float64"}
        ``"auto"``: float64 on the CPU, float32 on an accelerator.

    Attributes
    ----------
    network_ : BehlerParrinelloNetwork
    elements_ : list of str
    history_ : list of dict
        Per epoch: training and validation loss, and the training set's ``rmse_e``, ``rmse_f`` and
        ``max_f`` (NaN for Adam when no goal is set).
    best_epoch_, seconds_ : int, float
    converged_ : bool
        Whether the convergence goals were met.
    stop_reason_ : str
        ``"converged"``, ``"patience"``, ``"max_epochs"`` or ``"stopped"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((12, 3))
    >>> d = PreparedData(features=x, species=np.zeros(12, int), elements=["Ge"], atom_counts=[3] * 4,
    ...                  pair_center=np.arange(12), pair_neighbour=np.arange(12),
    ...                  pair_values=np.zeros((12, 3, 3)), energies=x.reshape(4, 3, 3).sum((1, 2)))
    >>> model = BPNNModel(hidden=(8,), max_epochs=5, seed=1).fit(d)
    >>> model.predict(d)[0].shape, len(model.history_)
    ((4,), 5)
    """

    def __init__(self, hidden=(32, 32), activation: str = "tanh", force_weight: float = 1.0,
                 central_force_weight: float | None = None, optimizer: str = "lbfgs",
                 learning_rate: float = 1.0, max_epochs: int = 500, batch_size: int = 16,
                 patience: int = 100, validation_fraction: float = 0.0, l2: float = 1e-8,
                 energy_rmse_goal: float | None = 0.001, force_rmse_goal: float | None = 0.005,
                 force_max_goal: float | None = 0.02, seed: int = 0, device: str = "auto",
                 dtype: str = "auto"):
        self.hidden = hidden
        self.activation = activation
        self.force_weight = force_weight
        self.central_force_weight = central_force_weight
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.l2 = l2
        self.energy_rmse_goal = energy_rmse_goal
        self.force_rmse_goal = force_rmse_goal
        self.force_max_goal = force_max_goal
        self.seed = seed
        self.device = device
        self.dtype = dtype

    def _validate(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ParameterError(f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}")
        if self.dtype != "auto" and self.dtype not in _DTYPES:
            raise ParameterError(f"dtype must be 'auto', 'float32' or 'float64'; got {self.dtype!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ParameterError(f"optimizer must be one of {list(OPTIMIZERS)}; got {self.optimizer!r}")
        if not all(int(h) > 0 for h in self.hidden):
            raise ParameterError(f"hidden layer widths must be positive; got {self.hidden}")
        for name in ("max_epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not 0 <= self.validation_fraction < 1:
            raise ParameterError(f"validation_fraction must lie in [0, 1); got {self.validation_fraction}")
        if not (self.learning_rate > 0 and self.l2 >= 0):
            raise ParameterError(f"learning_rate must be positive and l2 non-negative; got "
                                 f"{self.learning_rate} and {self.l2}")
        for name in ("energy_rmse_goal", "force_rmse_goal", "force_max_goal"):
            goal = getattr(self, name)
            if goal is not None and not goal > 0:
                raise ParameterError(f"{name} must be a positive number or None; got {goal}")

    def get_config(self) -> dict:
        """The constructor arguments (JSON-serialisable)."""
        cfg = {k: getattr(self, k) for k in (
            "activation", "force_weight", "central_force_weight", "optimizer", "learning_rate",
            "max_epochs", "batch_size", "patience", "validation_fraction", "l2", "energy_rmse_goal",
            "force_rmse_goal", "force_max_goal", "seed", "device", "dtype")}
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
        self.network_ = net.to(dtype=resolve_dtype(self.dtype, resolve_device(self.device)))
        return self.network_

    def fit(self, data: PreparedData, structures=None, structure_weights=None, atom_force_weights=None,
            progress: ProgressCallback | None = None,
            should_stop: Callable[[], bool] | None = None) -> BPNNModel:
        """Train on ``data`` (or the structures at ``structures``, repeats allowed)."""
        self._validate()
        start = time.perf_counter()
        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        _require_pairs(data)
        sub = data if structures is None else data.subset(structures)
        if sub.n_structures == 0:
            raise ParameterError("BPNNModel.fit: no structures to fit")
        e_w, f_w = loss_weights(sub, structure_weights, self.force_weight, self.central_force_weight,
                                atom_force_weights)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(sub.n_structures)
        n_val = int(round(self.validation_fraction * sub.n_structures)) if sub.n_structures >= 5 else 0
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        net = self.build_network(sub.n_features, sub.elements)
        _set_energy_reference(net, sub.subset(train_idx), f_w[sub.atoms_of(train_idx)] > 0)
        net.to(device)
        size = len(train_idx) if self.optimizer == "lbfgs" else int(self.batch_size)

        def batches(idx: np.ndarray, size: int) -> list[Batch]:
            out = []
            for lo in range(0, len(idx), size):
                part = idx[lo : lo + size]
                atoms = sub.atoms_of(part)
                # Renormalise per batch so each batch's loss is a mean like the full loss.
                norm = len(idx) / len(part)
                out.append(Batch(sub.subset(part), e_w[part] * norm, f_w[atoms] * norm, device, dtype))
            return out

        train_batches = batches(train_idx[rng.permutation(len(train_idx))], max(size, 1))
        val_batches = batches(val_idx, max(len(val_idx), 1))
        goals = ConvergenceGoals(self.energy_rmse_goal, self.force_rmse_goal, self.force_max_goal)
        out = train_network(net, train_batches, val_batches, optimizer=self.optimizer,
                            learning_rate=float(self.learning_rate), max_epochs=int(self.max_epochs),
                            patience=int(self.patience), l2=float(self.l2), goals=goals, rng=rng,
                            progress=progress, should_stop=should_stop)
        self.history_ = out["history"]
        self.best_epoch_ = out["best_epoch"]
        self.best_loss_ = out["best_loss"]
        self.converged_ = out["converged"]
        self.stop_reason_ = out["stop_reason"]
        self.seconds_ = time.perf_counter() - start
        return self

    def _check(self, data: PreparedData) -> None:
        if not hasattr(self, "network_"):
            raise ParameterError("BPNNModel is not fitted; call fit (or load a saved model) first")
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
            batch = Batch(sub, np.zeros(sub.n_structures), np.zeros(sub.n_atoms), param.device, param.dtype)
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
            raise ParameterError("BPNNModel is not fitted; call fit (or load a saved model) first")
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


# BPNNPotential: the old name of BPNNModel, a model trained on prepared fingerprints (the bundle with
# a descriptor and scaler is potentials.Potential). Kept so old scripts and notebooks run.
__getattr__ = renamed_names(__name__, {"BPNNPotential": BPNNModel})
