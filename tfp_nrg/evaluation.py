"""Evaluating a trained flow against its target: ln Z, ESS, observables.

From fresh draws of the model `q`, `ln Z` of the unnormalized target `pi` is
importance-sampled (`ln mean w`, `w = pi / q`) with the delta method's error;
the mean of `ln q - ln pi` is the variational free energy, an upper bound on
`-ln Z`; observables are self-normalized importance estimates. With
independent draws of `pi` as well, `ln Z` becomes the optimal bridge estimate
(Meng & Wong) and every importance error is made honest (see `evaluate`).

Results are namedtuples in TFP's kernel-results style: an `Estimate(value,
stderr)` per estimated quantity, gathered in `EvaluationResults`; `flatten`
turns any of them into the flat `name`, `name_stderr` keys of a JSON report.

Example:

```python
results = tfp_nrg.evaluation.evaluate(model, target.log_prob, 8192,
                                      seed=(2, 3))
results.log_z.value, results.log_z.stderr, results.acceptance_rate
tfp_nrg.evaluation.flatten(results)['log_z_stderr']
```
"""

import collections
import math
import warnings

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import mcmc
from tfp_nrg.internal import checks

__all__ = [
    'Estimate',
    'EvaluationResults',
    'ObservableEstimate',
    'evaluate',
    'flatten',
    'json_safe',
    'non_finite',
]


class Estimate(collections.namedtuple('Estimate', ['value', 'stderr'])):
  """An estimate and its standard error, Python floats."""
  __slots__ = ()


class ObservableEstimate(collections.namedtuple('ObservableEstimate', [
    'value',         # Self-normalized importance estimate under pi.
    'stderr',
    'unweighted',    # The plain average over q's draws (biased unless q = pi).
    'target_draws',  # `Estimate` over the target draws, or None.
])):
  """An observable's estimates from `evaluate`."""
  __slots__ = ()


class EvaluationResults(collections.namedtuple('EvaluationResults', [
    'free_energy_bound',              # Estimate of E_q[ln q - ln pi].
    'log_z',                          # Estimate: bridge (with target draws)
                                      # or importance sampling.
    'log_z_importance',               # Estimate, ln mean w; honest error.
    'log_z_importance_delta_stderr',  # The delta-method part of that error.
    'ess_fraction',                   # Estimate, Kish's ESS / n.
    'acceptance_rate',                # Estimate, independence Metropolis
                                      # through q's draws.
    'chi_square_divergence',          # chi^2(pi || q), or None.
    'log_z_upper_bound',              # E_pi[ln w] >= ln Z, or None.
    'observables',                    # dict: name -> ObservableEstimate.
    'num_non_finite_log_weights',     # Draws where ln q or ln pi was NaN
                                      # or infinite (a diverged model).
    'pareto_shape',                   # Pareto k of the weights' tail.
    'log_z_warning',                  # Why the importance estimate of ln Z
                                      # cannot be trusted, or None.
])):
  """What `evaluate` returns; `None` where target draws were not given.

  With `num_non_finite_log_weights > 0` nothing can be estimated: every
  figure is NaN and every error infinite.
  """
  __slots__ = ()


def flatten(results, prefix=''):
  """Flat `{name: value, name_stderr: stderr, ...}` of a results namedtuple.

  An `Estimate` field `name` gives `name` and `name_stderr`; a nested
  namedtuple or `dict` gives `name_<field>` keys (an observable's `value`
  and `stderr` keep the observable's own name); other fields are copied.
  This is the one place flat report keys are made.

  Args:
    results: a namedtuple (e.g. `EvaluationResults`) or `dict`.
    prefix: Python `str` put before every key.

  Returns:
    A `dict` of Python floats, `None`s and other leaf values.
  """
  items = (results._asdict() if hasattr(results, '_asdict') else
           dict(results)).items()
  flat = {}
  for name, value in items:
    key = prefix + name
    if isinstance(value, (Estimate, ObservableEstimate)):
      flat[key] = value.value
      flat[key + '_stderr'] = value.stderr
      if isinstance(value, ObservableEstimate):
        flat[key + '_unweighted'] = value.unweighted
        if value.target_draws is not None:
          flat.update(flatten({'target_draws': value.target_draws},
                              key + '_'))
    elif isinstance(value, dict):
      flat.update(flatten(value, prefix))
    else:
      flat[key] = value
  return flat


def non_finite(results):
  """Sorted flat keys (see `flatten`) of the figures that are NaN or inf."""
  return sorted(key for key, value in flatten(results).items()
                if isinstance(value, float) and not math.isfinite(value))


def json_safe(figures):
  """A flat `dict` with NaN and infinities as `None` (JSON `null`)."""
  return {k: None if isinstance(v, float) and not math.isfinite(v) else v
          for k, v in figures.items()}


def _block_jackknife(statistic, values, num_blocks=16):
  """`Estimate` of `statistic(values)`, its error jackknifed over blocks.

  `values` (1-D) are cut into `num_blocks` contiguous blocks, each left out
  in turn; for a mean this is the batch-means error, right for a sequence
  (such as a Metropolis walk's acceptances) whose correlations are shorter
  than a block.
  """
  num_blocks = min(num_blocks, len(values))
  leave_one_out = np.array([
      statistic(np.delete(values, block))
      for block in np.array_split(np.arange(len(values)), num_blocks)])
  stderr = math.sqrt((num_blocks - 1.) / num_blocks * np.sum(
      (leave_one_out - leave_one_out.mean())**2))
  return Estimate(float(statistic(values)), stderr)


def _check_target_samples(target_samples, model):
  target_samples = tf.convert_to_tensor(target_samples, dtype=model.dtype,
                                        name='target_samples')
  if (target_samples.shape.rank is None or target_samples.shape[0] is None or
      target_samples.shape[0] < 2 or not target_samples.shape[1:]
      .is_compatible_with(model.event_shape)):
    raise ValueError('`target_samples` must have shape [m >= 2] + {}; got '
                     '{}.'.format(model.event_shape, target_samples.shape))
  return target_samples


def _undefined_results(observables, num_non_finite, with_target_samples):
  """`EvaluationResults` of a model whose log-weights are not all finite."""
  undefined = Estimate(math.nan, math.inf)
  extra = math.nan if with_target_samples else None
  return EvaluationResults(
      free_energy_bound=undefined, log_z=undefined,
      log_z_importance=undefined, log_z_importance_delta_stderr=math.inf,
      ess_fraction=undefined, acceptance_rate=undefined,
      chi_square_divergence=extra, log_z_upper_bound=extra,
      observables={name: ObservableEstimate(
          math.nan, math.inf, math.nan,
          undefined if with_target_samples else None)
                   for name in observables},
      num_non_finite_log_weights=num_non_finite, pareto_shape=math.nan,
      log_z_warning='{} draws with a non-finite ln q or ln pi.'.format(
          num_non_finite))


# Importance sampling alone is not trusted with fewer effective draws.
MIN_RELIABLE_EFFECTIVE_DRAWS = 100.


def _log_z_warning(num_samples, ess_fraction, pareto_k, chi_square):
  """Why `ln mean w` is unreliable, or `None` (see `evaluate`)."""
  if chi_square is not None:
    if chi_square > num_samples:
      return ('chi^2(pi || q) = {:.3g} exceeds the {} draws of q: their '
              'importance estimates are unreliable; ln Z is the bridge '
              'estimate.'.format(chi_square, num_samples))
    return None
  reasons = []
  if ess_fraction * num_samples < MIN_RELIABLE_EFFECTIVE_DRAWS:
    reasons.append('{:.1f} effective draws of {}'.format(
        ess_fraction * num_samples, num_samples))
  if not pareto_k <= mcmc.MAX_RELIABLE_PARETO_SHAPE:
    reasons.append('Pareto k = {:.2f} > {}'.format(
        pareto_k, mcmc.MAX_RELIABLE_PARETO_SHAPE))
  if not reasons:
    return None
  return ('ln Z rests on importance sampling alone with {}: the estimate '
          'and its error bar may be far off. Pass `target_samples` (e.g. '
          'DualIsing.sample_by_metropolis) for the bridge estimate, or '
          'train the flow longer.'.format(' and '.join(reasons)))


def evaluate(model,
             target_log_prob_fn,
             num_samples,
             seed,
             batch_size=1024,
             observables=None,
             jit_compile=True,
             target_samples=None,
             progress=None):
  """Estimates on a fresh batch: free-energy bound, ln Z, ESS, acceptance.

  From draws of `q` alone, `ln Z` is importance-sampled, with the delta
  method's error, and observables are self-normalized importance estimates.
  Both errors miss what the draws never reached: with heavy-tailed weights
  (a flow that under-covers part of `pi`) they are too small. Independent
  draws of `pi` (`target_samples`, e.g. from `DualIsing.sample_by_metropolis`)
  fix that. They measure the weights' true spread where it comes from,

  ```none
  Var_q(w / Z) = E_pi[w / Z] - 1 = chi^2(pi || q),
  Var(f_hat) ~ E_pi[(w / Z) (f - f_hat)^2] / n,
  ```

  and each importance error becomes the larger of the two estimates; and
  `ln Z` becomes the optimal bridge estimate from both sets (Meng & Wong),
  whose error bar stays honest (see `mcmc.bridge_log_normalizer`).

  Args:
    model: a `tfd.Distribution`, the proposal.
    target_log_prob_fn: callable `x -> ln pi(x)` (unnormalized).
    num_samples: Python `int` >= 2, draws in all.
    seed: a stateless seed.
    batch_size: Python `int`, draws per compiled call.
    observables: optional `dict` of `name -> f`, `f(x)` a per-draw tensor;
      each is estimated under `pi` by self-normalized importance sampling.
    jit_compile: Python `bool`.
    target_samples: optional `Tensor` `[m] + event_shape` of independent
      draws of `pi`, `m >= 2`.
    progress: optional callable `(done, total)`, called after each batch of
      the model's draws (e.g. `hooks.ProgressLine`).

  Returns:
    `EvaluationResults`: `free_energy_bound` (mean of `ln q - ln pi`);
    `log_z` (bridge sampling with `target_samples`, else importance
    sampling); `log_z_importance` (`ln mean w`, its error the honest one)
    and its delta-method error; `ess_fraction` and `acceptance_rate`
    (independence Metropolis through the draws), with errors jackknifed over
    16 blocks of the draws; an `ObservableEstimate` per
    observable. With `target_samples` also `chi_square_divergence`,
    `log_z_upper_bound` (`E_pi[ln w] >= ln Z`) and, per observable, the
    plain average over the target draws. A diverged model, whose `ln q` (or
    the target's `ln pi`) is not finite at some draw, is reported, not
    raised: `num_non_finite_log_weights` counts those draws, and then every
    figure is NaN with an infinite error. `pareto_shape` is the weights'
    Pareto k (`mcmc.pareto_shape`). `log_z_warning` says, and a `UserWarning`
    repeats, when the importance estimates cannot be trusted: without
    `target_samples`, fewer than `MIN_RELIABLE_EFFECTIVE_DRAWS` effective
    draws or `k > 0.7`; with them, `chi^2(pi || q)` above the number of draws.
  """
  num_samples = checks.check_positive_int(num_samples, 'num_samples', 2)
  batch_size = min(checks.check_positive_int(batch_size, 'batch_size'),
                   num_samples)
  observables = dict(observables or {})
  if target_samples is not None:
    target_samples = _check_target_samples(target_samples, model)

  def weights_and_values(x, log_q):
    return (target_log_prob_fn(x) - log_q,
            {name: f(x) for name, f in observables.items()})

  draw = tf.function(
      lambda seed: weights_and_values(
          *model.experimental_sample_and_log_prob(batch_size, seed=seed)),
      jit_compile=jit_compile, autograph=False)
  at = tf.function(lambda x: weights_and_values(x, model.log_prob(x)),
                   jit_compile=jit_compile, autograph=False)

  def gather(results, size):
    log_w = tf.cast(tf.concat([r[0] for r in results], axis=0)[:size],
                    tf.float64)
    return log_w, {name: tf.cast(tf.concat([r[1][name] for r in results],
                                           axis=0)[:size], tf.float64)
                   for name in observables}

  def count_non_finite(log_w):
    return int(np.sum(~np.isfinite(log_w.numpy())))

  def draw_with_progress(i, batch_seed):
    result = draw(batch_seed)
    if progress is not None:
      progress(min((i + 1) * batch_size, num_samples), num_samples)
    return result

  seed = checks.stateless_seed(seed)
  num_batches = -(-num_samples // batch_size)
  seeds = tfp.random.split_seed(seed, n=num_batches + 1)
  log_w, values = gather([draw_with_progress(i, seeds[i])
                          for i in range(num_batches)], num_samples)
  num_non_finite = count_non_finite(log_w)
  if target_samples is not None:
    size = target_samples.shape[0]
    log_w_target, target_values = gather(
        [at(target_samples[i:i + batch_size])
         for i in range(0, size, batch_size)], size)
    num_non_finite += count_non_finite(log_w_target)
  if num_non_finite:
    return _undefined_results(observables, num_non_finite,
                              target_samples is not None)
  log_z, delta_stderr = [float(v) for v in mcmc.log_mean_exp(log_w)]
  free_energy_bound = Estimate(
      float(-tf.reduce_mean(log_w)),
      float(tf.math.reduce_std(log_w) / math.sqrt(num_samples)))
  ess_fraction = _block_jackknife(
      lambda lw: float(mcmc.importance_ess_fraction(lw)), log_w.numpy())
  acceptance_rate = _block_jackknife(
      np.mean, mcmc.independence_chain_accepted(log_w, seeds[-1]).numpy())
  estimates = {}
  for name in observables:
    estimates[name] = ObservableEstimate(
        *[float(v) for v in mcmc.self_normalized_expectation(log_w,
                                                             values[name])],
        unweighted=float(tf.reduce_mean(values[name])), target_draws=None)
  pareto_k = mcmc.pareto_shape(log_w.numpy())

  def warned(results):
    message = _log_z_warning(num_samples, ess_fraction.value, pareto_k,
                             results.chi_square_divergence)
    if message:
      warnings.warn(message, stacklevel=3)
    return results._replace(pareto_shape=pareto_k, log_z_warning=message)

  if target_samples is None:
    return warned(EvaluationResults(
        free_energy_bound=free_energy_bound,
        log_z=Estimate(log_z, delta_stderr),
        log_z_importance=Estimate(log_z, delta_stderr),
        log_z_importance_delta_stderr=delta_stderr,
        ess_fraction=ess_fraction, acceptance_rate=acceptance_rate,
        chi_square_divergence=None, log_z_upper_bound=None,
        observables=estimates, num_non_finite_log_weights=0,
        pareto_shape=None, log_z_warning=None))

  bridge_log_z, bridge_stderr = mcmc.bridge_log_normalizer(log_w,
                                                           log_w_target)
  relative_weights = tf.math.exp(log_w_target - bridge_log_z)  # w/Z at pi.
  chi_square = float(mcmc.chi_square_divergence(log_w_target, bridge_log_z))
  for name, value in target_values.items():
    estimate = estimates[name]
    spread = tf.reduce_mean(relative_weights * (value - estimate.value)**2)
    estimates[name] = estimate._replace(
        stderr=max(estimate.stderr, math.sqrt(float(spread) / num_samples)),
        target_draws=Estimate(
            float(tf.reduce_mean(value)),
            float(tf.math.reduce_std(value) / math.sqrt(size))))
  return warned(EvaluationResults(
      free_energy_bound=free_energy_bound,
      log_z=Estimate(float(bridge_log_z), float(bridge_stderr)),
      log_z_importance=Estimate(
          log_z, max(delta_stderr, math.sqrt(chi_square / num_samples))),
      log_z_importance_delta_stderr=delta_stderr,
      ess_fraction=ess_fraction, acceptance_rate=acceptance_rate,
      chi_square_divergence=chi_square,
      log_z_upper_bound=float(tf.reduce_mean(log_w_target)),
      observables=estimates, num_non_finite_log_weights=0,
      pareto_shape=None, log_z_warning=None))
