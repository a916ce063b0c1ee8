"""Estimators and diagnostics: importance sampling and Markov chains.

For draws `x_i ~ q` with log-weights `ln w_i = ln pi(x_i) - ln q(x_i)` (`pi`
unnormalized with normalizer `Z`):

```none
Z_hat = 1/n sum_i w_i,                      E[Z_hat] = Z,
stderr(ln Z_hat) = sd(w) / (sqrt(n) Z_hat)  (delta method),
ESS / n = (sum_i w_i)^2 / (n sum_i w_i^2),
<f>_pi ~ sum_i w_i f(x_i) / sum_i w_i       (self-normalized).
```

With draws `y_i ~ pi` as well (e.g. from an exact sampler of the target),
`bridge_log_normalizer` combines both sets (Meng & Wong's optimal bridge),
and `chi_square_divergence` measures the weights' true relative variance
`Var_q(w / Z) = chi^2(pi || q)`, which the draws of `q` alone underestimate
when the weights are heavy-tailed: the honest error of `ln Z_hat` is then
`sqrt(chi^2 / n)`.

`pareto_shape` says whether any of that can be trusted from the draws of `q`
alone: it fits a generalized Pareto tail to the largest weights (Vehtari et
al., "Pareto smoothed importance sampling", JMLR 25, 2024); past a shape of
0.7 the weights' variance is effectively infinite and importance estimates
and their errors are unreliable, however many draws there are.

All functions take 1-D tensors over the draws and work in `tf.function` and
under XLA, except `pareto_shape` (numpy, eager).

Example:

```python
x, log_q = q.experimental_sample_and_log_prob(4096, seed=(1, 2))
log_w = target.log_prob(x) - log_q
log_z, log_z_stderr = tfp_nrg.mcmc.log_mean_exp(log_w)
```
"""

import contextlib
import logging

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

__all__ = [
    'bridge_log_normalizer',
    'chain_mean',
    'chi_square_divergence',
    'importance_ess_fraction',
    'independence_chain_acceptance',
    'independence_chain_accepted',
    'jackknife',
    'log_mean_exp',
    'pareto_shape',
    'self_normalized_expectation',
]


# Fewer effective draws than this give no error estimate worth the name: the
# importance errors are then reported infinite.
MIN_EFFECTIVE_DRAWS = 10.

# Above this Pareto shape of the weights' tail importance sampling is not
# reliable (Vehtari et al. 2024).
MAX_RELIABLE_PARETO_SHAPE = 0.7


def _normalized_weights(log_weights):
  log_weights = tf.convert_to_tensor(log_weights, name='log_weights')
  if log_weights.shape.rank not in (None, 1):
    raise ValueError('`log_weights` must be 1-D; got shape {}.'.format(
        log_weights.shape))
  shift = tf.reduce_max(log_weights)
  return tf.math.exp(log_weights - shift), shift


def _unless_degenerate(stderr, weights):
  """`stderr`, or `inf` when the weights have < 10 effective draws."""
  effective = tf.reduce_sum(weights)**2 / tf.reduce_sum(weights**2)
  return tf.where(effective >= MIN_EFFECTIVE_DRAWS, stderr,
                  tf.constant(np.inf, stderr.dtype))


def log_mean_exp(log_weights):
  """`ln (1/n sum_i exp(log_weights_i))` and its delta-method standard error.

  Args:
    log_weights: 1-D float `Tensor`.

  Returns:
    `(estimate, stderr)`, scalar `Tensor`s; `stderr` is `inf` when the
    weights have fewer than `MIN_EFFECTIVE_DRAWS` effective draws (one draw
    dominating the sum says nothing of the spread).
  """
  weights, shift = _normalized_weights(log_weights)
  n = tf.cast(tf.size(weights), weights.dtype)
  mean = tf.reduce_mean(weights)
  stderr = tf.math.reduce_std(weights) / (tf.sqrt(n) * mean)
  return tf.math.log(mean) + shift, _unless_degenerate(stderr, weights)


def bridge_log_normalizer(log_weights_proposal, log_weights_target,
                          num_iterations=100):
  """`ln Z` from draws of both `q` and `pi`: optimal bridge sampling.

  With `w = pi / q` (`pi` unnormalized), `n_q` draws of `q`, `n_p` of `pi`
  and `s_q, s_p` their fractions, Meng & Wong's (1996) iteration

  ```none
  Z <- [1/n_q sum_{x~q} w / (s_p w + s_q Z)]
       / [1/n_p sum_{y~pi} 1 / (s_p w + s_q Z)]
  ```

  converges to the asymptotically optimal bridge estimate. Each set covers
  where the other is weak, and both averaged quantities are bounded, so the
  error estimate (Fruhwirth-Schnatter 2004, independent draws)

  ```none
  RE^2 = Var_q(f_q) / (n_q E_q[f_q]^2) + Var_pi(f_p) / (n_p E_pi[f_p]^2)
  ```

  stays honest when the weights are heavy-tailed, unlike plain importance
  sampling's.

  It needs overlap: where every draw of `pi` has a larger weight than every
  draw of `q` (a poor flow at a large lattice), the draws bound `ln Z` only
  to an interval, and where the iteration has not converged the estimate is
  not the bridge's. In both cases the error is `inf` (never NaN), and the
  estimate is that of the last iteration.

  Args:
    log_weights_proposal: 1-D `Tensor`, `ln pi - ln q` at independent draws
      of `q`.
    log_weights_target: 1-D `Tensor`, `ln pi - ln q` at independent draws of
      `pi`.
    num_iterations: Python `int`, fixed-point iterations (started from the
      importance-sampling estimate); converged means the last one moved
      `ln Z` by less than `1e-6` (relative to `max(1, |ln Z|)`).

  Returns:
    `(log_z, stderr)`: scalar `Tensor`s, `stderr` that of `log_z`.
  """
  log_w_q = tf.convert_to_tensor(log_weights_proposal,
                                 name='log_weights_proposal')
  log_w_p = tf.convert_to_tensor(log_weights_target, dtype=log_w_q.dtype,
                                 name='log_weights_target')
  for name, value in (('log_weights_proposal', log_w_q),
                      ('log_weights_target', log_w_p)):
    if value.shape.rank not in (None, 1):
      raise ValueError('`{}` must be 1-D; got shape {}.'.format(
          name, value.shape))
  n_q = tf.cast(tf.size(log_w_q), log_w_q.dtype)
  n_p = tf.cast(tf.size(log_w_p), log_w_q.dtype)
  log_s_q, log_s_p = tf.math.log(n_q / (n_q + n_p)), tf.math.log(
      n_p / (n_q + n_p))

  def terms(log_z):
    """`ln f_q` at the draws of q and `ln f_p` at those of pi, over Z."""
    log_denominator = lambda log_w: tf.math.reduce_logsumexp(tf.stack(
        [log_s_p + log_w - log_z, log_s_q + tf.zeros_like(log_w)]), axis=0)
    return (log_w_q - log_z - log_denominator(log_w_q),
            -log_denominator(log_w_p))

  def log_mean(log_values):
    return tf.math.reduce_logsumexp(log_values) - tf.math.log(
        tf.cast(tf.size(log_values), log_values.dtype))

  log_z = log_mean_exp(log_w_q)[0]
  for _ in range(num_iterations):
    log_f_q, log_f_p = terms(log_z)
    step = log_mean(log_f_q) - log_mean(log_f_p)
    log_z += step
  log_f_q, log_f_p = terms(log_z)

  def relative_variance(log_f):
    f = tf.math.exp(log_f - tf.reduce_max(log_f))  # Scale-free; no underflow.
    return tf.math.reduce_variance(f) / tf.reduce_mean(f)**2

  stderr = tf.sqrt(relative_variance(log_f_q) / n_q +
                   relative_variance(log_f_p) / n_p)
  converged = tf.abs(step) < 1e-6 * tf.maximum(tf.abs(log_z), 1.)
  overlap = tf.reduce_max(log_w_q) >= tf.reduce_min(log_w_p)
  usable = converged & overlap & tf.math.is_finite(stderr)
  return log_z, tf.where(usable, stderr, tf.constant(np.inf, stderr.dtype))


def chi_square_divergence(log_weights_target, log_z):
  """`chi^2(pi || q) = E_pi[w / Z] - 1 = Var_q(w / Z)` from draws of `pi`.

  The relative variance of the importance weights under `q`, measured where
  it comes from: importance sampling with `n` draws of `q` then has
  `stderr(ln Z_hat) = sqrt(chi^2 / n)`.

  Args:
    log_weights_target: 1-D `Tensor`, `ln pi - ln q` at draws of `pi`.
    log_z: scalar, `ln Z` (e.g. from `bridge_log_normalizer`).

  Returns:
    Scalar `Tensor`, at least 0.
  """
  log_w_p = tf.convert_to_tensor(log_weights_target,
                                 name='log_weights_target')
  log_z = tf.cast(log_z, log_w_p.dtype)
  return tf.maximum(tf.reduce_mean(tf.math.exp(log_w_p - log_z)) - 1., 0.)


def importance_ess_fraction(log_weights):
  """Kish's effective sample size over the number of draws, in `(0, 1]`."""
  weights, _ = _normalized_weights(log_weights)
  n = tf.cast(tf.size(weights), weights.dtype)
  return tf.reduce_sum(weights)**2 / (n * tf.reduce_sum(weights**2))


def self_normalized_expectation(log_weights, values):
  """Self-normalized importance estimate of `E_pi[f]` and its standard error.

  Args:
    log_weights: 1-D float `Tensor`, `ln pi - ln q` per draw.
    values: 1-D float `Tensor`, `f(x_i)` per draw.

  Returns:
    `(estimate, stderr)` with the delta-method error
    `sqrt(sum_i w_i^2 (f_i - estimate)^2) / sum_i w_i`, or `inf` with fewer
    than `MIN_EFFECTIVE_DRAWS` effective draws (a single dominant draw would
    give an error of 0).
  """
  weights, _ = _normalized_weights(log_weights)
  values = tf.convert_to_tensor(values, dtype=weights.dtype, name='values')
  total = tf.reduce_sum(weights)
  estimate = tf.reduce_sum(weights * values) / total
  stderr = tf.sqrt(tf.reduce_sum(weights**2 * (values - estimate)**2)) / total
  return estimate, _unless_degenerate(stderr, weights)


def independence_chain_acceptance(log_weights, seed):
  """Acceptance rate of independence Metropolis walking through the draws.

  The chain starts at draw 0 and proposes draws 1, 2, ... in turn, accepting
  `x_i` over the current `x_c` with probability `min(1, w_i / w_c)`: the
  acceptance a `tfp.mcmc` chain with this proposal would see.

  Args:
    log_weights: 1-D float `Tensor` with at least 2 draws.
    seed: a stateless seed.

  Returns:
    Scalar `Tensor`, the fraction of the `n - 1` proposals accepted.
  """
  return tf.reduce_mean(independence_chain_accepted(log_weights, seed))


def independence_chain_accepted(log_weights, seed):
  """Per proposal, whether `independence_chain_acceptance`'s walk accepted it.

  Args:
    log_weights: 1-D float `Tensor` with at least 2 draws.
    seed: a stateless seed.

  Returns:
    1-D `Tensor` of `n - 1` zeros and ones (in `log_weights.dtype`), in the
    order of the walk: consecutive entries are correlated, blocks of them
    nearly independent.
  """
  log_weights = tf.convert_to_tensor(log_weights, name='log_weights')
  log_uniforms = tf.math.log(tf.random.stateless_uniform(
      tf.shape(log_weights[1:]), seed=tfp.random.sanitize_seed(seed),
      dtype=log_weights.dtype))
  return _walk_acceptance(log_weights, log_uniforms)


@tf.function(autograph=False)
def _walk_acceptance(log_weights, log_uniforms):
  """The scan of `independence_chain_accepted`, as a graph (fast eagerly)."""

  def step(state, proposal):
    current, _ = state
    log_weight, log_uniform = proposal
    accept = log_uniform < log_weight - current
    return tf.where(accept, log_weight, current), accept

  _, accepted = tf.scan(step, (log_weights[1:], log_uniforms),
                        initializer=(log_weights[0], tf.constant(True)))
  return tf.cast(accepted, log_weights.dtype)


class _ComplexCastFilter(logging.Filter):
  """Drops TensorFlow's warning on casting complex to real.

  `tfp.mcmc.effective_sample_size` computes autocorrelations by FFT and
  casts the real result back from complex on purpose; TensorFlow warns on
  that cast at every trace.
  """

  def filter(self, record):
    return not record.getMessage().startswith(
        'You are casting an input of type complex')


@contextlib.contextmanager
def _without_complex_cast_warning():
  """While tracing TFP's FFT autocorrelation: no complex-cast warning (the
  filter is removed after, so user code keeps TensorFlow's warning)."""
  logger, cast_filter = tf.get_logger(), _ComplexCastFilter()
  logger.addFilter(cast_filter)
  try:
    yield
  finally:
    logger.removeFilter(cast_filter)


def chain_mean(values):
  """Mean of a scalar observable over chains, autocorrelation-aware error.

  Args:
    values: float `Tensor` `[num_steps, num_chains]` (or `[num_steps]`).

  Returns:
    `(mean, stderr, integrated_autocorrelation_time)`: the error is
    `sd / sqrt(ESS)` with the total effective sample size from
    `tfp.mcmc.effective_sample_size` summed over chains, and the integrated
    autocorrelation time is `num_draws / ESS` (1 for independent draws).
  """
  values = tf.convert_to_tensor(values, name='values')
  if values.shape.rank == 1:
    values = values[:, tf.newaxis]
  with _without_complex_cast_warning():
    per_chain = tfp.mcmc.effective_sample_size(values)
  # A chain that never moved has no autocorrelation estimate: one draw.
  ess = tf.reduce_sum(tf.where(tf.math.is_finite(per_chain), per_chain,
                               tf.ones_like(per_chain)))
  num_draws = tf.cast(tf.size(values), values.dtype)
  return (tf.reduce_mean(values), tf.math.reduce_std(values) / tf.sqrt(ess),
          num_draws / ess)


def jackknife(estimator, values, num_blocks=20):
  """Jackknife estimate and error of a nonlinear function of chain averages.

  The steps are cut into `num_blocks` consecutive blocks (longer than the
  autocorrelation time, the blocks are nearly independent); the estimator is
  re-evaluated with each block left out.

  Args:
    estimator: callable taking a `dict` of per-draw tensors (each
      `[steps, chains]`, possibly with the steps reduced) and returning a
      scalar; it must average over the leading (steps) axis itself.
    values: `dict` of `[num_steps, num_chains]` tensors.
    num_blocks: Python `int` >= 2.

  Returns:
    `(estimate, stderr)`, scalar tensors.
  """
  num_steps = int(next(iter(values.values())).shape[0])
  block = num_steps // num_blocks
  if block < 1:
    raise ValueError('`num_blocks` ({}) exceeds the number of steps '
                     '({}).'.format(num_blocks, num_steps))
  trimmed = {k: v[:block * num_blocks] for k, v in values.items()}
  full = estimator(trimmed)
  leave_one_out = []
  for b in range(num_blocks):
    kept = {k: tf.concat([v[:b * block], v[(b + 1) * block:]], axis=0)
            for k, v in trimmed.items()}
    leave_one_out.append(estimator(kept))
  leave_one_out = tf.stack(leave_one_out)
  n = float(num_blocks)
  stderr = tf.sqrt((n - 1.) / n * tf.reduce_sum(
      (leave_one_out - tf.reduce_mean(leave_one_out))**2))
  return full, stderr


def _generalized_pareto_shape(exceedances):
  """Zhang & Stephens' (2009) posterior-mean shape of a GPD fit, with the
  weakly informative prior of Vehtari et al.; `exceedances` sorted, >= 0.
  Ties at the threshold (common in float32 ln w) are exceedances of 0, which
  the fit takes; a tail flat up to its first quartile gives `nan`."""
  n = len(exceedances)
  first_quartile = exceedances[int(n / 4. + 0.5) - 1]
  if first_quartile <= 0.:
    return float('nan')
  num_grid = 30 + int(np.sqrt(n))
  grid = 1. - np.sqrt(num_grid / (np.arange(1, num_grid + 1) - 0.5))
  grid = grid / (3. * first_quartile) + 1. / exceedances[-1]
  shapes = np.mean(np.log1p(-grid[:, np.newaxis] * exceedances), axis=1)
  log_likelihood = n * (np.log(-grid / shapes) - shapes - 1.)
  weights = 1. / np.sum(np.exp(log_likelihood - log_likelihood[:, np.newaxis]),
                        axis=1)
  b = np.sum(grid * weights) / np.sum(weights)
  shape = np.mean(np.log1p(-b * exceedances))
  return (n * shape + 5.) / (n + 10.)


def pareto_shape(log_weights):
  """Pareto-k diagnostic: the fitted shape of the importance weights' tail.

  The largest `M = min(n / 5, 3 sqrt(n))` weights, less the next largest,
  are fitted by a generalized Pareto distribution. Its shape `k` says how
  many moments the weights have (`1 / k`): below 0.5 the variance is finite
  and the usual errors hold; up to 0.7 importance sampling still converges
  in practice; above `MAX_RELIABLE_PARETO_SHAPE` = 0.7 estimates (ln Z,
  self-normalized averages) and their errors cannot be trusted.

  Args:
    log_weights: 1-D array-like of `ln w`, at least 20 finite values.

  Returns:
    Python float `k`; `nan` with too few draws or a flat tail.
  """
  log_weights = np.sort(np.asarray(log_weights, np.float64).ravel())
  n = len(log_weights)
  tail_size = int(min(0.2 * n, 3. * np.sqrt(n)))
  if tail_size < 5 or not np.all(np.isfinite(log_weights)):
    return float('nan')
  weights = np.exp(log_weights - log_weights[-1])
  exceedances = weights[-tail_size:] - weights[-tail_size - 1]
  return float(_generalized_pareto_shape(exceedances))
