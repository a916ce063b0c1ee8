"""MCMC with flow proposals (independence, global-local); diagnostics."""

from tfp_nrg.mcmc.diagnostics import bridge_log_normalizer
from tfp_nrg.mcmc.diagnostics import chain_mean
from tfp_nrg.mcmc.diagnostics import chi_square_divergence
from tfp_nrg.mcmc.diagnostics import importance_ess_fraction
from tfp_nrg.mcmc.diagnostics import independence_chain_acceptance
from tfp_nrg.mcmc.diagnostics import independence_chain_accepted
from tfp_nrg.mcmc.diagnostics import jackknife
from tfp_nrg.mcmc.diagnostics import MAX_RELIABLE_PARETO_SHAPE
from tfp_nrg.mcmc.diagnostics import log_mean_exp
from tfp_nrg.mcmc.diagnostics import pareto_shape
from tfp_nrg.mcmc.diagnostics import self_normalized_expectation
from tfp_nrg.mcmc.global_local import GlobalLocal
from tfp_nrg.mcmc.global_local import GlobalLocalResults
from tfp_nrg.mcmc.kernels import IndependenceMetropolis
from tfp_nrg.mcmc.kernels import UncalibratedIndependenceMetropolis
from tfp_nrg.mcmc.kernels import UncalibratedIndependenceMetropolisResults
from tfp_nrg.mcmc.kernels import run_chains
from tfp_nrg.mcmc.kernels import sample_independence_chains
from tfp_nrg.mcmc.kernels import warn_non_finite
from tfp_nrg.mcmc.latent_hmc import sample_latent_hmc

__all__ = [
    'GlobalLocal',
    'GlobalLocalResults',
    'IndependenceMetropolis',
    'UncalibratedIndependenceMetropolis',
    'UncalibratedIndependenceMetropolisResults',
    'bridge_log_normalizer',
    'chain_mean',
    'chi_square_divergence',
    'importance_ess_fraction',
    'independence_chain_acceptance',
    'independence_chain_accepted',
    'jackknife',
    'MAX_RELIABLE_PARETO_SHAPE',
    'log_mean_exp',
    'pareto_shape',
    'run_chains',
    'sample_independence_chains',
    'sample_latent_hmc',
    'warn_non_finite',
    'self_normalized_expectation',
]
