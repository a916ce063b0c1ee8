"""Phi4: the action against NumPy, the free field's ln Z, observables."""

import math

import numpy as np
import pytest
import tensorflow as tf

import tfp_nrg


def numpy_action(phi, m2, lam):
  """S = sum_x [m2 phi^2 + lam phi^4 + sum_mu (phi_{x+mu} - phi_x)^2]."""
  kinetic = sum((np.roll(phi, -1, axis=axis) - phi)**2 for axis in (-2, -1))
  return np.sum(m2 * phi**2 + lam * phi**4 + kinetic, axis=(-2, -1))


def dense_free_field_matrix(size, m2):
  """`A` with `S(phi) = phi^T A phi` for lam = 0, by shift matrices."""
  n = size * size
  index = np.arange(n).reshape(size, size)
  a = m2 * np.eye(n)
  for axis in (0, 1):
    shift = np.zeros((n, n))
    shift[index.ravel(), np.roll(index, -1, axis=axis).ravel()] = 1.
    difference = shift - np.eye(n)
    a += difference.T @ difference
  return a


def test_log_prob_matches_an_independent_action(in_regime):
  target = tfp_nrg.Phi4(6, m2=-4., lam=6.975, dtype=tf.float64)
  phi = np.random.default_rng(0).standard_normal([2, 3, 6, 6])
  log_prob = in_regime(target.log_prob, tf.constant(phi))
  assert log_prob.shape == [2, 3]
  np.testing.assert_allclose(log_prob, -numpy_action(phi, -4., 6.975),
                             rtol=1e-12)


def test_gradient_matches_finite_differences():
  target = tfp_nrg.Phi4(4, m2=-1., lam=0.5, dtype=tf.float64)
  phi = tf.constant(np.random.default_rng(1).standard_normal([4, 4]))
  with tf.GradientTape() as tape:
    tape.watch(phi)
    log_prob = target.log_prob(phi)
  gradient = tape.gradient(log_prob, phi).numpy()
  eps = 1e-6
  for i, j in [(0, 0), (1, 3), (3, 2)]:
    step = np.zeros([4, 4])
    step[i, j] = eps
    numeric = (numpy_action(phi.numpy() - step, -1., 0.5) -
               numpy_action(phi.numpy() + step, -1., 0.5)) / (2. * eps)
    assert gradient[i, j] == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize('m2', [0.5, 2.])
def test_free_field_log_z_matches_dense_gaussian_integration(m2):
  a = dense_free_field_matrix(4, m2)
  phi = np.random.default_rng(2).standard_normal(16)
  # The dense matrix is the action's quadratic form.
  assert phi @ a @ phi == pytest.approx(
      numpy_action(phi.reshape(4, 4), m2, 0.), rel=1e-12)
  # int exp(-phi^T A phi) dphi = pi^(N/2) det(A)^(-1/2).
  expected = 8. * math.log(math.pi) - 0.5 * np.linalg.slogdet(a)[1]
  target = tfp_nrg.Phi4(4, m2=m2, lam=0., dtype=tf.float64)
  assert target.exact_log_normalizer() == pytest.approx(expected, rel=1e-12)


def test_observables_of_free_field_draws_match_their_exact_moments():
  size, m2 = 8, 0.3
  target = tfp_nrg.Phi4(size, m2=m2, lam=0., dtype=tf.float64)
  covariance = np.linalg.inv(2. * dense_free_field_matrix(size, m2))
  rng = np.random.default_rng(3)
  draws = rng.standard_normal([400, 16, size * size]) @ np.linalg.cholesky(
      covariance).T
  summary = tfp_nrg.observables.phi4_chain_summary(
      target, draws.reshape(400, 16, size, size))
  n = size * size
  variance_m = covariance.sum() / n**2
  exact = dict(phi2=np.trace(covariance) / n,
               abs_magnetization=math.sqrt(2. * variance_m / math.pi),
               susceptibility=n * variance_m, binder_cumulant=0.)
  for name, value in exact.items():
    assert abs(summary[name] - value) < 4. * summary[name + '_stderr'], name
  assert summary['susceptibility'] == pytest.approx(1. / (2. * m2), rel=0.1)
  two_point = [np.mean([covariance[0, r], covariance[0, r * size]])
               for r in range(size // 2 + 1)]
  for r, value in enumerate(two_point):
    # Translation invariance: <phi_0 phi_r> is the covariance's first row.
    assert abs(summary['two_point'][r] - value) < 4. * (
        summary['two_point_stderr'][r]), r
  assert summary['phi2_autocorrelation_time'] < 1.5  # Independent draws.
  assert summary['phi2_potential_scale_reduction'] < 1.05
  # One chain stuck at a field of twice the typical size: R-hat exposes it.
  stuck = draws.reshape(400, 16, size, size).copy()
  stuck[:, 0] = 2. * stuck[0, 0]
  assert tfp_nrg.observables.phi4_chain_summary(target, stuck)[
      'phi2_potential_scale_reduction'] > 1.2
  per_draw = tfp_nrg.observables.phi4_observables(target)
  np.testing.assert_allclose(per_draw['phi2'](draws[0].reshape(16, 8, 8)),
                             np.mean(draws[0]**2, axis=-1))


def test_non_finite_fields_with_validate_args():
  target = tfp_nrg.Phi4(4, m2=1., lam=1., validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match='`phi` must be'):
    target.log_prob(tf.constant(np.full([4, 4], np.nan, np.float32)))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(lam=-0.1), ValueError, 'lam'),
    (dict(lam=0., m2=0.), ValueError, 'm2'),
    (dict(lam=0., m2=-1.), ValueError, 'm2'),
    (dict(lattice_size=3), ValueError, 'lattice_size'),
    (dict(lattice_size=8.), TypeError, 'lattice_size'),
    (dict(m2=float('nan')), ValueError, 'm2'),
    (dict(lam=float('inf')), ValueError, 'lam'),
    (dict(m2='1'), TypeError, 'm2'),
    (dict(dtype=tf.int32), TypeError, 'dtype'),
])
def test_rejects_bad_arguments(kwargs, error, match):
  arguments = dict(lattice_size=8, m2=-4., lam=5.)
  arguments.update(kwargs)
  with pytest.raises(error, match=match):
    tfp_nrg.Phi4(**arguments)


def test_rejects_bad_fields_and_the_interacting_normalizer():
  target = tfp_nrg.Phi4(8, m2=-4., lam=5.)
  with pytest.raises(NotImplementedError, match='lam'):
    target.exact_log_normalizer()
  with pytest.raises(ValueError, match=r'`phi` must have shape \[\.\.\., 8, 8'):
    target.log_prob(tf.zeros([3, 8, 4]))
  with pytest.raises(TypeError, match='`phi` must have dtype float32'):
    target.log_prob(tf.zeros([8, 8], tf.float64))


def test_batch_parameters_match_the_single_theories():
  """m2 and lam as arrays broadcast to a batch of theories: each slice of
  `log_prob` and the free field's ln Z are those of its own `Phi4`."""
  m2, lam = np.array([[0.5], [1.5]]), np.array([0., 0., 0.])
  batch = tfp_nrg.targets.Phi4(4, m2=m2, lam=tf.constant(lam),
                               dtype=tf.float64)
  assert batch.batch_shape == [2, 3]
  phi = tf.random.stateless_normal([5, 2, 3, 4, 4], seed=(1, 2),
                                   dtype=tf.float64)
  log_z = batch.exact_log_normalizer()
  for i, j in np.ndindex(2, 3):
    single = tfp_nrg.targets.Phi4(4, m2=m2[i, 0], lam=lam[j],
                                  dtype=tf.float64)
    np.testing.assert_allclose(batch.log_prob(phi)[:, i, j],
                               single.log_prob(phi[:, i, j]), rtol=1e-12)
    assert log_z[i, j] == pytest.approx(single.exact_log_normalizer(),
                                        rel=1e-12)
  interacting = tfp_nrg.targets.Phi4(4, m2=-4., lam=[4.5, 4.572])
  assert interacting.log_prob(tf.ones([2, 4, 4])).numpy() == pytest.approx(
      [-16. * 0.5, -16. * 0.572], rel=1e-5)
  with pytest.raises(ValueError, match='lam'):
    tfp_nrg.targets.Phi4(4, m2=1., lam=[1., -1.])
  with pytest.raises(TypeError, match='m2'):
    tf.function(lambda m: tfp_nrg.targets.Phi4(4, m2=m, lam=1.))(
        tf.constant(1.))


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
