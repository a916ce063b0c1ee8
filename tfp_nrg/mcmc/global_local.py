"""Global-local sampling: exact local moves interleaved with flow proposals.

A flow `q` trained on the reverse KL is mode-seeking: as an independence
proposal alone it may never reach the part of `pi` it under-covers, and a
chain that does stays there for long. Global-local sampling (flowMC; Gabrie,
Rotskoff & Vanden-Eijnden, PNAS 119, e2109420119 (2022)) fixes that with a
second, local kernel: one step of `GlobalLocal` runs `num_local_steps` steps
of any `pi`-invariant TFP kernel (HMC, MALA, random walk, the dual Ising spin
kernel), which equilibrate the tails, then one independence proposal
`x' ~ q` accepted with probability

```none
min(1, pi(x') q(x) / (pi(x) q(x'))),
```

which decorrelates the slow modes. Both parts leave `pi` invariant, so their
composition does, however poor `q` is. After an accepted global move the
local kernel's cached `target_log_prob` (and `grads_target_log_prob`) are
those of the new state, as if it had been bootstrapped there.

Example:

```python
local = target.local_kernel(num_sweeps=1)   # or tfp.mcmc.HamiltonianMonteCarlo
kernel = tfp_nrg.mcmc.GlobalLocal(target.log_prob, proposal=flow,
                                  local_kernel=local, num_local_steps=2)
states, accepted = tfp.mcmc.sample_chain(
    1000, current_state=flow.sample(64, seed=(0, 1)), kernel=kernel,
    trace_fn=lambda _, r: r.is_accepted, seed=(2, 3))
```
"""

import collections
import inspect

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.internal import checks
from tfp_nrg.mcmc import kernels

__all__ = ['GlobalLocal', 'GlobalLocalResults']

# The fields in which TFP kernels cache what they know of the current state.
_CACHED_FIELDS = ('target_log_prob', 'grads_target_log_prob')


class GlobalLocalResults(collections.namedtuple('GlobalLocalResults', [
    'inner_results',      # The local kernel's results, of the current state.
    'is_accepted',        # Whether the global (flow) proposal was accepted.
    'log_accept_ratio',   # Of the global proposal.
    'target_log_prob',    # ln pi of the current state.
    'proposal_log_prob',  # ln q of the current state.
    'non_finite',         # Per chain: a non-finite ln pi or ln q this step.
    'seed',
])):
  """Kernel results of `GlobalLocal`."""
  __slots__ = ()


def _select(accepted, new, old):
  """`new` where `accepted` (per chain), else `old`; any event rank."""
  accepted = tf.reshape(accepted, tf.concat(
      [tf.shape(accepted), tf.ones([tf.rank(new) - tf.rank(accepted)],
                                   tf.int32)], 0))
  return tf.where(accepted, new, old)


def _refresh_cache(results, fresh, accepted):
  """`results` with its cached target values taken from `fresh` where accepted.

  Walks the (nested) kernel results namedtuples; only the cache fields change,
  so adaptation state (step sizes, counters) is kept.
  """
  if not hasattr(results, '_fields'):
    return results
  updates = {}
  for name in results._fields:
    old, new = getattr(results, name), getattr(fresh, name)
    if name in _CACHED_FIELDS:
      updates[name] = tf.nest.map_structure(
          lambda o, n: _select(accepted, n, o), old, new)
    elif hasattr(old, '_fields'):
      updates[name] = _refresh_cache(old, new, accepted)
  return results._replace(**updates)


# What a target's parameters are called (DualIsing, Phi4): two targets of one
# class that differ in any of these are different densities.
_TARGET_PARAMETERS = ('lattice_size', 'dimension', 'coupling', 'temperature',
                      'shift', 'dtype', 'm2', 'lam')


def _check_same_target(target_log_prob_fn, local_kernel):
  """Raises if `local_kernel` leaves another target invariant.

  Decidable when both are the same method of two target objects (say
  `log_prob` of two `DualIsing`s): their parameters must agree.
  """
  kernel = local_kernel
  while not hasattr(kernel, 'target_log_prob_fn') and hasattr(
      kernel, 'inner_kernel'):
    kernel = kernel.inner_kernel
  local_fn = getattr(kernel, 'target_log_prob_fn', None)
  if not (inspect.ismethod(target_log_prob_fn) and inspect.ismethod(local_fn)
          and target_log_prob_fn.__func__ is local_fn.__func__):
    return
  ours, theirs = target_log_prob_fn.__self__, local_fn.__self__

  def same(name):
    a, b = getattr(ours, name, None), getattr(theirs, name, None)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
      return np.array_equal(a, b)  # A batch of parameters.
    return a == b

  differ = [name for name in _TARGET_PARAMETERS if not same(name)]
  if differ:
    raise ValueError(
        '`local_kernel` samples another target than `target_log_prob_fn`: '
        'they differ in {}. Build the local kernel from the same '
        'target.'.format(', '.join(
            '{} ({} against {})'.format(n, getattr(theirs, n, None),
                                        getattr(ours, n, None))
            for n in differ)))


class GlobalLocal(tfp.mcmc.TransitionKernel):
  """`num_local_steps` local steps, then one independence proposal from `q`.

  A calibrated `tfp.mcmc.TransitionKernel`: works in `tfp.mcmc.sample_chain`
  (with `trace_fn` and reducers), under `tf.function(jit_compile=True)`, with
  many chains at once and stateless seeds. With `num_local_steps=0` it is
  independence Metropolis (and `ln q` of the state is carried over, so the
  flow never runs its inverse after the first step).

  As TFP's wrapping kernels do, its results keep the local kernel's as
  `inner_results`, so TFP's step-size adaptation wraps it from outside and
  adapts the local HMC (built with `store_parameters_in_results=True`):
  `tfp.mcmc.SimpleStepSizeAdaptation(GlobalLocal(target, q, hmc), n)`.
  """

  def __init__(self, target_log_prob_fn, proposal, local_kernel,
               num_local_steps=1, name=None):
    """Builds the kernel.

    Args:
      target_log_prob_fn: callable `x -> ln pi(x)` (unnormalized), one value
        per chain; the target the local kernel leaves invariant too.
      proposal: a `tfd.Distribution` with a fully defined event shape and
        scalar batch shape, e.g. a trained NeuralRG; its event is one chain's
        state.
      local_kernel: a `tfp.mcmc.TransitionKernel` leaving `pi` invariant.
      num_local_steps: Python `int` >= 0, local steps per step.
      name: Python `str` name prefixed to ops.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    kernels.check_proposal(proposal, target_log_prob_fn)
    if not isinstance(local_kernel, tfp.mcmc.TransitionKernel):
      raise TypeError('`local_kernel` must be a tfp.mcmc.TransitionKernel; '
                      'got {!r}.'.format(local_kernel))
    _check_same_target(target_log_prob_fn, local_kernel)
    num_local_steps = checks.check_positive_int(num_local_steps,
                                                'num_local_steps', minimum=0)
    self._parameters = dict(target_log_prob_fn=target_log_prob_fn,
                            proposal=proposal, local_kernel=local_kernel,
                            num_local_steps=num_local_steps, name=name)

  @property
  def target_log_prob_fn(self):
    return self._parameters['target_log_prob_fn']

  @property
  def proposal(self):
    return self._parameters['proposal']

  @property
  def local_kernel(self):
    return self._parameters['local_kernel']

  @property
  def num_local_steps(self):
    return self._parameters['num_local_steps']

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
    """Local steps, then one global independence Metropolis step per chain.

    Args:
      current_state: `Tensor` of shape `chains + event_shape` (or a list
        of one, as `tfp.mcmc.ReplicaExchangeMC` passes it).
      previous_kernel_results: `GlobalLocalResults` of the current state.
      seed: a stateless seed.

    Returns:
      `(next_state, GlobalLocalResults)`.
    """
    with tf.name_scope(self.name or 'global_local'):
      state, was_list = kernels.checked_state(current_state, self.proposal)
      seeds = tfp.random.split_seed(tfp.random.sanitize_seed(seed),
                                    n=self.num_local_steps + 2)
      local_results = previous_kernel_results.inner_results
      for i in range(self.num_local_steps):
        state, local_results = self.local_kernel.one_step(
            state, local_results, seed=seeds[i])
      if self.num_local_steps:
        log_pi = self.target_log_prob_fn(state)
        log_q = self.proposal.log_prob(state)
      else:
        log_pi = previous_kernel_results.target_log_prob
        log_q = previous_kernel_results.proposal_log_prob
      proposed, proposed_log_q = self.proposal.experimental_sample_and_log_prob(
          kernels.chains_shape(state, self.proposal), seed=seeds[-2])
      proposed_log_pi = self.target_log_prob_fn(proposed)
      flagged = kernels.non_finite(log_pi, log_q, proposed_log_pi,
                                   proposed_log_q)
      # A step on a non-finite density is never taken, in either direction.
      log_accept_ratio = tf.where(
          flagged, tf.constant(-float('inf'), log_pi.dtype),
          (proposed_log_pi - log_pi) + (log_q - proposed_log_q))
      log_uniform = tf.math.log(tf.random.stateless_uniform(
          tf.shape(log_accept_ratio), seed=seeds[-1],
          dtype=log_accept_ratio.dtype))
      accepted = log_uniform < log_accept_ratio
      next_state = _select(accepted, proposed, state)
      local_results = _refresh_cache(
          local_results, self.local_kernel.bootstrap_results(proposed),
          accepted)
      return kernels.as_given(next_state, was_list), GlobalLocalResults(
          inner_results=local_results, is_accepted=accepted,
          log_accept_ratio=log_accept_ratio,
          target_log_prob=tf.where(accepted, proposed_log_pi, log_pi),
          proposal_log_prob=tf.where(accepted, proposed_log_q, log_q),
          non_finite=flagged,
          seed=seeds[-1])

  def bootstrap_results(self, init_state):
    """The local kernel's results, `ln pi` and `ln q` of the initial state."""
    with tf.name_scope(self.name or 'global_local'):
      init_state, _ = kernels.checked_state(init_state, self.proposal)
      log_pi = self.target_log_prob_fn(init_state)
      log_q = self.proposal.log_prob(init_state)
      return GlobalLocalResults(
          inner_results=self.local_kernel.bootstrap_results(init_state),
          is_accepted=tf.zeros_like(log_pi, tf.bool),
          log_accept_ratio=tf.zeros_like(log_pi),
          target_log_prob=log_pi,
          proposal_log_prob=log_q,
          non_finite=kernels.non_finite(log_pi, log_q),
          seed=tf.zeros([2], tf.int32))
