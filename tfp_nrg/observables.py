"""Ising-model observables from configurations of its continuous dual.

Given `x ~ pi` (the dual), the spins are independent with `E[s_i | x] =
tanh(x_i)`, so Ising expectations follow from dual samples exactly (see
`DualIsing`). These helpers turn a `DualIsing` target and the generic figures
of `tfp_nrg.training.evaluate` into Ising language.

Example:

```python
target = tfp_nrg.DualIsing(8, tfp_nrg.exact.CRITICAL_TEMPERATURE)
metrics = tfp_nrg.training.evaluate(
    model, target.log_prob, 8192, seed=(1, 2),
    observables=tfp_nrg.observables.ising_observables(target))
report = tfp_nrg.observables.ising_report(target, metrics)
report['energy_per_site'], report['exact_energy_per_site']
```
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import mcmc

__all__ = [
    'ising_chain_summary',
    'ising_observables',
    'ising_report',
]


def ising_observables(target):
  """Per-draw Ising observables of dual fields `x`, for `evaluate`.

  Args:
    target: a `DualIsing`.

  Returns:
    `{'energy_per_site': x -> E(x) / N}`, with `E(x)` the improved energy
    estimator `E[H(s) | x]`.
  """
  num_sites = target.num_sites
  return {'energy_per_site': lambda x: target.energy_estimator(x) / num_sites}


def ising_report(target, metrics):
  """Ising-language figures from `evaluate`'s metrics for a `DualIsing` target.

  `ln Z_Ising = ln Z_dual + c` (`c = target.log_z_offset`) and the free energy
  per site `f = -T ln Z_Ising / N`; exact values beside the estimates where
  the target is the 2D ferromagnetic square torus.

  Args:
    target: a `DualIsing`.
    metrics: the `dict` returned by `tfp_nrg.training.evaluate`, with the
      observables of `ising_observables(target)`.

  Returns:
    A `dict` of Python floats: `exact_free_energy` (`-ln Z_dual`, or `None`),
    `relative_error` and `gap_per_site` of the free-energy bound,
    `log_z_dual_estimate(_stderr)`, `log_z_ising_estimate(_stderr)`,
    `free_energy_per_site(_stderr)` (Ising `f`), `energy_per_site(_stderr)`,
    and `exact_...` values (or `None`); `log_z_dual_importance_estimate`
    with `_stderr` and `_delta_stderr`; if `evaluate` had target samples
    (then `ln Z` is the bridge estimate), also `log_z_dual_upper_bound`,
    `chi_square_divergence` and `energy_per_site_target_draws(_stderr)`.
  """
  n, temperature = target.num_sites, target.temperature
  try:
    log_z_dual = target.exact_log_normalizer()
    exact_energy = target.exact_energy_per_site()
  except NotImplementedError:
    log_z_dual = exact_energy = None
  log_z_ising = metrics['log_z_estimate'] + target.log_z_offset
  report = dict(
      free_energy_bound=metrics['free_energy_bound'],
      free_energy_bound_stderr=metrics['free_energy_bound_stderr'],
      log_z_dual_estimate=metrics['log_z_estimate'],
      log_z_dual_estimate_stderr=metrics['log_z_estimate_stderr'],
      log_z_ising_estimate=log_z_ising,
      log_z_ising_estimate_stderr=metrics['log_z_estimate_stderr'],
      free_energy_per_site=-temperature * log_z_ising / n,
      free_energy_per_site_stderr=(temperature *
                                   metrics['log_z_estimate_stderr'] / n),
      energy_per_site=metrics['energy_per_site'],
      energy_per_site_stderr=metrics['energy_per_site_stderr'],
      exact_energy_per_site=exact_energy,
      exact_free_energy=None, relative_error=None, gap_per_site=None,
      exact_log_z_dual=log_z_dual, exact_log_z_ising=None,
      exact_free_energy_per_site=None)
  for key, name in (
      ('log_z_importance_estimate', 'log_z_dual_importance_estimate'),
      ('log_z_importance_estimate_stderr',
       'log_z_dual_importance_estimate_stderr'),
      ('log_z_importance_estimate_delta_stderr',
       'log_z_dual_importance_estimate_delta_stderr'),
      ('log_z_upper_bound', 'log_z_dual_upper_bound'),
      ('chi_square_divergence', 'chi_square_divergence'),
      ('energy_per_site_target_draws', 'energy_per_site_target_draws'),
      ('energy_per_site_target_draws_stderr',
       'energy_per_site_target_draws_stderr')):
    if key in metrics:
      report[name] = metrics[key]
  if log_z_dual is not None:
    exact_free_energy = -log_z_dual
    gap = metrics['free_energy_bound'] - exact_free_energy
    exact_log_z_ising = log_z_dual + target.log_z_offset
    report.update(
        exact_free_energy=exact_free_energy,
        relative_error=gap / abs(exact_free_energy),
        gap_per_site=gap / n,
        exact_log_z_ising=exact_log_z_ising,
        exact_free_energy_per_site=-temperature * exact_log_z_ising / n)
  if not all(math.isfinite(v) for v in report.values() if v is not None):
    raise FloatingPointError('Non-finite figures in the Ising report: '
                             '{}'.format(report))
  return report


def _per_state(target, states, seed):
  """Per-state observables `[steps, chains]` of dual states `x`."""
  spins = target.sample_spins(states, seed)
  axes = list(range(2, states.shape.rank))
  return dict(
      energy=ising_observables(target)['energy_per_site'](states),
      spin_energy=target.ising_energy(spins),
      magnetization=tf.reduce_mean(spins, axis=axes))


def _specific_heat(temperature, n):
  def estimator(v):
    energy = tf.cast(v['spin_energy'], tf.float64)
    return (tf.reduce_mean(energy**2) - tf.reduce_mean(energy)**2) / (
        n * temperature**2)
  return estimator


def _binder(v):
  m2 = tf.reduce_mean(tf.cast(v['magnetization'], tf.float64)**2)
  m4 = tf.reduce_mean(tf.cast(v['magnetization'], tf.float64)**4)
  return 1. - m4 / (3. * m2**2)


def ising_chain_summary(target, states, seed, num_blocks=20):
  """Ising observables with error bars from Markov chains of dual states.

  From chains `x ~ pi` (after burn-in): the energy per site by the improved
  estimator `E[H(s) | x] / N`; and, from spins drawn exactly from
  `p(s | x)`, `<|m|>`, `<m^2>`, the specific heat per site
  `(<H^2> - <H>^2) / (N T^2)` and the Binder cumulant
  `1 - <m^4> / (3 <m^2>^2)`. Means carry autocorrelation-aware errors
  (`mcmc.chain_mean`); the nonlinear ones are jackknifed over blocks of steps.

  Args:
    target: a `DualIsing`.
    states: `Tensor` `[num_steps, num_chains] + event_shape`.
    seed: a stateless seed for the spins.
    num_blocks: Python `int`, jackknife blocks.

  Returns:
    A `dict` of Python floats: `energy_per_site`, `abs_magnetization`,
    `magnetization_squared`, `specific_heat_per_site`, `binder_cumulant`,
    each with `_stderr`; `energy_autocorrelation_time` and
    `energy_potential_scale_reduction` (R-hat across chains);
    `exact_energy_per_site`, `exact_specific_heat_per_site` (or `None`); and
    `energy_z_score`, the energy's deviation from the exact value in units of
    its error (or `None`). Chains that have not equilibrated (a flow that
    under-covers `pi` as a proposal, chains too short to find what it misses)
    show up there: their ESS-based errors are then meaningless.
  """
  states = tf.convert_to_tensor(states, dtype=target.dtype, name='states')
  values = _per_state(target, states, seed)
  n = float(target.num_sites)
  summary = {}
  for name, series in (('energy_per_site', values['energy']),
                       ('abs_magnetization', tf.abs(values['magnetization'])),
                       ('magnetization_squared', values['magnetization']**2)):
    mean, stderr, tau = mcmc.chain_mean(tf.cast(series, tf.float64))
    summary[name] = float(mean)
    summary[name + '_stderr'] = float(stderr)
    if name == 'energy_per_site':
      summary['energy_autocorrelation_time'] = float(tau)
      summary['energy_potential_scale_reduction'] = float(
          tfp.mcmc.potential_scale_reduction(tf.cast(series, tf.float64)))
  for name, estimator in (
      ('specific_heat_per_site', _specific_heat(target.temperature, n)),
      ('binder_cumulant', _binder)):
    estimate, stderr = mcmc.jackknife(estimator, values, num_blocks)
    summary[name] = float(estimate)
    summary[name + '_stderr'] = float(stderr)
  try:
    summary['exact_energy_per_site'] = target.exact_energy_per_site()
    summary['exact_specific_heat_per_site'] = (
        target.exact_specific_heat_per_site())
  except NotImplementedError:
    summary['exact_energy_per_site'] = None
    summary['exact_specific_heat_per_site'] = None
  summary['energy_z_score'] = None
  if summary['exact_energy_per_site'] is not None:
    deviation = (summary['energy_per_site'] -
                 summary['exact_energy_per_site'])
    stderr = summary['energy_per_site_stderr']  # 0 if no chain ever moved.
    summary['energy_z_score'] = (
        deviation / stderr if stderr > 0. else
        math.copysign(math.inf, deviation) if deviation else 0.)
  return summary
