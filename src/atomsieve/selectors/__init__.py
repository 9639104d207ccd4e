"""Structure selectors: the local-environment bank and the methods it is compared with."""

from atomsieve.selectors.bank import EnvironmentBank
from atomsieve.selectors.base import SelectionResult, Selector, resolve_count
from atomsieve.selectors.calibrate import CalibrationResult, calibrate_thresholds
from atomsieve.selectors.clustering import AgglomerativeSelection
from atomsieve.selectors.cur import CUR, cur_order, relative_norm_deviation
from atomsieve.selectors.feature_selection import FeatureCUR, FeatureSelector, ForceCorrelation
from atomsieve.selectors.fps import FPS, HierarchicalFPS, farthest_point_sampling
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
    "FeatureSelector",
    "ForceCorrelation",
    "ForceUniform",
    "HierarchicalFPS",
    "KernelFPS",
    "LEBank",
    "RandomSelection",
    "SelectionResult",
    "Selector",
    "calibrate_thresholds",
    "cur_order",
    "farthest_point_sampling",
    "make_selector",
    "relative_norm_deviation",
    "resolve_count",
    "shuffle_study",
    "soap_features",
    "threshold_count_grid",
    "threshold_sweep",
]
