"""Unnormalized target densities for NeuralRG, and what they are made of."""

from tfp_nrg.targets.couplings import CouplingOperator
from tfp_nrg.targets.couplings import DenseCoupling
from tfp_nrg.targets.couplings import TorusCoupling
from tfp_nrg.targets.dual_ising import DualIsing
from tfp_nrg.targets.phi4 import Phi4
from tfp_nrg.targets.spin_kernel import DualSpinMetropolis
from tfp_nrg.targets.spin_kernel import DualSpinMetropolisResults
from tfp_nrg.targets.spin_metropolis import checkerboard_sweeps
from tfp_nrg.targets.spin_metropolis import metropolis_sweeps
from tfp_nrg.targets.spin_metropolis import random_spins
from tfp_nrg.targets.spin_metropolis import sequential_sweeps

__all__ = [
    'CouplingOperator',
    'DenseCoupling',
    'DualIsing',
    'DualSpinMetropolis',
    'DualSpinMetropolisResults',
    'Phi4',
    'TorusCoupling',
    'checkerboard_sweeps',
    'metropolis_sweeps',
    'random_spins',
    'sequential_sweeps',
]
