"""Selectors by name, for the command line, the dashboard and studies.

>>> sel = make_selector("fps", 10)
>>> type(sel).__name__, sel.n_to_select
('FPS', 10)
"""

from __future__ import annotations

import inspect

from atomsieve.errors import ParameterError
from atomsieve.selectors.base import Selector
from atomsieve.selectors.clustering import AgglomerativeSelection
from atomsieve.selectors.cur import CUR
from atomsieve.selectors.fps import FPS, HierarchicalFPS
from atomsieve.selectors.kernel_fps import KernelFPS
from atomsieve.selectors.lebank import LEBank
from atomsieve.selectors.quests_msc import QUESTSCompression
from atomsieve.selectors.random_selection import RandomSelection
from atomsieve.selectors.uniform import AtomicEnergyUniform, EnergyUniform, ForceUniform

#: Every selection method's class, under its own ``name``, in the order the CLI and the dashboard
#: list them (the optional ones last).
SELECTORS: dict[str, type[Selector]] = {
    cls.name: cls
    for cls in (LEBank, FPS, HierarchicalFPS, CUR, AgglomerativeSelection, RandomSelection, EnergyUniform,
                AtomicEnergyUniform, ForceUniform, QUESTSCompression, KernelFPS)
}
#: Methods that need the optional DScribe extra (``pip install 'atomsieve[soap]'``).
OPTIONAL_METHODS = (KernelFPS.name,)
#: The selection methods by name, in the order the CLI and the dashboard list them.
METHODS = tuple(name for name in SELECTORS if name not in OPTIONAL_METHODS)
#: Methods whose ``fit`` needs labels, and which: pass ``dataset=`` (or the named array).
LABELS_NEEDED = {name: cls.fit_label for name, cls in SELECTORS.items() if cls.fit_label}
#: Methods whose ``fit`` reads the structures themselves (``dataset=``): QUESTS computes its own descriptor.
#: ``quests`` needs the optional extra (``pip install 'atomsieve[quests]'``); without it, it says so.
STRUCTURES_NEEDED = tuple(name for name, cls in SELECTORS.items() if cls.fit_structures)


def selector_class(method: str) -> type[Selector]:
    """The class behind a method name."""
    try:
        return SELECTORS[method]
    except KeyError:
        raise ParameterError(
            f"unknown selection method {method!r}; choose one of {', '.join(METHODS + OPTIONAL_METHODS)}"
        ) from None


def make_selector(
    method: str, n_to_select: int | float | None = None, *, seed: int | None = 0, **options
) -> Selector:
    """A selector for ``method`` (one of :data:`METHODS` or :data:`OPTIONAL_METHODS`).

    Parameters
    ----------
    method : str
    n_to_select : int, float in (0, 1] or None
        Structures to pick. ``"lebank"`` selects by distance thresholds instead: give
        ``thresholds=`` in ``options`` (or calibrate them with
        :func:`atomsieve.selectors.calibrate_thresholds`) and leave this None.
    seed : int
        Passed to every method that draws random numbers.
    **options
        Further constructor arguments of the method's class (e.g. ``bins=`` for the
        uniform methods, ``first=`` for FPS, ``k=`` for CUR).
    """
    cls = selector_class(method)
    accepted = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = sorted(p for p in accepted if p not in ("self", "n_to_select", "seed"))
        raise ParameterError(
            f"method {method!r} takes no option {', '.join(unknown)}; it takes {', '.join(allowed)}"
        )
    if "seed" in accepted:
        options["seed"] = seed
    if method == "lebank":
        if n_to_select is not None:
            raise ParameterError(
                "lebank selects by distance thresholds, not a count: pass thresholds= "
                "(calibrate_thresholds finds thresholds for a budget)"
            )
        return cls(**options)
    if n_to_select is None and not {"min_distance", "max_deviation"} & set(options):
        raise ParameterError(f"method {method!r} needs n_to_select (a count or a fraction in (0, 1])")
    return cls(n_to_select, **options)


def fit_labels(method: str, dataset) -> dict:
    """The keyword arguments ``fit`` needs for ``method``: ``{"dataset": dataset}`` for
    the label-uniform methods and QUESTS, nothing for the others."""
    return {"dataset": dataset} if method in LABELS_NEEDED or method in STRUCTURES_NEEDED else {}
