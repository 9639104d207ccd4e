"""Entropy-maximisation generation of diverse configurations and the metrics that judge them.

Karabin & Perez, J. Chem. Phys. 153, 094110 (2020), doi:10.1063/5.0013059: anneal atoms under
V = E_repulsive − K·S, S the nearest-neighbour entropy of their descriptor vectors, and harvest
the configuration at the end of each cycle; ``k_max=0`` gives the unbiased reference.
"""

from atomsieve.generate.descriptor import default_symmetry_functions
from atomsieve.generate.effective import EntropyBiasCalculator
from atomsieve.generate.generator import EntropyMaximisationGenerator
from atomsieve.generate.metrics import (
    configuration_entropies,
    descriptor_histograms,
    format_coverage_table,
    scaled_features,
    split_coverage_table,
)

__all__ = [
    "EntropyBiasCalculator",
    "EntropyMaximisationGenerator",
    "configuration_entropies",
    "default_symmetry_functions",
    "descriptor_histograms",
    "format_coverage_table",
    "scaled_features",
    "split_coverage_table",
]
