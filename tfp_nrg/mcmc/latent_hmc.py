"""Hamiltonian Monte Carlo in the latent space of a flow ("NeuralRG HMC").

With a flow `x = g(z)`, HMC on `z` targets the latent (renormalized) density
`ln pi(g(z)) + ln |det dg/dz|`; when `q` is close to `pi` this is nearly a
standard normal, where HMC mixes far better than on `x`.
`tfp.mcmc.TransformedTransitionKernel` does exactly this with `bijector=g`.
This helper adds step-size adaptation during burn-in and starts the chains
from latent draws (`bootstrap_results(transformed_init_state=z)`), so that no
inverse pass of the flow is ever run.

Example:

```python
flow = q.distribution.bijector            # or any bijector
z0 = tf.random.stateless_normal([16, L, L], seed=(1, 2))
states, is_accepted = tfp_nrg.mcmc.sample_latent_hmc(
    target.log_prob, flow, z0, num_results=500, num_burnin_steps=200,
    seed=(3, 4))
```
"""

import tensorflow as tf
import tensorflow_probability as tfp

__all__ = ['sample_latent_hmc']


def sample_latent_hmc(target_log_prob_fn,
                      bijector,
                      initial_latent,
                      num_results,
                      num_burnin_steps,
                      num_leapfrog_steps=8,
                      step_size=0.1,
                      target_accept_prob=0.75,
                      seed=None):
  """Runs adaptive HMC on `z` for the target `pi(x)` pushed through `x = g(z)`.

  Args:
    target_log_prob_fn: callable `x -> ln pi(x)`.
    bijector: the flow `g` (a `tfb.Bijector`), latent -> physical.
    initial_latent: `Tensor` `chains + latent event shape`: the starting `z`.
    num_results: Python `int`, steps kept.
    num_burnin_steps: Python `int`, steps discarded; the first 80% adapt the
      step size (`tfp.mcmc.SimpleStepSizeAdaptation`).
    num_leapfrog_steps: Python `int`.
    step_size: initial step size.
    target_accept_prob: acceptance the adaptation aims at.
    seed: a stateless seed.

  Returns:
    `(states, is_accepted)`: physical states `[num_results, chains, ...]` and
    per-step acceptance `[num_results, chains]`.
  """
  hmc = tfp.mcmc.HamiltonianMonteCarlo(target_log_prob_fn,
                                       step_size=step_size,
                                       num_leapfrog_steps=num_leapfrog_steps)
  adaptive = tfp.mcmc.SimpleStepSizeAdaptation(
      hmc, num_adaptation_steps=int(0.8 * num_burnin_steps),
      target_accept_prob=tf.cast(target_accept_prob, initial_latent.dtype))
  kernel = tfp.mcmc.TransformedTransitionKernel(adaptive, bijector)
  results = kernel.bootstrap_results(transformed_init_state=initial_latent)
  return tfp.mcmc.sample_chain(
      num_results,
      current_state=bijector.forward(initial_latent),
      previous_kernel_results=results,
      kernel=kernel,
      num_burnin_steps=num_burnin_steps,
      trace_fn=lambda _, r: r.inner_results.inner_results.is_accepted,
      seed=seed)
