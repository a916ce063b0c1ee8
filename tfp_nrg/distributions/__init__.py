"""Distributions: the NeuralRG flow model and its symmetrized mixture."""

from tfp_nrg.distributions.neural_rg import ARCHITECTURES
from tfp_nrg.distributions.neural_rg import flow_of
from tfp_nrg.distributions.neural_rg import neural_rg
from tfp_nrg.distributions.neural_rg import neural_rg_from_config
from tfp_nrg.distributions.symmetrized import Symmetrized

__all__ = [
    'ARCHITECTURES',
    'Symmetrized',
    'flow_of',
    'neural_rg',
    'neural_rg_from_config',
]
