"""Unnormalized target densities for NeuralRG."""

from tfp_nrg.targets.dual_ising import DualIsing

__all__ = ['DualIsing']
