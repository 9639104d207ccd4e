"""Judging a selection: learning curves, threshold curves and coverage metrics."""

from atomsieve.evaluate.coverage import Coverage, coverage, coverage_table, nearest_distances
from atomsieve.evaluate.md_check import BlowUpLimits, MDCheckReport, md_check, run_nvt
from atomsieve.evaluate.rdf import RDF, radial_distribution, rdf_distance

__all__ = [
    "RDF",
    "BlowUpLimits",
    "Coverage",
    "MDCheckReport",
    "coverage",
    "coverage_table",
    "md_check",
    "nearest_distances",
    "radial_distribution",
    "rdf_distance",
    "run_nvt",
]
