"""Independence Metropolis-Hastings: `tfp.mcmc` kernels with a fixed proposal.

A proposal distribution `q` (a trained NeuralRG, its `Symmetrized` mixture, or
any TFP distribution with `experimental_sample_and_log_prob`) proposes
`x' ~ q` independently of the current state `x`, accepted with probability

```none
min(1, pi(x') q(x) / (pi(x) q(x'))).
```

The chain is exact for `pi` however imperfect `q` is, as long as `q` covers
`pi`'s support. `RandomWalkMetropolis` with a custom `new_state_fn` cannot
express this: it drops the `q(x) / q(x')` correction.

Following TFP's own kernels, `UncalibratedIndependenceMetropolis` proposes
and reports `log_acceptance_correction = ln q(x) - ln q(x')`, and
`IndependenceMetropolis` wraps it in `tfp.mcmc.MetropolisHastings`. The kernel
results carry `ln pi` and `ln q` of the current state, so neither is ever
recomputed (and a flow proposal never runs its inverse after the first step).

Example:

```python
kernel = tfp_nrg.mcmc.IndependenceMetropolis(target.log_prob, proposal=q)
states, is_accepted = tfp.mcmc.sample_chain(
    num_results=1000, current_state=q.sample(16, seed=(0, 1)),
    kernel=kernel, trace_fn=lambda _, r: r.is_accepted, seed=(2, 3))
```
"""

import collections
import warnings

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.internal import checks

__all__ = [
    'IndependenceMetropolis',
    'UncalibratedIndependenceMetropolis',
    'UncalibratedIndependenceMetropolisResults',
    'run_chains',
    'sample_independence_chains',
    'warn_non_finite',
]


def check_proposal(proposal, target_log_prob_fn):
  """Raises unless `proposal` can propose states for `target_log_prob_fn`."""
  if not callable(target_log_prob_fn):
    raise TypeError('`target_log_prob_fn` must be callable; got {!r}.'.format(
        target_log_prob_fn))
  checks.check_distribution(proposal, 'proposal')


def checked_state(state, proposal):
  """`(state, was_list)`: a one-part state as a tensor of `proposal`'s dtype
  and shape `[chains..., event]`, unwrapped if given as a list.

  TFP kernels take a state as a `Tensor` or a list of parts, and wrappers
  such as `tfp.mcmc.ReplicaExchangeMC` pass a one-part state as a list; a
  flow proposes one part.

  Raises:
    ValueError: for a state of several parts, or of the wrong shape.
    TypeError: for a state of another dtype than the proposal's.
  """
  was_list = isinstance(state, (list, tuple))
  if was_list:
    if len(state) != 1:
      raise ValueError('`current_state` must be one Tensor (or a list of '
                       'one): a flow proposal has one state part; got {} '
                       'parts.'.format(len(state)))
    state = state[0]
  state = tf.convert_to_tensor(state, dtype_hint=proposal.dtype,
                               name='current_state')
  if state.dtype != proposal.dtype:
    raise TypeError('`current_state` must have the proposal\'s dtype {}; got '
                    '{}.'.format(proposal.dtype.name, state.dtype.name))
  event_shape = proposal.event_shape
  if state.shape.rank is not None and (
      state.shape.rank < event_shape.rank or not state.shape[
          state.shape.rank - event_shape.rank:].is_compatible_with(
              event_shape)):
    raise ValueError('`current_state` must have shape [chains..., {}] (the '
                     'proposal\'s event); got {}.'.format(
                         ', '.join(map(str, event_shape)), state.shape))
  return state, was_list


def as_given(state, was_list):
  """`state` in the structure `checked_state` unwrapped it from."""
  return [state] if was_list else state


def non_finite(*log_probs):
  """Per chain: whether any of `log_probs` is NaN or infinite.

  Such a density leaves the acceptance probability undefined (a NaN ratio)
  or rests on a broken model; the kernels reject the step and flag it.
  """
  return tf.reduce_any(tf.stack([~tf.math.is_finite(p) for p in log_probs]),
                       axis=0)


def chains_shape(state, proposal):
  """The leading (chain) dimensions of `state`, static where known."""
  event_ndims = proposal.event_shape.rank
  static = state.shape[:state.shape.rank - event_ndims]
  if static.is_fully_defined():
    return static
  return tf.shape(state)[:tf.rank(state) - event_ndims]


class UncalibratedIndependenceMetropolisResults(
    collections.namedtuple('UncalibratedIndependenceMetropolisResults', [
        'log_acceptance_correction',
        'target_log_prob',    # ln pi of the (proposed) state.
        'proposal_log_prob',  # ln q of the (proposed) state.
        'non_finite',         # Per chain: ln pi or ln q was NaN or infinite.
        'seed',
    ])):
  """Kernel results of `UncalibratedIndependenceMetropolis`."""
  __slots__ = ()


class UncalibratedIndependenceMetropolis(tfp.mcmc.TransitionKernel):
  """Proposes `x' ~ q` for every chain; not calibrated on its own.

  Use `IndependenceMetropolis`, or wrap this in `tfp.mcmc.MetropolisHastings`.
  """

  def __init__(self, target_log_prob_fn, proposal, name=None):
    """Builds the kernel.

    Args:
      target_log_prob_fn: callable `x -> ln pi(x)` (unnormalized), returning
        one value per chain.
      proposal: a `tfd.Distribution` with a fully defined event shape and
        scalar batch shape; its event is one chain's state.
      name: Python `str` name prefixed to ops.

    Raises:
      TypeError: if `target_log_prob_fn` is not callable or `proposal` is not
        a `tfd.Distribution`.
      ValueError: if `proposal`'s event shape is not fully defined or its
        batch shape is not scalar.
    """
    check_proposal(proposal, target_log_prob_fn)
    self._parameters = dict(target_log_prob_fn=target_log_prob_fn,
                            proposal=proposal, name=name)

  @property
  def target_log_prob_fn(self):
    return self._parameters['target_log_prob_fn']

  @property
  def proposal(self):
    return self._parameters['proposal']

  @property
  def name(self):
    return self._parameters['name']

  @property
  def parameters(self):
    return self._parameters

  @property
  def is_calibrated(self):
    return False

  def one_step(self, current_state, previous_kernel_results, seed=None):
    """Draws one independent proposal per chain.

    Args:
      current_state: `Tensor` of shape `chains + event_shape` (or a list
        of one, as `tfp.mcmc.ReplicaExchangeMC` passes it).
      previous_kernel_results: results of the current state (from
        `bootstrap_results` or the previous step).
      seed: a stateless seed.

    Returns:
      `(proposed_state, UncalibratedIndependenceMetropolisResults)`.
    """
    with tf.name_scope(self.name or 'independence_metropolis'):
      current_state, was_list = checked_state(current_state, self.proposal)
      seed = tfp.random.sanitize_seed(seed)
      proposed, proposed_log_q = self.proposal.experimental_sample_and_log_prob(
          chains_shape(current_state, self.proposal), seed=seed)
      proposed_log_pi = self.target_log_prob_fn(proposed)
      current_log_q = previous_kernel_results.proposal_log_prob
      flagged = non_finite(proposed_log_pi, proposed_log_q, current_log_q,
                           previous_kernel_results.target_log_prob)
      # A step on a non-finite density is never taken: -inf, not NaN, so
      # that MetropolisHastings rejects it whatever the other terms.
      correction = tf.where(flagged, tf.constant(-float('inf'),
                                                 proposed_log_q.dtype),
                            current_log_q - proposed_log_q)
      return as_given(proposed, was_list), (
          UncalibratedIndependenceMetropolisResults(
              log_acceptance_correction=correction,
              target_log_prob=proposed_log_pi,
              proposal_log_prob=proposed_log_q,
              non_finite=flagged,
              seed=seed))

  def bootstrap_results(self, init_state):
    """Evaluates `ln pi` and `ln q` (one inverse pass) at the initial state.

    A chain whose state has a non-finite `ln pi` or `ln q` does not move
    (every step from it is flagged `non_finite` and rejected).
    """
    with tf.name_scope(self.name or 'independence_metropolis'):
      init_state, _ = checked_state(init_state, self.proposal)
      target_log_prob = self.target_log_prob_fn(init_state)
      proposal_log_prob = self.proposal.log_prob(init_state)
      return UncalibratedIndependenceMetropolisResults(
          log_acceptance_correction=tf.zeros_like(proposal_log_prob),
          target_log_prob=target_log_prob,
          proposal_log_prob=proposal_log_prob,
          non_finite=non_finite(target_log_prob, proposal_log_prob),
          seed=tf.zeros([2], tf.int32))


class IndependenceMetropolis(tfp.mcmc.TransitionKernel):
  """Independence Metropolis-Hastings with a fixed proposal distribution.

  A calibrated `tfp.mcmc.TransitionKernel`: `tfp.mcmc.MetropolisHastings`
  around `UncalibratedIndependenceMetropolis`, as TFP builds
  `RandomWalkMetropolis`. Works in `tfp.mcmc.sample_chain` (with `trace_fn`
  and reducers), inside `tfp.mcmc.TransformedTransitionKernel`, under
  `tf.function(jit_compile=True)`, with many chains at once and stateless
  seeds.
  """

  def __init__(self, target_log_prob_fn, proposal, name=None):
    """See `UncalibratedIndependenceMetropolis.__init__`."""
    self._impl = tfp.mcmc.MetropolisHastings(
        UncalibratedIndependenceMetropolis(target_log_prob_fn, proposal,
                                           name=name))

  @property
  def target_log_prob_fn(self):
    return self._impl.inner_kernel.target_log_prob_fn

  @property
  def proposal(self):
    return self._impl.inner_kernel.proposal

  @property
  def name(self):
    return self._impl.inner_kernel.name

  @property
  def parameters(self):
    return self._impl.inner_kernel.parameters

  @property
  def is_calibrated(self):
    return True

  def one_step(self, current_state, previous_kernel_results, seed=None):
    """One independence Metropolis-Hastings step for every chain."""
    return self._impl.one_step(current_state, previous_kernel_results,
                               seed=seed)

  def bootstrap_results(self, init_state):
    """`MetropolisHastingsResults` of the initial state."""
    return self._impl.bootstrap_results(init_state)


def run_chains(kernel, current_state, num_results, num_burnin_steps=0,
               seed=None, return_non_finite=False):
  """`tfp.mcmc.sample_chain` tracing each step's acceptance.

  A step on which the kernel met a non-finite `ln pi` or `ln q` (a
  `non_finite` field in its results, as `IndependenceMetropolis` and
  `GlobalLocal` have) was rejected, and the chains may be biased where the
  densities are broken: run eagerly, this warns; in a `tf.function`, ask for
  the flags with `return_non_finite=True` and check them.

  Args:
    kernel: a `tfp.mcmc.TransitionKernel`.
    current_state: `Tensor` `[chains] + event_shape`.
    num_results: Python `int` >= 1, steps kept per chain.
    num_burnin_steps: Python `int` >= 0, steps discarded first.
    seed: a stateless seed.
    return_non_finite: Python `bool`, also return the flags.

  Returns:
    `(states, is_accepted)`: `[num_results, chains] + event_shape` and
    `[num_results, chains]` (all `True` for a kernel that always moves, one
    whose results have no `is_accepted`); with `return_non_finite`, a third
    `[num_results, chains]` bool `Tensor`, whether the step met a non-finite
    density (all `False` for a kernel that does not flag them).

  Raises:
    TypeError, ValueError: on a `num_results` or `num_burnin_steps` that is
      not a Python int in range.
  """
  num_results = checks.check_positive_int(num_results, 'num_results')
  num_burnin_steps = checks.check_positive_int(
      num_burnin_steps, 'num_burnin_steps', minimum=0)

  def trace(state, results):
    chains = tf.shape(state)[:1]
    accepted = getattr(results, 'is_accepted', None)
    flags = _find_field(results, 'non_finite')
    return (tf.ones(chains, tf.bool) if accepted is None else accepted,
            tf.zeros(chains, tf.bool) if flags is None else flags)

  states, (is_accepted, flagged) = tfp.mcmc.sample_chain(
      num_results, current_state=current_state, kernel=kernel,
      num_burnin_steps=num_burnin_steps, trace_fn=trace, seed=seed)
  if tf.executing_eagerly():
    warn_non_finite(flagged)
  if return_non_finite:
    return states, is_accepted, flagged
  return states, is_accepted


def warn_non_finite(flags):
  """Warns if any of `flags` (from `run_chains`) is set; returns the count.
  """
  count = int(tf.math.count_nonzero(flags))
  if count:
    warnings.warn(
        '{} of {} chain steps met a non-finite ln pi or ln q and were '
        'rejected: the target or the proposal is broken on part of the space '
        'the chains visit, so the chains do not sample it there and their '
        'figures may be biased.'.format(count, int(tf.size(flags))),
        RuntimeWarning)
  return count


def _find_field(results, name):
  """`results.name`, looked for through wrapped kernels' results."""
  if hasattr(results, name):
    return getattr(results, name)
  for inner in ('proposed_results', 'inner_results'):
    if hasattr(results, inner):
      return _find_field(getattr(results, inner), name)
  return None


def sample_independence_chains(target_log_prob_fn,
                               proposal,
                               num_chains,
                               num_results,
                               num_burnin_steps=0,
                               seed=None,
                               return_non_finite=False):
  """Runs `num_chains` independence Metropolis chains started from `proposal`.

  The chains start from proposal draws, so that with `num_burnin_steps = 0`
  the first kept state is already one accepted-or-not step away from `q`.
  Call it inside `tf.function(jit_compile=True)` for speed.

  Args:
    target_log_prob_fn: callable `x -> ln pi(x)`.
    proposal: the proposal distribution (see `IndependenceMetropolis`).
    num_chains: Python `int` >= 1.
    num_results: Python `int` >= 1, steps kept per chain.
    num_burnin_steps: Python `int` >= 0, steps discarded first.
    seed: a stateless seed.
    return_non_finite: Python `bool`, as in `run_chains`.

  Returns:
    `(states, is_accepted)`: `[num_results, num_chains] + event_shape` and
    `[num_results, num_chains]`; and the non-finite flags, as in
    `run_chains`.
  """
  init_seed, chain_seed = tfp.random.split_seed(seed, n=2)
  return run_chains(
      IndependenceMetropolis(target_log_prob_fn, proposal),
      proposal.sample(num_chains, seed=init_seed), num_results,
      num_burnin_steps, seed=chain_seed, return_non_finite=return_non_finite)
