"""Judging a selection: learning curves, threshold curves and coverage metrics."""

from atomsieve.evaluate.context import build_context
from atomsieve.evaluate.coverage import Coverage, coverage, coverage_table
from atomsieve.evaluate.curves import iter_learning_curves, learning_curves, summarize
from atomsieve.evaluate.md_check import MDCheckReport, md_check, run_nvt
from atomsieve.evaluate.rdf import RDF, radial_distribution
from atomsieve.evaluate.thresholds import threshold_curves, threshold_error_grid

__all__ = [
    "RDF",
    "Coverage",
    "MDCheckReport",
    "build_context",
    "coverage",
    "coverage_table",
    "iter_learning_curves",
    "learning_curves",
    "md_check",
    "radial_distribution",
    "run_nvt",
    "summarize",
    "threshold_curves",
    "threshold_error_grid",
]
