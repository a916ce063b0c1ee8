"""PatchLayer: patch bookkeeping, locality of the Jacobian, periodic wrap."""

import numpy as np
import pytest
import tensorflow as tf

import helpers
from tfp_nrg import bijectors
from tfp_nrg.bijectors import patch_layer


def expected_patch_ids(size, scale, shifted):
  """Patch index of every site (NumPy, by coordinates), -1 for idle sites."""
  spacing = 2**scale
  ids = -np.ones([size, size], int)
  for i in range(0, size, spacing):
    for j in range(0, size, spacing):
      a, b = i // spacing, j // spacing
      if shifted:
        a, b = (a - 1) % (size // spacing), (b - 1) % (size // spacing)
      ids[i, j] = (a // 2) * size + b // 2
  return ids


def test_patches_round_trip_and_layout():
  field = tf.reshape(tf.range(2 * 64, dtype=tf.float32), [2, 8, 8])
  patches = patch_layer.to_patches(field)
  assert [p.shape for p in patches] == [[2, 4, 4]] * 4
  # Patch (1, 2): rows 2-3, columns 4-5; halves are the two diagonals.
  np.testing.assert_array_equal(
      [p[0, 1, 2] for p in patches],
      [field[0, 2, 4], field[0, 3, 5], field[0, 2, 5], field[0, 3, 4]])
  np.testing.assert_array_equal(patch_layer.from_patches(*patches), field)


@pytest.mark.parametrize('spacing', [1, 2, 4])
def test_replace_sublattice(spacing):
  field = np.random.default_rng(0).standard_normal([3, 8, 8])
  values = -np.ones([3, 8 // spacing, 8 // spacing])
  expected = field.copy()
  expected[:, ::spacing, ::spacing] = values
  np.testing.assert_array_equal(
      patch_layer.replace_sublattice(tf.constant(field), tf.constant(values),
                                     spacing), expected)


@pytest.mark.parametrize('scale', [0, 1, 2])
@pytest.mark.parametrize('shifted', [False, True])
def test_jacobian_is_local_to_patches(scale, shifted):
  size = 8
  block = bijectors.PatchCouplingBlock(num_couplings=3, hidden_units=(4,),
                                       dtype=tf.float64)
  helpers.randomize_variables(block, scale=0.7)
  layer = bijectors.PatchLayer(block, size, scale=scale, shifted=shifted)
  z = tf.constant(np.random.default_rng(1).standard_normal([1, size, size]))
  log_det, jacobian = helpers.dense_jacobian_log_det(layer.forward, z)
  np.testing.assert_allclose(layer.forward_log_det_jacobian(z, event_ndims=2),
                             log_det, rtol=1e-10)
  ids = expected_patch_ids(size, scale, shifted).ravel()
  same_patch = (ids[:, None] == ids[None, :]) & (ids[:, None] >= 0)
  identity = np.eye(size * size, dtype=bool) & (ids[:, None] < 0)
  nonzero = np.abs(jacobian[0].numpy()) > 1e-12
  # Within a patch the block couples all four sites; outside it is the
  # identity; nothing else.
  np.testing.assert_array_equal(nonzero, same_patch | identity)
  assert layer.num_patches == len(set(ids[ids >= 0]))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(lattice_size=6), ValueError, 'power of two'),
    (dict(lattice_size=2), ValueError, 'lattice_size'),
    (dict(scale=3), ValueError, 'scale'),
    (dict(scale=-1), ValueError, 'scale'),
])
def test_rejects_bad_arguments(kwargs, error, match):
  arguments = dict(block=bijectors.PatchCouplingBlock(), lattice_size=8)
  arguments.update(kwargs)
  with pytest.raises(error, match=match):
    bijectors.PatchLayer(**arguments)


def test_rejects_wrong_event_shape():
  layer = bijectors.PatchLayer(bijectors.PatchCouplingBlock(), 8)
  with pytest.raises(ValueError, match=r'\[\.\.\., 8, 8\]'):
    layer.forward(tf.zeros([2, 8, 4]))


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
