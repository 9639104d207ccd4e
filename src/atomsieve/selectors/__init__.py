"""Structure selectors: the local-environment bank and the methods it is compared with."""

from atomsieve.selectors.bank import EnvironmentBank
from atomsieve.selectors.base import SelectionResult, Selector
from atomsieve.selectors.calibrate import CalibrationResult, calibrate_thresholds
from atomsieve.selectors.clustering import AgglomerativeSelection
from atomsieve.selectors.cur import CUR
from atomsieve.selectors.feature_selection import FeatureCUR, ForceCorrelation
from atomsieve.selectors.fps import FPS, HierarchicalFPS
from atomsieve.selectors.kernel_fps import KernelFPS, soap_features
from atomsieve.selectors.lebank import LEBank
from atomsieve.selectors.random_selection import RandomSelection
from atomsieve.selectors.registry import METHODS, make_selector
from atomsieve.selectors.studies import shuffle_study, threshold_count_grid, threshold_sweep
from atomsieve.selectors.uniform import AtomicEnergyUniform, EnergyUniform, ForceUniform

__all__ = [
    "CUR",
    "FPS",
    "METHODS",
    "AgglomerativeSelection",
    "AtomicEnergyUniform",
    "CalibrationResult",
    "EnergyUniform",
    "EnvironmentBank",
    "FeatureCUR",
    "ForceCorrelation",
    "ForceUniform",
    "HierarchicalFPS",
    "KernelFPS",
    "LEBank",
    "RandomSelection",
    "SelectionResult",
    "Selector",
    "calibrate_thresholds",
    "make_selector",
    "shuffle_study",
    "soap_features",
    "threshold_count_grid",
    "threshold_sweep",
]
