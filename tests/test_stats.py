"""Flow-free statistics: correlation functions and mutual information."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_nrg import stats


def normal(shape, seed):
  return tf.constant(np.random.default_rng(seed).standard_normal(shape))


def correlation_by_loops(fields, max_distance):
  delta = fields - fields.mean(axis=0)
  n, size, _, channels = delta.shape
  result = []
  for r in range(max_distance + 1):
    total = 0.
    for i in range(size):
      for j in range(size):
        total += np.sum(delta[:, i, j] * delta[:, (i - r) % size, j])
        total += np.sum(delta[:, i, j] * delta[:, i, (j - r) % size])
    result.append(total / (2 * n * size * size * channels))
  return np.array(result) / result[0]


def test_correlation_function_matches_its_definition():
  rng = np.random.default_rng(8)
  noise = rng.standard_normal([50, 6, 6, 2])
  fields = noise + 0.7 * np.roll(noise, 1, axis=1) + 0.3
  np.testing.assert_allclose(stats.correlation_function(fields),
                             correlation_by_loops(fields, 3), rtol=1e-12)
  np.testing.assert_allclose(stats.correlation_function(fields[..., 0], 2),
                             correlation_by_loops(fields[..., :1], 2),
                             rtol=1e-12)


def correlated_gaussian(num_samples, seed):
  covariance = np.array([[1., .6, .5, .2], [.6, 1., .3, .4],
                         [.5, .3, 1., .5], [.2, .4, .5, 1.]])
  samples = np.random.default_rng(seed).multivariate_normal(
      np.zeros(4), covariance, size=num_samples)
  log_det = lambda m: np.linalg.slogdet(m)[1]
  exact = 0.5 * (log_det(covariance[:2, :2]) + log_det(covariance[2:, 2:]) -
                 log_det(covariance))
  return samples[:, :2], samples[:, 2:], exact


def test_gaussian_mutual_information_matches_the_closed_form():
  a, b, exact = correlated_gaussian(20000, seed=9)
  # Exact 0.2418 nats; the estimator's standard deviation at n = 20000 is
  # about 0.005.
  assert float(stats.gaussian_mutual_information(a, b)) == pytest.approx(
      exact, abs=0.02)


def test_ksg_mutual_information_agrees_with_the_closed_form():
  a, b, exact = correlated_gaussian(2000, seed=10)
  # KSG (k = 3) at n = 2000 in 2 + 2 dimensions: bias and spread are a few
  # 0.01 nats; tolerance 0.05.
  assert float(stats.ksg_mutual_information(a, b)) == pytest.approx(exact,
                                                                 abs=0.05)
  independent = np.random.default_rng(11).standard_normal([2000, 2])
  assert abs(float(stats.ksg_mutual_information(a, independent))) < 0.05


def test_gaussian_mutual_information_bias_correction():
  # Independent sets of 20 + 20 variables, 200 samples: the plain estimate
  # is ~ p q / (2 n) = 1 nat of spurious information; corrected, ~ 0.
  samples = np.random.default_rng(12).standard_normal([200, 40])
  a, b = samples[:, :20], samples[:, 20:]
  assert float(stats.gaussian_mutual_information(a, b,
                                              bias_corrected=False)) > 0.7
  assert abs(float(stats.gaussian_mutual_information(a, b))) < 0.25


@pytest.mark.parametrize('call,error,match', [
    (lambda: stats.gaussian_mutual_information(normal([5, 2], 0),
                                               normal([5, 3], 1)),
     ValueError, 'more samples'),
    (lambda: stats.ksg_mutual_information(normal([5, 2], 0),
                                          normal([6, 2], 1)),
     ValueError, 'same number'),
    (lambda: stats.correlation_function(normal([5, 4, 3], 0)), ValueError,
     'fields'),
])
def test_rejects_bad_arguments(call, error, match):
  with pytest.raises(error, match=match):
    call()


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
