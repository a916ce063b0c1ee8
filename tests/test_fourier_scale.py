"""`FourierScale` and flows that end with it: exact maps, the free field."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
import tfp_nrg
from tfp_nrg import bijectors

tfd = tfp.distributions


def random_scale(size, dtype=tf.float64, seed=0):
  scale = bijectors.FourierScale(size, dtype=dtype)
  helpers.randomize_variables(scale, scale=0.5, seed=seed)
  return scale


def free_field_log_spectrum(size, m2):
  """`ln C_k^{1/2}` of the free field, `C = (2 (m2 + (-Lap)))^{-1}`."""
  k = 2. * np.pi * np.fft.fftfreq(size)
  laplacian = 4. - 2. * np.cos(k)[:, None] - 2. * np.cos(k)[None, :]
  return -0.5 * np.log(2. * (m2 + laplacian))


@pytest.mark.parametrize('dtype,tol', [(tf.float32, 1e-5), (tf.float64, 1e-12)])
def test_bijective_with_log_det_of_the_dense_jacobian(dtype, tol, in_regime):
  scale = random_scale(6, dtype)
  u = tf.constant(np.random.default_rng(0).standard_normal([3, 6, 6]), dtype)
  x = in_regime(scale.forward, u)
  assert np.max(np.abs(x - u)) > 0.1
  np.testing.assert_allclose(in_regime(scale.inverse, x), u, atol=tol, rtol=0.)
  expected, jacobian = helpers.dense_jacobian_log_det(
      scale.forward, tf.cast(u, tf.float64) if dtype == tf.float64 else u)
  fldj = in_regime(lambda v: scale.forward_log_det_jacobian(v, 2), u)
  np.testing.assert_allclose(fldj, expected, rtol=0., atol=100 * tol)
  np.testing.assert_allclose(
      in_regime(lambda v: scale.inverse_log_det_jacobian(v, 2), x), -fldj,
      rtol=0., atol=100 * tol)
  # A real symmetric matrix: the even spectrum makes the kernel symmetric.
  np.testing.assert_allclose(jacobian[0], np.transpose(jacobian[0]),
                             atol=tol, rtol=0.)


def test_commutes_with_translations_and_is_odd():
  scale = random_scale(8, seed=1)
  u = tf.random.stateless_normal([2, 8, 8], seed=(1, 2), dtype=tf.float64)
  shifted = tfp_nrg.lattice.roll(u, shift=[3, 5], axis=[-2, -1])
  np.testing.assert_allclose(
      scale.forward(shifted),
      tfp_nrg.lattice.roll(scale.forward(u), shift=[3, 5], axis=[-2, -1]),
      atol=1e-12)
  np.testing.assert_allclose(scale.forward(-u), -scale.forward(u), atol=1e-12)


def test_log_spectrum_is_even_and_starts_at_zero():
  np.testing.assert_array_equal(bijectors.FourierScale(4).log_spectrum,
                                np.zeros([4, 4]))
  s = random_scale(8, seed=2).log_spectrum.numpy()
  reflected = s[(-np.arange(8)) % 8][:, (-np.arange(8)) % 8]
  np.testing.assert_allclose(s, reflected, atol=1e-15)
  assert np.std(s) > 0.1


@pytest.mark.parametrize('size', [4, 6])
def test_the_free_field_spectrum_gives_the_free_field_exactly(size):
  target = tfp_nrg.Phi4(size, m2=0.5, lam=0., dtype=tf.float64)
  scale = bijectors.FourierScale(
      size, initial_log_spectrum=free_field_log_spectrum(size, 0.5),
      dtype=tf.float64)
  model = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(np.float64(0.), 1.), [size, size]), scale)
  x = tf.random.stateless_normal([5, size, size], seed=(3, 4),
                                 dtype=tf.float64)
  np.testing.assert_allclose(
      model.log_prob(x) - target.log_prob(x),
      -target.exact_log_normalizer() * np.ones(5), atol=1e-10, rtol=0.)


def test_training_learns_the_free_field_spectrum():
  size, m2 = 4, 0.5
  target = tfp_nrg.Phi4(size, m2=m2, lam=0., dtype=tf.float64)
  scale = bijectors.FourierScale(size, dtype=tf.float64)
  model = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(np.float64(0.), 1.), [size, size]), scale)
  trainer = tfp_nrg.training.Trainer(
      model, target.log_prob, batch_size=256,
      learning_rate=tf.keras.optimizers.schedules.CosineDecay(0.05, 300),
      jit_compile=False, seed=3,
      exact_log_normalizer=target.exact_log_normalizer())
  trainer.fit(num_steps=300, log_every=0)
  # Tolerance: at the optimum the reparameterized gradient is noisy, and
  # Adam's steps shrink only with the decaying learning rate.
  np.testing.assert_allclose(scale.log_spectrum,
                             free_field_log_spectrum(size, m2), atol=0.03)


@pytest.mark.parametrize('name', ['mera', 'tebd', 'tree'])
def test_flows_with_it_have_exact_log_dets(name, in_regime):
  flow = helpers.architectures()[name](4, dtype=tf.float64, seed=1,
                                       fourier_scale=True)
  helpers.randomize_variables(flow, scale=0.4, seed=1)
  assert np.std(flow.fourier_scale.log_spectrum) > 0.1
  z = tf.constant(np.random.default_rng(1).standard_normal([2, 4, 4]))
  expected, _ = helpers.dense_jacobian_log_det(flow.forward, z)
  fldj = in_regime(lambda v: flow.forward_log_det_jacobian(v, 2), z)
  np.testing.assert_allclose(fldj, expected, rtol=0., atol=1e-8)
  x = flow.forward(z)
  np.testing.assert_allclose(in_regime(flow.inverse, x), z, atol=1e-12)


def test_an_equivariant_model_with_it_stays_z2_invariant(in_regime):
  model = tfp_nrg.neural_rg(8, num_couplings=2, hidden_units=(8,),
                            dtype=tf.float64, z2_equivariant=True,
                            fourier_scale=True)
  helpers.randomize_variables(model, scale=0.4)
  x = tf.random.stateless_normal([4, 8, 8], seed=(5, 6), dtype=tf.float64)
  log_q = in_regime(model.log_prob, x)
  np.testing.assert_allclose(in_regime(model.log_prob, -x), log_q,
                             atol=1e-10, rtol=0.)
  assert np.ptp(log_q) > 1.


def test_rejects_bad_input():
  with pytest.raises(ValueError, match='lattice_size'):
    bijectors.FourierScale(1)
  with pytest.raises(TypeError, match='dtype'):
    bijectors.FourierScale(4, dtype=tf.int32)
  with pytest.raises(ValueError, match='initial_log_spectrum'):
    bijectors.FourierScale(4, initial_log_spectrum=np.zeros([4, 3]))
  with pytest.raises(ValueError, match='finite'):
    bijectors.FourierScale(4, initial_log_spectrum=np.full([4, 4], np.nan))
  with pytest.raises(ValueError, match=r'\[\.\.\., 4, 4\]'):
    bijectors.FourierScale(4).forward(tf.zeros([2, 4, 5]))
