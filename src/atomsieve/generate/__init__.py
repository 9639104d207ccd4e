"""Entropy-maximisation generation of diverse configurations and the metrics that judge them.

Karabin & Perez, J. Chem. Phys. 153, 094110 (2020), doi:10.1063/5.0013059: anneal atoms under
V = E_repulsive − K·S, S the nearest-neighbour entropy of their descriptor vectors, and harvest
the configuration at the end of each cycle; ``k_max=0`` gives the unbiased reference.
"""

from atomsieve.generate.annealing import AnnealingSchedule, LangevinIntegrator
from atomsieve.generate.descriptor import (
    ConfigurationDescriptor,
    default_symmetry_functions,
    descriptor_scale,
)
from atomsieve.generate.effective import EntropyBiasCalculator, EntropyBiasedPotential
from atomsieve.generate.entropy import (
    kozachenko_leonenko_entropy,
    nearest_neighbour_distances,
    nearest_neighbour_entropy,
)
from atomsieve.generate.generator import PAPER_CELL, EntropyMaximisationGenerator
from atomsieve.generate.metrics import (
    DescriptorHistograms,
    configuration_entropies,
    descriptor_histograms,
    format_coverage_table,
    scaled_features,
    split_coverage_table,
)
from atomsieve.generate.repulsive import RepulsivePotential

__all__ = [
    "PAPER_CELL",
    "AnnealingSchedule",
    "ConfigurationDescriptor",
    "DescriptorHistograms",
    "EntropyBiasCalculator",
    "EntropyBiasedPotential",
    "EntropyMaximisationGenerator",
    "LangevinIntegrator",
    "RepulsivePotential",
    "configuration_entropies",
    "default_symmetry_functions",
    "descriptor_histograms",
    "descriptor_scale",
    "format_coverage_table",
    "kozachenko_leonenko_entropy",
    "nearest_neighbour_distances",
    "nearest_neighbour_entropy",
    "scaled_features",
    "split_coverage_table",
]
