"""Structure selectors: the local-environment bank and the methods it is compared with."""

from atomsieve.selectors.bank import EnvironmentBank
from atomsieve.selectors.base import SelectionResult, Selector, resolve_count
from atomsieve.selectors.calibrate import CalibrationResult, calibrate_thresholds
from atomsieve.selectors.lebank import LEBank
from atomsieve.selectors.studies import shuffle_study, threshold_grid, threshold_sweep

__all__ = [
    "CalibrationResult",
    "EnvironmentBank",
    "LEBank",
    "SelectionResult",
    "Selector",
    "calibrate_thresholds",
    "resolve_count",
    "shuffle_study",
    "threshold_grid",
    "threshold_sweep",
]
