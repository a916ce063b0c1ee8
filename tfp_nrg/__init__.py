"""tfp_nrg: Neural Network Renormalization Group for TensorFlow Probability.

NeuralRG (Li & Wang, PRL 121, 260601 (2018)) is a hierarchical normalizing flow
whose inverse is a learned renormalization group transformation. This package
provides its bijectors, the dual Ising and lattice phi^4 targets, variational
training and exact MCMC with flow proposals, all as TFP citizens.
"""

from tfp_nrg import adaptation
from tfp_nrg import bijectors
from tfp_nrg import checkpoints
from tfp_nrg import distributions
from tfp_nrg import evaluation
from tfp_nrg import exact
from tfp_nrg import hooks
from tfp_nrg import lattice
from tfp_nrg import losses
from tfp_nrg import mcmc
from tfp_nrg import observables
from tfp_nrg import rg
from tfp_nrg import runs
from tfp_nrg import stats
from tfp_nrg import target_buffer
from tfp_nrg import targets
from tfp_nrg import training
from tfp_nrg import transfer
from tfp_nrg.distributions import neural_rg
from tfp_nrg.distributions import Symmetrized
from tfp_nrg.saved_model import export
from tfp_nrg.target_buffer import TargetBuffer
from tfp_nrg.targets import DualIsing
from tfp_nrg.targets import Phi4

__all__ = [
    'DualIsing',
    'Phi4',
    'Symmetrized',
    'TargetBuffer',
    'adaptation',
    'bijectors',
    'checkpoints',
    'distributions',
    'evaluation',
    'exact',
    'export',
    'hooks',
    'lattice',
    'losses',
    'mcmc',
    'neural_rg',
    'observables',
    'rg',
    'runs',
    'stats',
    'target_buffer',
    'targets',
    'training',
    'transfer',
]
