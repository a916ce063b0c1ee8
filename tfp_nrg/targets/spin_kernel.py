"""An exact local MCMC kernel on the dual Ising field, through its spins.

The dual field `x` and the Ising spins `s` have the joint weight
`exp(-1/2 x^T K_a^{-1} x + s^T x)`, whose marginals are `pi(x)` and the Ising
distribution. One step of `DualSpinMetropolis`

```none
x  ->  s ~ p(s | x)  ->  num_sweeps Metropolis sweeps of s
   ->  x' ~ pi(x' | s) = N(K_a s, K_a)
```

leaves `pi` exactly invariant: `(x, s)` drawn this way has the joint law,
the sweeps keep the Ising marginal of `s`, and `x' | s` is then exact. Each
part is vectorised over chains (one FFT pair per step on the torus, sequential
sweeps with `O(N)` flips on a coupling matrix), so it is the exact local
kernel for `tfp_nrg.mcmc.GlobalLocal`.

Example:

```python
target = tfp_nrg.DualIsing(16, tfp_nrg.exact.CRITICAL_TEMPERATURE)
kernel = target.local_kernel(num_sweeps=1)
states, _ = tfp.mcmc.sample_chain(
    500, current_state=tf.zeros([64, 16, 16]), kernel=kernel,
    trace_fn=None, seed=(0, 1))
```
"""

import collections

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.internal import checks
from tfp_nrg.targets import spin_metropolis

__all__ = ['DualSpinMetropolis', 'DualSpinMetropolisResults']


class DualSpinMetropolisResults(collections.namedtuple(
    'DualSpinMetropolisResults', ['target_log_prob', 'seed'])):
  """Kernel results: `ln pi` of the current state, and the step's seed."""
  __slots__ = ()


class DualSpinMetropolis(tfp.mcmc.TransitionKernel):
  """`x -> s -> sweeps -> x'`: an exact `pi`-invariant kernel for `DualIsing`.

  Build it with `DualIsing.local_kernel(num_sweeps)`. Every proposal is
  "accepted" (it is a Gibbs-within-Metropolis composition); `is_calibrated`
  is `True`.
  """

  def __init__(self, target, num_sweeps=1, name=None):
    """Builds the kernel.

    Args:
      target: a `DualIsing` on an even-sided torus or a coupling matrix.
      num_sweeps: Python `int` >= 1, checkerboard sweeps per step.
      name: Python `str` name prefixed to ops.

    Raises:
      NotImplementedError: for a torus of odd side; sample `x` with
        `tfp.mcmc.HamiltonianMonteCarlo`.
      ValueError: if `num_sweeps` < 1.
    """
    spin_metropolis.check_metropolis_supported(target.coupling_operator)
    self._parameters = dict(
        target=target,
        num_sweeps=checks.check_positive_int(num_sweeps, 'num_sweeps'),
        name=name)

  @property
  def target(self):
    return self._parameters['target']

  @property
  def num_sweeps(self):
    return self._parameters['num_sweeps']

  @property
  def target_log_prob_fn(self):
    return self.target.log_prob

  @property
  def name(self):
    return self._parameters['name']

  @property
  def parameters(self):
    return self._parameters

  @property
  def is_calibrated(self):
    return True

  def one_step(self, current_state, previous_kernel_results, seed=None):
    """One `x -> s -> sweeps -> x'` step of every chain."""
    del previous_kernel_results  # Nothing of the old state carries over.
    with tf.name_scope(self.name or 'dual_spin_metropolis'):
      spin_seed, sweep_seed, field_seed = tfp.random.split_seed(
          tfp.random.sanitize_seed(seed), n=3)
      spins = self.target.sample_spins(current_state, spin_seed)
      spins = self.target.metropolis_sweeps(spins, self.num_sweeps,
                                            sweep_seed)
      state = self.target.sample_fields(spins, field_seed)
      return state, DualSpinMetropolisResults(
          target_log_prob=self.target.log_prob(state), seed=field_seed)

  def bootstrap_results(self, init_state):
    with tf.name_scope(self.name or 'dual_spin_metropolis'):
      return DualSpinMetropolisResults(
          target_log_prob=self.target.log_prob(init_state),
          seed=tf.zeros([2], tf.int32))
