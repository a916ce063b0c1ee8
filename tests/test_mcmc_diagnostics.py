"""Importance-sampling estimators against NumPy and known answers."""

import logging
import math

import numpy as np
import pytest
import tensorflow as tf

from tfp_nrg import mcmc


def test_log_mean_exp_matches_numpy_and_delta_method():
  log_w = np.random.default_rng(0).normal(500., 1.5, size=4000)
  estimate, stderr = mcmc.log_mean_exp(tf.constant(log_w))
  w = np.exp(log_w - 500.)
  np.testing.assert_allclose(estimate, 500. + np.log(w.mean()), rtol=1e-13)
  np.testing.assert_allclose(stderr, w.std() / (math.sqrt(w.size) * w.mean()),
                             rtol=1e-10)
  # Exact: ln E[exp(N(mu, s^2))] = mu + s^2 / 2; within 4 standard errors.
  assert abs(float(estimate) - (500. + 1.5**2 / 2.)) < 4. * float(stderr)


def gaussian_log_weights(num_q, num_pi, seed, dim=4, mu=0.5, sigma=1.3,
                         log_c=3.):
  """ln w = ln pi~ - ln q for q = N(0, I), pi~ = e^log_c N(mu, sigma^2 I)."""
  rng = np.random.default_rng(seed)

  def log_w(x):
    log_pi = (log_c - 0.5 * np.sum(((x - mu) / sigma)**2, -1) -
              dim * math.log(sigma))
    return log_pi + 0.5 * np.sum(x**2, -1)

  return (log_w(rng.standard_normal([num_q, dim])),
          log_w(mu + sigma * rng.standard_normal([num_pi, dim])))


def test_bridge_log_normalizer_is_accurate_with_honest_errors():
  # Heavy-tailed weights (sigma^2 = 1.69 of q's 1): over 60 repetitions with
  # 500 + 500 draws the bridge estimates scatter as their reported error says
  # (ratio within [0.75, 1.33]) around the exact ln Z = 3.
  bridge = tf.function(mcmc.bridge_log_normalizer)
  results = np.array([[float(v) for v in bridge(*gaussian_log_weights(
      500, 500, seed))] for seed in range(60)])
  estimates, stderrs = results[:, 0], results[:, 1]
  assert abs(estimates.mean() - 3.) < 4. * estimates.std() / math.sqrt(60)
  assert 0.75 < estimates.std() / stderrs.mean() < 1.33
  single, stderr = mcmc.bridge_log_normalizer(*gaussian_log_weights(
      20000, 20000, 99))
  assert abs(float(single) - 3.) < 4. * float(stderr) and float(stderr) < 0.01


def test_chi_square_divergence_matches_the_closed_form():
  # chi^2(pi || q) + 1 = prod_d int N(x; mu, s^2)^2 / N(x; 0, 1) dx, which for
  # s^2 < 2 is exp(mu^2 / (2 - s^2)) / (s sqrt(2 - s^2)) per dimension.
  dim, mu, sigma = 2, 0.3, 1.1
  per_dim = (math.exp(mu**2 / (2. - sigma**2)) /
             (sigma * math.sqrt(2. - sigma**2)))
  exact = per_dim**dim - 1.
  _, log_w_pi = gaussian_log_weights(1, 200000, 7, dim=dim, mu=mu,
                                     sigma=sigma, log_c=0.)
  estimate = float(mcmc.chi_square_divergence(log_w_pi, 0.))
  assert estimate == pytest.approx(exact, rel=0.05)
  assert float(mcmc.chi_square_divergence(tf.zeros([10], tf.float64),
                                          0.)) == 0.


def test_ess_fraction_extremes():
  assert float(mcmc.importance_ess_fraction(tf.fill([100], 3.))) == (
      pytest.approx(1.))
  lopsided = tf.constant([0.] + [-1e3] * 99, tf.float64)
  assert float(mcmc.importance_ess_fraction(lopsided)) == pytest.approx(0.01)


def test_bridge_reports_an_infinite_error_without_overlap_or_convergence():
  """The L = 16 failure of a 2-step flow: ln w of q's draws at 281-399,
  of pi's at 1427-2265. The old code returned a NaN error."""
  rng = np.random.default_rng(5)
  log_w_q = tf.constant(rng.uniform(281., 399., 256))
  log_w_p = tf.constant(rng.uniform(1427., 2265., 32))
  log_z, stderr = mcmc.bridge_log_normalizer(log_w_q, log_w_p)
  assert np.isinf(stderr) and np.isfinite(log_z)
  # Overlapping but stopped after one iteration: not converged, not trusted.
  log_w_q = tf.constant(rng.normal(0., 3., 2000))
  log_w_p = tf.constant(rng.normal(4., 3., 2000))
  _, stderr = mcmc.bridge_log_normalizer(log_w_q, log_w_p, num_iterations=1)
  assert np.isinf(stderr)
  _, stderr = mcmc.bridge_log_normalizer(log_w_q, log_w_p)
  assert 0. < stderr < 1.


def test_importance_errors_are_infinite_when_one_draw_dominates():
  log_w = tf.constant(np.r_[np.zeros(999), 50.])
  values = tf.constant(np.r_[np.ones(999), -1.])
  _, stderr = mcmc.log_mean_exp(log_w)
  assert np.isinf(stderr)
  estimate, stderr = mcmc.self_normalized_expectation(log_w, values)
  assert float(estimate) == pytest.approx(-1.) and np.isinf(stderr)
  # Ten equal heavy draws are enough for an error estimate.
  log_w = tf.constant(np.r_[np.zeros(990), np.full(10, 50.)])
  assert np.isfinite(mcmc.log_mean_exp(log_w)[1])


def test_self_normalized_expectation_recovers_shifted_gaussian():
  # Draws from N(0, 1), target N(1, 1) unnormalized: E[x] = 1.
  x = tf.random.stateless_normal([20000], seed=(1, 2), dtype=tf.float64)
  log_w = -0.5 * (x - 1.)**2 + 0.5 * x**2 + 7.
  estimate, stderr = mcmc.self_normalized_expectation(log_w, x)
  assert abs(float(estimate) - 1.) < 4. * float(stderr)
  assert 0. < float(stderr) < 0.05


def test_independence_chain_acceptance_extremes():
  increasing = tf.range(50, dtype=tf.float64) * 100.
  assert float(mcmc.independence_chain_acceptance(increasing, (1, 2))) == 1.
  assert float(mcmc.independence_chain_acceptance(-increasing, (1, 2))) == 0.
  # Equal weights: every proposal is accepted.
  assert float(mcmc.independence_chain_acceptance(tf.zeros([10]), (3, 4))) == 1.


def test_independence_chain_acceptance_matches_kernel_rate():
  """Walking i.i.d. draws equals the IndependenceMetropolis acceptance.

  Target N(0, 1), proposal N(0, 2^2): the stationary acceptance is
  E[min(1, w(x')/w(x))] with x ~ pi, x' ~ q, computed here by Monte Carlo on
  4e6 pairs (error ~3e-4); tolerance 0.01 over 40000 chain steps.
  """
  rng = np.random.default_rng(5)
  x = rng.standard_normal(4_000_000)
  x_new = 2. * rng.standard_normal(4_000_000)
  def log_w(v):
    return -0.5 * v**2 + 0.5 * (v / 2.)**2
  expected = np.mean(np.minimum(1., np.exp(log_w(x_new) - log_w(x))))
  draws = 2. * tf.random.stateless_normal([40000], seed=(6, 7),
                                          dtype=tf.float64)
  rate = mcmc.independence_chain_acceptance(log_w(draws), seed=(8, 9))
  assert abs(float(rate) - expected) < 0.01


def test_rejects_non_vector_log_weights():
  with pytest.raises(ValueError, match='log_weights'):
    mcmc.log_mean_exp(tf.zeros([3, 4]))


def test_chain_mean_does_not_warn_of_tfp_complex_cast():
  """TFP's FFT autocorrelation casts complex to real on purpose; chain_mean
  hides TensorFlow's warning on it, and only while it runs."""
  records = []

  class Collect(logging.Handler):

    def emit(self, record):
      records.append(record.getMessage())

  handler = Collect()
  tf.get_logger().addHandler(handler)
  try:
    values = tf.random.stateless_normal([50, 3], seed=(1, 2))
    mcmc.chain_mean(values)
    tf.function(mcmc.chain_mean)(values)
    assert not [r for r in records if 'casting' in r]
    tf.cast(tf.complex(1., 2.), tf.float32)   # The user's own cast warns.
    assert [r for r in records if 'casting' in r]
  finally:
    tf.get_logger().removeHandler(handler)


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
