"""Evaluation: importance and bridge sampling, honest errors, flat reports."""

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


def test_flatten_gives_the_report_keys():
  results = evaluation.EvaluationResults(
      free_energy_bound=evaluation.Estimate(-1., 0.1),
      log_z=evaluation.Estimate(2., 0.2),
      log_z_importance=evaluation.Estimate(3., 0.3),
      log_z_importance_delta_stderr=0.03, ess_fraction=0.5,
      acceptance_rate=0.6, chi_square_divergence=None, log_z_upper_bound=None,
      observables={'e': evaluation.ObservableEstimate(
          4., 0.4, unweighted=5., target_draws=evaluation.Estimate(6., 0.6))})
  assert evaluation.flatten(results) == {
      'free_energy_bound': -1., 'free_energy_bound_stderr': 0.1,
      'log_z': 2., 'log_z_stderr': 0.2, 'log_z_importance': 3.,
      'log_z_importance_stderr': 0.3, 'log_z_importance_delta_stderr': 0.03,
      'ess_fraction': 0.5, 'acceptance_rate': 0.6,
      'chi_square_divergence': None, 'log_z_upper_bound': None,
      'e': 4., 'e_stderr': 0.4, 'e_unweighted': 5., 'e_target_draws': 6.,
      'e_target_draws_stderr': 0.6}
  assert evaluation.flatten({'x': evaluation.Estimate(1., 2.)}, 'p_') == {
      'p_x': 1., 'p_x_stderr': 2.}


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
