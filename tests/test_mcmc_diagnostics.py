"""Importance-sampling estimators against NumPy and known answers."""

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


def test_ess_fraction_extremes():
  assert float(mcmc.importance_ess_fraction(tf.fill([100], 3.))) == (
      pytest.approx(1.))
  lopsided = tf.constant([0.] + [-1e3] * 99, tf.float64)
  assert float(mcmc.importance_ess_fraction(lopsided)) == pytest.approx(0.01)


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


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
