"""Physics observables of the targets: Ising (through its dual) and phi^4.

Given `x ~ pi` (the dual), the spins are independent with `E[s_i | x] =
tanh(x_i)`, so Ising expectations follow from dual samples exactly (see
`DualIsing`). These helpers turn a `DualIsing` target and the generic figures
of `tfp_nrg.evaluation.evaluate` into Ising language. For lattice phi^4
(`targets.Phi4`) they give `<phi^2>`, `<|m|>`, the susceptibility, the Binder
cumulant and the two-point function, with the same chain-aware errors.

Example:

```python
target = tfp_nrg.DualIsing(8, tfp_nrg.exact.CRITICAL_TEMPERATURE)
results = tfp_nrg.evaluation.evaluate(
    model, target.log_prob, 8192, seed=(1, 2),
    observables=tfp_nrg.observables.ising_observables(target))
report = tfp_nrg.observables.ising_report(target, results)
report.energy_per_site.value, report.exact_energy_per_site
```
"""

import collections
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import evaluation
from tfp_nrg import lattice
from tfp_nrg import mcmc

__all__ = [
    'CHAIN_SUMMARY_BLOCKS',
    'IsingReport',
    'ising_chain_summary',
    'ising_observables',
    'ising_report',
    'phi4_chain_summary',
    'phi4_observables',
    'two_point_function',
]

# Jackknife blocks of the chain summaries: chains need at least this many
# kept steps.
CHAIN_SUMMARY_BLOCKS = 20


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


class IsingReport(collections.namedtuple('IsingReport', [
    # The dual's figures (totals over the lattice, nats).
    'free_energy_bound',                # Estimate, F = E_q[ln q - ln pi].
    'log_z_dual_estimate',              # Estimate (bridge or importance).
    'log_z_dual_importance_estimate',   # Estimate, importance alone.
    'log_z_dual_importance_estimate_delta_stderr',
    'log_z_dual_upper_bound',           # E_pi[ln w], or None.
    'chi_square_divergence',            # chi^2(pi || q), or None.
    'kl_target_to_model',               # KL(pi || q) in nats, or None.
    'exact_dual_free_energy',           # F_exact = -ln Z_dual, or None.
    'relative_error',                   # (F - F_exact) / |F_exact|, or None.
    'gap_per_site',                     # (F - F_exact) / N, or None.
    'exact_log_z_dual',
    # The Ising model's figures (ln Z in all; f and E per site).
    'log_z_ising_estimate',             # Estimate.
    'exact_log_z_ising',
    'ising_free_energy_per_site',       # Estimate, f = -T ln Z_Ising / N.
    'exact_ising_free_energy_per_site',
    'energy_per_site',                  # Estimate of <H> / N, reweighted.
    'energy_per_site_unweighted',       # Plain flow average (biased).
    'energy_per_site_target_draws',     # Estimate over pi's draws, or None.
    'exact_energy_per_site',
    # The flow as a proposal.
    'ess_fraction',                     # Estimate.
    'acceptance_rate',                  # Estimate.
    'pareto_shape',                     # Pareto k of the weights' tail.
    'log_z_warning',                    # evaluate's warning, or None.
    'num_non_finite_log_weights',       # > 0: a diverged model, no figures.
])):
  """Ising-language figures of an evaluation; `None` where not known.

  Names say which model a figure is of: `dual` figures are of `pi` (totals,
  in nats), `ising` ones of the spin model (`ln Z` in all, `f` per site);
  the energy is the Ising energy per site. Every number is a Python float.

  `evaluation.flatten(report)` gives the flat `name`, `name_stderr` keys of
  the main job's `metrics.json`.
  """
  __slots__ = ()


def ising_report(target, results):
  """Ising-language figures from `evaluate`'s results for a `DualIsing` target.

  `ln Z_Ising = ln Z_dual + c` (`c = target.log_z_offset`) and the free energy
  per site `f = -T ln Z_Ising / N`; exact values beside the estimates where
  the target is the 2D ferromagnetic square torus.

  Args:
    target: a `DualIsing`.
    results: the `EvaluationResults` of `tfp_nrg.evaluation.evaluate`, with
      the observables of `ising_observables(target)`.

  Returns:
    An `IsingReport`. With target draws in the evaluation, `ln Z` is the
    bridge estimate and the `chi^2`, upper bound, target-draw energy and
    `KL(pi || q) = E_pi[ln w] - ln Z` (from the bridge `ln Z`) are filled in.
    A figure the draws cannot determine (a poor flow: no overlap with the
    target draws, too few effective draws) has an infinite error, and
    `evaluation.non_finite(report)` names it; nothing raises (a diverged
    model's report has `num_non_finite_log_weights > 0` and NaN figures).
  """
  n, temperature = target.num_sites, target.temperature
  try:
    log_z_dual = target.exact_log_normalizer()
    exact_energy = target.exact_energy_per_site()
  except NotImplementedError:
    log_z_dual = exact_energy = None
  log_z = results.log_z
  log_z_ising = evaluation.Estimate(log_z.value + target.log_z_offset,
                                    log_z.stderr)
  energy = results.observables['energy_per_site']
  exact_figures = dict(exact_dual_free_energy=None, relative_error=None,
                       gap_per_site=None, exact_log_z_ising=None,
                       exact_ising_free_energy_per_site=None)
  if log_z_dual is not None:
    gap = results.free_energy_bound.value + log_z_dual
    exact_log_z_ising = log_z_dual + target.log_z_offset
    exact_figures = dict(
        exact_dual_free_energy=-log_z_dual, relative_error=gap / abs(log_z_dual),
        gap_per_site=gap / n, exact_log_z_ising=exact_log_z_ising,
        exact_ising_free_energy_per_site=-temperature * exact_log_z_ising / n)
  report = IsingReport(
      free_energy_bound=results.free_energy_bound,
      log_z_dual_estimate=log_z,
      log_z_dual_importance_estimate=results.log_z_importance,
      log_z_dual_importance_estimate_delta_stderr=(
          results.log_z_importance_delta_stderr),
      log_z_dual_upper_bound=results.log_z_upper_bound,
      chi_square_divergence=results.chi_square_divergence,
      kl_target_to_model=(
          None if results.log_z_upper_bound is None else
          results.log_z_upper_bound - log_z.value),
      log_z_ising_estimate=log_z_ising,
      ising_free_energy_per_site=evaluation.Estimate(
          -temperature * log_z_ising.value / n,
          temperature * log_z.stderr / n),
      energy_per_site=evaluation.Estimate(energy.value, energy.stderr),
      energy_per_site_unweighted=energy.unweighted,
      energy_per_site_target_draws=energy.target_draws,
      ess_fraction=results.ess_fraction,
      acceptance_rate=results.acceptance_rate,
      exact_log_z_dual=log_z_dual, exact_energy_per_site=exact_energy,
      pareto_shape=results.pareto_shape, log_z_warning=results.log_z_warning,
      num_non_finite_log_weights=results.num_non_finite_log_weights,
      **exact_figures)
  return _python_floats(report)


def _python_floats(value):
  """`value` with every numpy or Python float leaf a Python `float`."""
  if isinstance(value, tuple) and hasattr(value, '_fields'):
    return type(value)(*[_python_floats(v) for v in value])
  if isinstance(value, (float, np.floating)):
    return float(value)
  return value


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


def _z_score(value, stderr, exact):
  """`(value - exact) / stderr`; +-inf for chains that never moved."""
  if exact is None:
    return None
  deviation = value - exact
  if stderr > 0.:
    return deviation / stderr
  return math.copysign(math.inf, deviation) if deviation else 0.


def ising_chain_summary(target, states, seed,
                        num_blocks=CHAIN_SUMMARY_BLOCKS):
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
    each with `_stderr`, the first three with `_autocorrelation_time`
    (integrated, in steps); `energy_autocorrelation_time` (the same as
    `energy_per_site_autocorrelation_time`) and
    `energy_potential_scale_reduction` (R-hat across chains);
    `exact_energy_per_site`, `exact_specific_heat_per_site` (or `None`); and
    `energy_z_score` and `specific_heat_z_score`, the deviations from the
    exact values in units of their errors (or `None`). Chains that have not
    equilibrated (a flow that under-covers `pi` as a proposal, chains too
    short to find what it misses) show up there: their ESS-based errors are
    then meaningless.
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
    summary[name + '_autocorrelation_time'] = float(tau)
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
  for name, key in (('energy_per_site', 'energy_z_score'),
                    ('specific_heat_per_site', 'specific_heat_z_score')):
    summary[key] = _z_score(summary[name], summary[name + '_stderr'],
                            summary['exact_' + name])
  return summary


def phi4_observables(target):
  """Per-draw phi^4 observables of fields `phi`, for `evaluate`.

  Args:
    target: a `targets.Phi4`.

  Returns:
    `{'phi2': <phi_x^2> over sites, 'abs_magnetization': |m|,
    'magnetization_squared': m^2}`, `m` the field's mean.
  """
  return {
      'phi2': lambda phi: tf.reduce_mean(phi * phi, axis=[-2, -1]),
      'abs_magnetization': lambda phi: tf.abs(target.magnetization(phi)),
      'magnetization_squared': lambda phi: target.magnetization(phi)**2,
  }


def two_point_function(phi, max_distance=None):
  """Per-field two-point function along the axes of the torus.

  ```none
  G(r) = 1/N sum_x phi_x (phi_{x + r e_1} + phi_{x + r e_2}) / 2
  ```

  Its average over draws is `<phi_0 phi_r>` (connected when `<phi> = 0`, as
  in the Z2-symmetric phase and on a finite lattice).

  Args:
    phi: `Tensor` `batch_shape + [L, L]`.
    max_distance: Python `int`; default `L // 2`.

  Returns:
    `Tensor` `batch_shape + [max_distance + 1]`.
  """
  phi = tf.convert_to_tensor(phi, name='phi')
  if phi.shape.rank is None or phi.shape.rank < 2:
    raise ValueError('`phi` must have shape [..., L, L]; got {}.'.format(
        phi.shape))
  size = phi.shape[-1]
  max_distance = size // 2 if max_distance is None else max_distance
  return tf.stack([
      0.5 * tf.reduce_mean(phi * (lattice.roll(phi, r, -2) +
                                  lattice.roll(phi, r, -1)), axis=[-2, -1])
      for r in range(max_distance + 1)], axis=-1)


def phi4_chain_summary(target, states, num_blocks=CHAIN_SUMMARY_BLOCKS):
  """phi^4 observables with error bars from Markov chains of fields.

  Means carry autocorrelation-aware errors (`mcmc.chain_mean`); the Binder
  cumulant `U = 1 - <m^4> / (3 <m^2>^2)` is jackknifed over blocks of steps.

  Args:
    target: a `targets.Phi4`.
    states: `Tensor` `[num_steps, num_chains, L, L]`, after burn-in.
    num_blocks: Python `int`, jackknife blocks.

  Returns:
    A `dict` of Python floats: `phi2` (`<phi_x^2>`), `abs_magnetization`
    (`<|m|>`), `susceptibility` (`chi = N <m^2>`), each with `_stderr` and
    `_autocorrelation_time` (integrated, in steps); `binder_cumulant` and its
    `_stderr`; `phi2_potential_scale_reduction`, R-hat of `phi^2` across
    chains (near 1 when they agree; far above it when some chain is stuck,
    e.g. HMC started from noise, whose large fields make its step unstable so
    that it rejects every move; NaN for one chain); and the lists `two_point`
    and `two_point_stderr`, `G(r)` for `r = 0 .. L/2`.
  """
  states = tf.cast(tf.convert_to_tensor(states, name='states'), tf.float64)
  if states.shape.rank != 4:
    raise ValueError('`states` must have shape [steps, chains, L, L]; got '
                     '{}.'.format(states.shape))
  magnetization = target.magnetization(states)
  phi2 = tf.reduce_mean(states * states, axis=[-2, -1])
  summary = {}
  for name, series in (
      ('phi2', phi2),
      ('abs_magnetization', tf.abs(magnetization)),
      ('susceptibility', target.num_sites * magnetization**2)):
    mean, stderr, tau = mcmc.chain_mean(series)
    summary[name] = float(mean)
    summary[name + '_stderr'] = float(stderr)
    summary[name + '_autocorrelation_time'] = float(tau)
  summary['phi2_potential_scale_reduction'] = float(
      tfp.mcmc.potential_scale_reduction(phi2))
  estimate, stderr = mcmc.jackknife(_binder, {'magnetization': magnetization},
                                    num_blocks)
  summary['binder_cumulant'] = float(estimate)
  summary['binder_cumulant_stderr'] = float(stderr)
  two_point = two_point_function(states)
  estimates = [mcmc.chain_mean(two_point[..., r])
               for r in range(two_point.shape[-1])]
  summary['two_point'] = [float(e[0]) for e in estimates]
  summary['two_point_stderr'] = [float(e[1]) for e in estimates]
  return summary
