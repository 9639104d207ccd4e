"""The training loop of :class:`~atomsieve.potentials.bpnn.BPNNModel`: Adam or full-batch L-BFGS,
L2 regularisation and the convergence rules of Amp (Khorshidi & Peterson 2016).

An *epoch* is one pass of Adam over the training minibatches, or one L-BFGS iteration on the whole
training set (with a strong-Wolfe line search, as Amp's SciPy L-BFGS does). After each epoch the
training errors are compared with the goals; training stops when every goal that is set is met:

- ``energy_rmse_goal``: root mean square of (E − Ê)/N over the training structures (eV/atom);
- ``force_rmse_goal``: root mean square over the force components of the trained atoms (eV/Å);
- ``force_max_goal``: largest absolute force-component residual (eV/Å).

The loss minimised is the weighted loss of :mod:`atomsieve.potentials.loss` plus
``l2 · Σ w²`` over the networks' weight matrices (not their biases).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from atomsieve.errors import ParameterError
from atomsieve.potentials.network import BehlerParrinelloNetwork
from atomsieve.potentials.prepared import PreparedData
from atomsieve.progress import ProgressCallback, report

OPTIMIZERS = ("adam", "lbfgs")


class Batch:
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
        self.counts = t(data.atom_counts)
        self.energy_used = self.e_w > 0
        self.force_used = self.f_w > 0

    def predict(self, net: BehlerParrinelloNetwork, create_graph: bool):
        energies, forces, _ = net.energies_and_forces(
            self.features, self.species, self.structure, self.n_structures,
            self.pair_center, self.pair_neighbour, self.pair_values, create_graph=create_graph,
        )
        return energies, forces

    def loss_and_errors(self, net: BehlerParrinelloNetwork, create_graph: bool
                        ) -> tuple[torch.Tensor, dict[str, float]]:
        """The weighted loss (a tensor) and the sums behind the training errors."""
        energies, forces = self.predict(net, create_graph)
        de, df = energies - self.energies, forces - self.forces
        loss = (self.e_w * de**2).sum() + (self.f_w * (df**2).sum(1)).sum()
        with torch.no_grad():
            de_atom = (de / self.counts)[self.energy_used]
            df_used = df[self.force_used]
            errors = {"e_sq": float((de_atom**2).sum()), "e_n": int(de_atom.numel()),
                      "f_sq": float((df_used**2).sum()), "f_n": int(df_used.numel()),
                      "f_max": float(df_used.abs().max()) if df_used.numel() else 0.0}
        return loss, errors

    def loss(self, net: BehlerParrinelloNetwork, create_graph: bool) -> torch.Tensor:
        return self.loss_and_errors(net, create_graph)[0]


def combine_errors(parts: list[dict]) -> dict[str, float]:
    """``rmse_e`` (eV/atom), ``rmse_f`` and ``max_f`` (eV/Å) from per-batch error sums."""
    e_n, f_n = sum(p["e_n"] for p in parts), sum(p["f_n"] for p in parts)
    return {"rmse_e": float(np.sqrt(sum(p["e_sq"] for p in parts) / e_n)) if e_n else float("nan"),
            "rmse_f": float(np.sqrt(sum(p["f_sq"] for p in parts) / f_n)) if f_n else float("nan"),
            "max_f": max((p["f_max"] for p in parts), default=0.0)}


@dataclass(frozen=True)
class ConvergenceGoals:
    """Training stops when every goal that is not None is met (eV/atom, eV/Å, eV/Å).

    >>> ConvergenceGoals(0.001, 0.005, None).met({"rmse_e": 0.0005, "rmse_f": 0.004, "max_f": 1.0})
    True
    >>> ConvergenceGoals(None, None, None).active
    False
    """

    energy_rmse: float | None
    force_rmse: float | None
    force_max: float | None

    @property
    def active(self) -> bool:
        return any(g is not None for g in (self.energy_rmse, self.force_rmse, self.force_max))

    def met(self, errors: dict[str, float]) -> bool:
        if not self.active:
            return False
        pairs = ((self.energy_rmse, "rmse_e"), (self.force_rmse, "rmse_f"), (self.force_max, "max_f"))
        # A measure that is NaN (no energies, no forces in the training set) cannot be missed.
        return all(goal is None or not errors[key] > goal for goal, key in pairs)


def l2_penalty(net: BehlerParrinelloNetwork, l2: float) -> torch.Tensor | float:
    """``l2 · Σ w²`` over the weight matrices of every element's network."""
    if l2 <= 0:
        return 0.0
    return l2 * sum((p**2).sum() for name, p in net.named_parameters() if name.endswith("weight"))


class _FullBatchObjective:
    """Loss and gradient of the whole training set for L-BFGS, remembering the last evaluation so
    the re-evaluation at the start of each L-BFGS step costs nothing."""

    def __init__(self, net, batch: Batch, l2: float):
        self.net, self.batch, self.l2 = net, batch, l2
        self._params = [p for p in net.parameters() if p.requires_grad]
        self._last: tuple | None = None
        self.evaluations = 0

    def _flat(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self._params])

    def __call__(self) -> torch.Tensor:
        flat = self._flat()
        if self._last is not None and torch.equal(self._last[0], flat):
            _, loss, grads, _ = self._last
            for p, g in zip(self._params, grads):
                p.grad = g.clone()
            return loss
        for p in self._params:
            p.grad = None
        loss, errors = self.batch.loss_and_errors(self.net, create_graph=True)
        loss = loss + l2_penalty(self.net, self.l2)
        loss.backward()
        self.evaluations += 1
        loss = loss.detach()
        self._last = (flat, loss, [p.grad.detach().clone() for p in self._params], errors)
        return loss

    def current(self) -> tuple[float, dict]:
        """Loss and error sums at the current parameters (evaluated if not yet)."""
        loss = self()
        return float(loss), self._last[3]  # type: ignore[index]


def train_network(net: BehlerParrinelloNetwork, train: list[Batch], validation: list[Batch], *,
                  optimizer: str, learning_rate: float, max_epochs: int, patience: int, l2: float,
                  goals: ConvergenceGoals, rng: np.random.Generator,
                  progress: ProgressCallback | None = None,
                  should_stop: Callable[[], bool] | None = None) -> dict:
    """Train ``net`` in place; the kept weights are those of the best watched loss.

    The watched loss is the validation loss when there is a validation set, else the training loss.
    Returns ``history`` (per epoch: train_loss, validation_loss, rmse_e, rmse_f, max_f of the training
    set), ``best_epoch``, ``best_loss``, ``converged`` (the goals were met) and ``stop_reason``.
    """
    if optimizer not in OPTIMIZERS:
        raise ParameterError(f"optimizer must be one of {list(OPTIMIZERS)}; got {optimizer!r}")
    if optimizer == "lbfgs":
        if len(train) != 1:
            raise ParameterError("L-BFGS trains on the whole training set: give one batch")
        objective = _FullBatchObjective(net, train[0], l2)
        # One iteration per step(); max_eval bounds the line search's evaluations (torch gives the
        # strong-Wolfe search max_eval − 1 of them, none with its default for max_iter=1).
        opt = torch.optim.LBFGS(net.parameters(), lr=learning_rate, max_iter=1, max_eval=26,
                                history_size=20, line_search_fn="strong_wolfe", tolerance_grad=0.0,
                                tolerance_change=0.0)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5,
                                                               patience=max(1, int(patience) // 4))

    def validation_loss() -> float:
        return sum(float(b.loss(net, create_graph=False).detach()) for b in validation) / len(validation)

    best, best_state, best_epoch, stale = np.inf, copy.deepcopy(net.state_dict()), -1, 0
    history: list[dict] = []
    stop_reason = "max_epochs"
    converged = False
    for epoch in range(int(max_epochs)):
        if should_stop is not None and should_stop():
            stop_reason = "stopped"
            break
        if optimizer == "lbfgs":
            # Book-keeping is for the parameters before this epoch's step (their loss comes free with
            # the step); the epoch's step itself is taken only if they have not converged.
            train_loss, sums = objective.current()
            errors = combine_errors([sums])
            state = copy.deepcopy(net.state_dict())
        else:
            net.train()
            train_loss = 0.0
            for b in rng.permutation(len(train)):
                opt.zero_grad()
                loss = train[b].loss(net, create_graph=True) + l2_penalty(net, l2)
                loss.backward()
                opt.step()
                train_loss += float(loss.detach()) / len(train)
            errors = {"rmse_e": np.nan, "rmse_f": np.nan, "max_f": np.nan}
            if goals.active:
                errors = combine_errors([b.loss_and_errors(net, create_graph=False)[1] for b in train])
            state = None
        watched = validation_loss() if validation else train_loss
        history.append({"epoch": epoch, "train_loss": train_loss,
                        "validation_loss": watched if validation else np.nan, **errors})
        if watched < best * (1 - 1e-4):
            best, best_epoch, stale = watched, epoch, 0
            best_state = state if state is not None else copy.deepcopy(net.state_dict())
        else:
            stale += 1
        report(progress, epoch + 1, int(max_epochs), f"epoch {epoch + 1}")
        if goals.met(errors):
            converged, stop_reason = True, "converged"
            if not validation:  # the converged weights are the ones to keep
                best, best_epoch = watched, epoch
                best_state = state if state is not None else copy.deepcopy(net.state_dict())
            break
        if stale >= int(patience):
            stop_reason = "patience"
            break
        if optimizer == "lbfgs":
            opt.step(objective)
        else:
            scheduler.step(watched)
    net.load_state_dict(best_state)
    net.eval()
    return {"history": history, "best_epoch": best_epoch, "best_loss": float(best),
            "converged": converged, "stop_reason": stop_reason}
