"""Judging a selection: learning curves, threshold curves and coverage metrics."""

from atomsieve.evaluate.context import build_context
from atomsieve.evaluate.coverage import Coverage, coverage, coverage_table, nearest_distances
from atomsieve.evaluate.curves import (
    CurveOptions,
    StudyOptions,
    iter_learning_curves,
    learning_curves,
    summarize,
)
from atomsieve.evaluate.md_check import BlowUpLimits, MDCheckReport, md_check, run_nvt
from atomsieve.evaluate.rdf import RDF, radial_distribution, rdf_distance
from atomsieve.evaluate.thresholds import threshold_curves, threshold_error_grid

__all__ = [
    "RDF",
    "BlowUpLimits",
    "Coverage",
    "CurveOptions",
    "MDCheckReport",
    "StudyOptions",
    "build_context",
    "coverage",
    "coverage_table",
    "iter_learning_curves",
    "learning_curves",
    "md_check",
    "nearest_distances",
    "radial_distribution",
    "rdf_distance",
    "run_nvt",
    "summarize",
    "threshold_curves",
    "threshold_error_grid",
]
