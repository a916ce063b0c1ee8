"""Evaluation: importance and bridge sampling, honest errors, flat reports."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import evaluation


def test_evaluate_with_target_samples_has_honest_errors():
  # q = N(0, 1)^4 against pi~ = e^3 N(0.5, 1.3^2)^4: heavy-tailed weights,
  # chi^2(pi || q) = 90.7 exactly. The target's own draws give the bridge
  # estimate of ln Z, the sandwich -F <= ln Z <= E_pi[ln w], and larger,
  # honest importance-sampling errors.
  tfd = tfp.distributions
  model = tfd.Sample(tfd.Normal(tf.constant(0., tf.float64), 1.), 4)
  target = tfd.Sample(tfd.Normal(tf.constant(0.5, tf.float64), 1.3), 4)
  log_prob = lambda x: 3. + target.log_prob(x)
  observables = {'mean': lambda x: tf.reduce_mean(x, axis=-1)}
  plain = evaluation.evaluate(model, log_prob, 4000, seed=(3, 4),
                              observables=observables, jit_compile=False)
  results = evaluation.evaluate(model, log_prob, 4000, seed=(3, 4),
                                observables=observables, jit_compile=False,
                                target_samples=target.sample(4000,
                                                             seed=(1, 2)))
  assert plain.log_z.value == results.log_z_importance.value
  assert plain.chi_square_divergence is None
  assert abs(results.log_z.value - 3.) < 4. * results.log_z.stderr
  assert results.log_z.stderr < 0.03
  assert results.log_z_upper_bound > 3. > -results.free_energy_bound.value
  assert results.log_z_importance.stderr > 1.5 * (
      results.log_z_importance_delta_stderr)
  assert 30. < results.chi_square_divergence < 300.
  mean = results.observables['mean']
  assert mean.stderr > plain.observables['mean'].stderr
  assert abs(mean.target_draws.value - 0.5) < 4. * mean.target_draws.stderr
  with pytest.raises(ValueError, match='target_samples'):
    evaluation.evaluate(model, log_prob, 100, seed=(3, 4),
                        target_samples=tf.zeros([10, 3], tf.float64))


def test_acceptance_and_ess_errors_match_their_spread_over_seeds():
  # Twelve independent evaluations: the reported (jackknifed) errors of the
  # acceptance and of the ESS fraction are their spread, within the factor
  # the spread of 12 values is known to (about +-20%, here a band of 2x).
  tfd = tfp.distributions
  model = tfd.Sample(tfd.Normal(tf.constant(0., tf.float64), 1.3), 2)
  target = tfd.Sample(tfd.Normal(tf.constant(0.3, tf.float64), 1.), 2)
  results = [evaluation.evaluate(model, target.log_prob, 2000, seed=(i, 9),
                                 jit_compile=False) for i in range(12)]
  for name in ('acceptance_rate', 'ess_fraction'):
    values = np.array([getattr(r, name).value for r in results])
    stderrs = np.array([getattr(r, name).stderr for r in results])
    assert 0.5 < np.std(values, ddof=1) / np.mean(stderrs) < 2., name
    assert 0.3 < np.mean(values) < 0.95, name


@pytest.mark.parametrize('where', ['model_draws', 'target_draws'])
def test_a_diverged_model_is_reported_not_raised(where):
  # ln pi is NaN (a diverged model would give NaN ln q) wherever x_0 > 2.5:
  # a few of q's draws, or only some target draws.
  tfd = tfp.distributions
  model = tfd.Sample(tfd.Normal(tf.constant(0., tf.float64), 1.), 3)
  cut = 2.5 if where == 'model_draws' else 100.
  def log_prob(x):
    return tf.where(x[..., 0] > cut, tf.constant(float('nan'), tf.float64),
                    model.log_prob(x))
  target_samples = model.sample(500, seed=(5, 6))
  if where == 'target_draws':
    target_samples = tf.tensor_scatter_nd_update(
        target_samples, [[7, 0]], tf.constant([101.], tf.float64))
  progress = []
  results = evaluation.evaluate(
      model, log_prob, 2000, seed=(3, 4), batch_size=500,
      observables={'mean': lambda x: tf.reduce_mean(x, axis=-1)},
      jit_compile=False, target_samples=target_samples,
      progress=lambda done, total: progress.append((done, total)))
  assert progress == [(500, 2000), (1000, 2000), (1500, 2000), (2000, 2000)]
  if where == 'target_draws':
    assert results.num_non_finite_log_weights == 1
  else:  # About 0.6% of the 2500 draws.
    assert 3 < results.num_non_finite_log_weights < 40
  assert math.isnan(results.free_energy_bound.value)
  assert results.log_z.stderr == math.inf
  assert results.observables['mean'].stderr == math.inf
  assert 'free_energy_bound' in evaluation.non_finite(results)
  assert 'mean_target_draws' in evaluation.non_finite(results)


def test_flatten_gives_the_report_keys():
  results = evaluation.EvaluationResults(
      free_energy_bound=evaluation.Estimate(-1., 0.1),
      log_z=evaluation.Estimate(2., 0.2),
      log_z_importance=evaluation.Estimate(3., 0.3),
      log_z_importance_delta_stderr=0.03,
      ess_fraction=evaluation.Estimate(0.5, 0.05),
      acceptance_rate=evaluation.Estimate(0.6, 0.06),
      chi_square_divergence=None, log_z_upper_bound=None,
      observables={'e': evaluation.ObservableEstimate(
          4., 0.4, unweighted=5., target_draws=evaluation.Estimate(6., 0.6))},
      num_non_finite_log_weights=0, pareto_shape=0.3, log_z_warning=None)
  assert evaluation.flatten(results) == {
      'free_energy_bound': -1., 'free_energy_bound_stderr': 0.1,
      'log_z': 2., 'log_z_stderr': 0.2, 'log_z_importance': 3.,
      'log_z_importance_stderr': 0.3, 'log_z_importance_delta_stderr': 0.03,
      'ess_fraction': 0.5, 'ess_fraction_stderr': 0.05,
      'acceptance_rate': 0.6, 'acceptance_rate_stderr': 0.06,
      'chi_square_divergence': None, 'log_z_upper_bound': None,
      'e': 4., 'e_stderr': 0.4, 'e_unweighted': 5., 'e_target_draws': 6.,
      'e_target_draws_stderr': 0.6, 'num_non_finite_log_weights': 0,
      'pareto_shape': 0.3, 'log_z_warning': None}
  assert evaluation.flatten({'x': evaluation.Estimate(1., 2.)}, 'p_') == {
      'p_x': 1., 'p_x_stderr': 2.}


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
