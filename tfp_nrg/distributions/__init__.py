"""Distributions: the NeuralRG flow model, the continuous flow, and the
symmetrized mixture."""

from tfp_nrg.distributions import symmetry_groups
from tfp_nrg.distributions.continuous import continuous_flow
from tfp_nrg.distributions.continuous import flow_parts
from tfp_nrg.distributions.continuous import integration_error
from tfp_nrg.distributions.neural_rg import ARCHITECTURES
from tfp_nrg.distributions.neural_rg import check_architecture_arguments
from tfp_nrg.distributions.neural_rg import flow_of
from tfp_nrg.distributions.neural_rg import neural_rg
from tfp_nrg.distributions.symmetrized import Symmetrized
from tfp_nrg.distributions.symmetrized import unsymmetrized

__all__ = [
    'ARCHITECTURES',
    'Symmetrized',
    'check_architecture_arguments',
    'continuous_flow',
    'flow_of',
    'flow_parts',
    'integration_error',
    'neural_rg',
    'symmetry_groups',
    'unsymmetrized',
]
