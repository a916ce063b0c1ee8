"""MERA, TEBD and Tree: bijectivity, log-dets against autodiff, structure."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
from tfp_nrg import bijectors

ARCHITECTURES = helpers.architectures()
SMALL = dict(num_couplings=2, hidden_units=(4,))


def random_flow(name, size, dtype, seed=0):
  flow = ARCHITECTURES[name](size, dtype=dtype, seed=seed, **SMALL)
  helpers.randomize_variables(flow, scale=0.4, seed=seed)
  return flow


@pytest.mark.parametrize('name', sorted(ARCHITECTURES))
@pytest.mark.parametrize('dtype,tol', [(tf.float32, 1e-5), (tf.float64, 1e-12)])
def test_bijective(name, dtype, tol, in_regime):
  flow = random_flow(name, 8, dtype)
  z = tf.constant(np.random.default_rng(0).standard_normal([4, 8, 8]), dtype)
  x = in_regime(flow.forward, z)
  assert np.max(np.abs(x - z)) > 0.1
  np.testing.assert_allclose(in_regime(flow.inverse, x), z, atol=tol, rtol=0.)


@pytest.mark.parametrize('name', sorted(ARCHITECTURES))
@pytest.mark.parametrize('size', [4, 8])
def test_log_det_matches_autodiff_jacobian(name, size, in_regime):
  flow = random_flow(name, size, tf.float64, seed=1)
  z = tf.constant(np.random.default_rng(1).standard_normal([2, size, size]))
  expected, _ = helpers.dense_jacobian_log_det(flow.forward, z)
  fldj = in_regime(lambda v: flow.forward_log_det_jacobian(v, 2), z)
  np.testing.assert_allclose(fldj, expected, rtol=0., atol=1e-8)
  x = flow.forward(z)
  np.testing.assert_allclose(
      in_regime(lambda v: flow.inverse_log_det_jacobian(v, 2), x),
      -fldj, rtol=0., atol=1e-10)


@pytest.mark.parametrize('name', sorted(ARCHITECTURES))
@pytest.mark.parametrize('size', [4, 8, 16])
def test_latent_scales_round_trip(name, size):
  flow = ARCHITECTURES[name](size, **SMALL)
  z = tf.random.stateless_normal([3, size, size], seed=(1, size))
  parts = flow.latent_scales(z)
  assert len(parts) == flow.num_latent_scales + 1
  assert sum(int(np.prod(p.shape[1:])) for p in parts) == size * size
  np.testing.assert_array_equal(flow.assemble_latent_scales(parts), z)


def test_latent_scales_positions():
  size = 8
  z = tf.reshape(tf.range(size * size), [size, size])
  parts = bijectors.latent_scales(z, size)
  # Scale 0: sites not both even; scale 1: multiples of 2 not both of 4; ...
  np.testing.assert_array_equal(parts[0][0, 0], [z[0, 1], z[1, 0], z[1, 1]])
  np.testing.assert_array_equal(parts[1][1, 0], [z[4, 2], z[6, 0], z[6, 2]])
  np.testing.assert_array_equal(parts[2][0, 0], [z[0, 4], z[4, 0], z[4, 4]])
  assert parts[3].shape == [1, 1] and parts[3][0, 0] == 0


def influence(flow, size, site):
  """Sites of x = g(z) that latent site `site` moves (finite perturbation)."""
  z = np.random.default_rng(2).standard_normal([1, size, size])
  shifted = z.copy()
  shifted[(0,) + site] += 0.5
  delta = flow.forward(tf.constant(shifted)) - flow.forward(tf.constant(z))
  return np.abs(delta.numpy()[0]) > 1e-12


def test_tree_receptive_fields_are_cells():
  size = 8
  # Three couplings: with two, a variable of the second half would never reach
  # its partner in that half.
  flow = ARCHITECTURES['tree'](size, dtype=tf.float64, num_couplings=3,
                                repeat=1)
  helpers.randomize_variables(flow, scale=0.5)
  for scale, site in [(0, (2, 5)), (1, (6, 4)), (2, (4, 0))]:
    cell = 2**(scale + 1)
    expected = np.zeros([size, size], bool)
    corner = (site[0] // cell * cell, site[1] // cell * cell)
    expected[corner[0]:corner[0] + cell, corner[1]:corner[1] + cell] = True
    np.testing.assert_array_equal(influence(flow, size, site), expected)


def test_mera_coarsest_variable_reaches_every_site_with_wrap():
  size = 8
  flow = ARCHITECTURES['mera'](size, dtype=tf.float64, **SMALL)
  helpers.randomize_variables(flow, scale=0.5)
  assert influence(flow, size, (0, 0)).all()
  # A finest-scale variable at the cell edge spills over the periodic boundary
  # through the disentangler, beyond its own 2x2 cell.
  support = influence(flow, size, (1, 1))
  assert support[2, 2] and support.sum() > 4
  corner = influence(flow, size, (7, 7))
  assert corner[0, 0] and corner[7, 7]


@pytest.mark.parametrize('share', [False, True])
def test_weight_sharing_across_scales(share):
  flow = ARCHITECTURES['mera'](16, share_across_scales=share, **SMALL)
  blocks = {id(layer.block) for layer in flow.layers}
  assert len(flow.layers) == 8
  assert len(blocks) == (2 if share else 8)


@pytest.mark.parametrize('factory,kwargs,error,match', [
    (bijectors.MERA, dict(lattice_size=12), ValueError, 'power of two'),
    (bijectors.MERA, dict(lattice_size=2), ValueError, 'lattice_size'),
    (bijectors.MERA, dict(lattice_size=8, depth=4), ValueError, 'depth'),
    (bijectors.Tree, dict(lattice_size=8, depth=0), ValueError, 'depth'),
    (bijectors.TEBD, dict(lattice_size=8, num_layers=0), ValueError,
     'num_layers'),
    (bijectors.MERA, dict(lattice_size=8, repeat=0), ValueError, 'repeat'),
    (bijectors.block_factory, dict(dtype=tf.int64), TypeError, 'dtype'),
    (bijectors.block_factory, dict(num_couplings=0), ValueError,
     'num_couplings'),
    (bijectors.block_factory, dict(hidden_units=()), ValueError,
     'hidden_units'),
    (bijectors.MERA, dict(lattice_size=8, block_fn='mlp'), TypeError,
     'block_fn'),
    (bijectors.MERA, dict(lattice_size=8,
                          block_fn=lambda seed, name: tfp.bijectors.Exp()),
     TypeError, 'PatchCouplingBlock'),
    # Arguments of one architecture are not accepted, or relayed, by another.
    (bijectors.TEBD, dict(lattice_size=8, depth=2), TypeError, 'depth'),
    (bijectors.TEBD, dict(lattice_size=8, repeat=2), TypeError, 'repeat'),
    (bijectors.MERA, dict(lattice_size=8, num_couplings=2), TypeError,
     'num_couplings'),
])
def test_rejects_bad_arguments(factory, kwargs, error, match):
  with pytest.raises(error, match=match):
    factory(**kwargs)


def test_constructors_are_keyword_only():
  with pytest.raises(TypeError, match='positional'):
    bijectors.MERA(8, 2)  # pylint: disable=too-many-function-args


def test_block_factory_sets_every_block():
  flow = bijectors.MERA(8, block_fn=bijectors.block_factory(
      num_couplings=3, hidden_units=(5, 6), dtype=tf.float64))
  assert flow.dtype == tf.float64
  for layer in flow.layers:
    assert layer.block.num_couplings == 3
    assert layer.block.dtype == tf.float64
  assert {tuple(v.shape) for v in flow.trainable_variables
          if 'kernel_1' in v.name} == {(3, 6, 5)}


def test_rejects_wrong_event_shape():
  flow = ARCHITECTURES['mera'](8, **SMALL)
  with pytest.raises(ValueError, match=r'\[\.\.\., 8, 8\]'):
    flow.forward(tf.zeros([2, 4, 4]))


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
