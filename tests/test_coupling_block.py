"""PatchCouplingBlock: bijectivity, log-det against autodiff, identity."""

import numpy as np
import pytest
import tensorflow as tf

import helpers
from tfp_nrg import bijectors


@pytest.mark.parametrize('z2_equivariant', [False, True])
@pytest.mark.parametrize('dtype,tol', [(tf.float32, 1e-5), (tf.float64, 1e-12)])
def test_bijective_with_random_weights(dtype, tol, z2_equivariant, in_regime):
  block = bijectors.PatchCouplingBlock(num_couplings=5, hidden_units=(8, 8),
                                       dtype=dtype, seed=3,
                                       z2_equivariant=z2_equivariant)
  helpers.randomize_variables(block, scale=0.5)
  z = tf.constant(np.random.default_rng(0).standard_normal([7, 3, 4]), dtype)
  x = in_regime(block.forward, z)
  assert np.max(np.abs(x - z)) > 0.1  # Not the identity.
  np.testing.assert_allclose(in_regime(block.inverse, x), z, atol=tol,
                             rtol=tol)


@pytest.mark.parametrize('z2_equivariant', [False, True])
def test_log_dets_in_every_regime_match_autodiff(z2_equivariant, in_regime):
  block = bijectors.PatchCouplingBlock(num_couplings=4, hidden_units=(6,),
                                       dtype=tf.float64,
                                       z2_equivariant=z2_equivariant)
  helpers.randomize_variables(block, scale=0.8, seed=2)
  z = tf.constant(np.random.default_rng(2).standard_normal([6, 4]))
  expected, _ = dense_log_det(block.forward, z)
  fldj = in_regime(lambda v: block.forward_log_det_jacobian(v, 1), z)
  np.testing.assert_allclose(fldj, expected, rtol=1e-10, atol=1e-10)
  x = block.forward(z)
  ildj = in_regime(lambda v: block.inverse_log_det_jacobian(v, 1), x)
  np.testing.assert_allclose(ildj, -expected, rtol=1e-10, atol=1e-10)


def test_z2_equivariant_block_is_odd_with_an_even_log_det(in_regime):
  block = bijectors.PatchCouplingBlock(num_couplings=4, hidden_units=(6, 5),
                                       dtype=tf.float64, z2_equivariant=True)
  helpers.randomize_variables(block, scale=0.8, seed=4)
  z = tf.constant(np.random.default_rng(4).standard_normal([9, 4]))
  forward = lambda v: (block.forward(v),
                       block.forward_log_det_jacobian(v, event_ndims=1))
  x, fldj = in_regime(forward, z)
  x_minus, fldj_minus = in_regime(forward, -z)
  assert np.max(np.abs(x - z)) > 0.1 and np.std(fldj) > 0.01
  np.testing.assert_allclose(x_minus, -x, atol=1e-12)
  np.testing.assert_allclose(fldj_minus, fldj, atol=1e-12)
  # The plain block with the same random weights is not odd.
  plain = bijectors.PatchCouplingBlock(num_couplings=4, hidden_units=(6, 5),
                                       dtype=tf.float64)
  helpers.randomize_variables(plain, scale=0.8, seed=4)
  assert np.max(np.abs(plain.forward(-z) + plain.forward(z))) > 0.1


def dense_log_det(fn, z):
  """`ln |det d fn / dz|` per row of `z[B, 4]`, by autodiff, and `fn(z)`."""
  with tf.GradientTape() as tape:
    tape.watch(z)
    x = fn(z)
  return tf.linalg.slogdet(tape.batch_jacobian(x, z))[1], x


def test_log_det_matches_autodiff_jacobian():
  block = bijectors.PatchCouplingBlock(num_couplings=4, hidden_units=(6,),
                                       dtype=tf.float64)
  helpers.randomize_variables(block, scale=0.8, seed=1)
  z = tf.constant(np.random.default_rng(1).standard_normal([6, 4]))
  with tf.GradientTape() as tape:
    tape.watch(z)
    x = block.forward(z)
  jacobian = tape.batch_jacobian(x, z)
  expected = tf.linalg.slogdet(jacobian)[1]
  fldj = block.forward_log_det_jacobian(z, event_ndims=1)
  np.testing.assert_allclose(fldj, expected, rtol=1e-10, atol=1e-10)
  ildj = block.inverse_log_det_jacobian(tf.identity(x), event_ndims=1)
  np.testing.assert_allclose(ildj, -fldj, rtol=1e-10, atol=1e-10)


def test_bfloat16_conditioners_keep_float32_fields_and_log_dets():
  def block(conditioner_dtype):
    b = bijectors.PatchCouplingBlock(num_couplings=4, hidden_units=(8,),
                                     conditioner_dtype=conditioner_dtype)
    helpers.randomize_variables(b, scale=0.8, seed=2)
    return b
  mixed, full = block(tf.bfloat16), block(None)
  assert (mixed.conditioner_dtype, full.conditioner_dtype) == (tf.bfloat16,
                                                               tf.float32)
  z = tf.random.stateless_normal([64, 4], seed=(5, 6))
  x = mixed.forward(z)
  fldj = mixed.forward_log_det_jacobian(z, event_ndims=1)
  assert x.dtype == fldj.dtype == tf.float32
  # The MLPs really ran in bfloat16 (8 significant bits): close to, but not
  # the same as, the float32 map.
  difference = np.abs(x - full.forward(z)).max()
  assert 1e-4 < difference < 0.1
  # Still exactly invertible: the inverse recomputes the same conditioner
  # outputs from the same unchanged half.
  np.testing.assert_allclose(mixed.inverse(tf.identity(x)), z, atol=2e-5)
  np.testing.assert_allclose(
      mixed.inverse_log_det_jacobian(tf.identity(x), event_ndims=1), -fldj,
      atol=1e-5)
  # (Autodiff is no reference here: it rounds cotangents to bfloat16 inside
  # the conditioners.) The log-det is the float32 block's to bfloat16
  # accuracy.
  np.testing.assert_allclose(
      fldj, full.forward_log_det_jacobian(z, event_ndims=1), atol=0.1)


def test_identity_at_initialisation():
  block = bijectors.PatchCouplingBlock(num_couplings=3)
  z = tf.random.stateless_normal([5, 4], seed=(1, 2))
  np.testing.assert_array_equal(block.forward(z), z)
  np.testing.assert_array_equal(
      block.forward_log_det_jacobian(z, event_ndims=1), np.zeros(5))


def test_initial_weights_follow_seed():
  def weights(seed):
    block = bijectors.PatchCouplingBlock(num_couplings=2, seed=seed)
    return np.concatenate([v.numpy().ravel() for v in block.variables])
  np.testing.assert_array_equal(weights(5), weights(5))
  assert np.any(weights(5) != weights(6))


def test_log_scale_stays_bounded():
  block = bijectors.PatchCouplingBlock(num_couplings=2, hidden_units=(4,))
  helpers.randomize_variables(block, scale=50.)
  z = tf.random.stateless_normal([100, 4], seed=(3, 4)) * 1e3
  fldj = block.forward_log_det_jacobian(z, event_ndims=1).numpy()
  bounds = np.abs(block._conditioners.log_scale_bound.numpy()).sum()
  assert np.all(np.isfinite(fldj)) and np.all(np.abs(fldj) <= bounds + 1e-3)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(num_couplings=0), ValueError, 'num_couplings'),
    (dict(num_couplings=2.), TypeError, 'num_couplings'),
    (dict(hidden_units=()), ValueError, 'hidden_units'),
    (dict(hidden_units=(4, -1)), ValueError, 'hidden_units'),
    (dict(dtype=tf.int32), TypeError, 'dtype'),
    (dict(conditioner_dtype=tf.int8), TypeError, 'conditioner_dtype'),
    (dict(conditioner_dtype='half-ish'), TypeError, 'conditioner_dtype'),
    (dict(z2_equivariant='yes'), TypeError, 'z2_equivariant'),
])
def test_rejects_bad_arguments(kwargs, error, match):
  with pytest.raises(error, match=match):
    bijectors.PatchCouplingBlock(**kwargs)


def test_rejects_wrong_event_size():
  with pytest.raises(ValueError, match='4 entries'):
    bijectors.PatchCouplingBlock().forward(tf.zeros([3, 5]))


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
