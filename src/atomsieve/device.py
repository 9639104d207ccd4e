"""The one rule for turning a ``device`` argument into a :class:`torch.device`."""

from __future__ import annotations

import torch

from atomsieve.errors import ParameterError


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None: CUDA when available, else CPU; otherwise ``torch.device(device)``.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):  # torch's message for "gpu7" lists every backend it knows
        raise ParameterError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} asked for CUDA, but no CUDA device is available; use 'cpu'")
    return dev
