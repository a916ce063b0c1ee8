"""NeuralRG bijectors: patch couplings, patch layers, MERA / TEBD / tree flows,
a learned periodic convolution, and an equivariant continuous flow.

Direction convention (TFP's): `forward` generates, latent `z` -> physical `x`;
`inverse` is the renormalization group direction `x` -> `z`.
"""

from tfp_nrg.bijectors.continuous_flow import ContinuousFlow
from tfp_nrg.bijectors.continuous_flow import offset_orbits
from tfp_nrg.bijectors.coupling_block import block_factory
from tfp_nrg.bijectors.coupling_block import PatchCouplingBlock
from tfp_nrg.bijectors.fourier_scale import FourierScale
from tfp_nrg.bijectors.hierarchy import assemble_latent_scales
from tfp_nrg.bijectors.hierarchy import HierarchicalFlow
from tfp_nrg.bijectors.hierarchy import latent_scales
from tfp_nrg.bijectors.hierarchy import MERA
from tfp_nrg.bijectors.hierarchy import TEBD
from tfp_nrg.bijectors.hierarchy import Tree
from tfp_nrg.bijectors.one_pass import OnePassBijector
from tfp_nrg.bijectors.patch_layer import PatchLayer

__all__ = [
    'ContinuousFlow',
    'FourierScale',
    'HierarchicalFlow',
    'MERA',
    'OnePassBijector',
    'PatchCouplingBlock',
    'PatchLayer',
    'TEBD',
    'Tree',
    'assemble_latent_scales',
    'block_factory',
    'latent_scales',
    'offset_orbits',
]
