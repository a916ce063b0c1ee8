"""RG analysis: scales, receptive fields, latent energy, correlations, MI."""

import json
import math
import re

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfp_nrg
from tfp_nrg import rg

T_C = tfp_nrg.exact.CRITICAL_TEMPERATURE
SMALL = dict(num_couplings=2, hidden_units=(4,))
ARCHITECTURES = helpers.architectures()


def random_flow(factory, size, seed=0, **kwargs):
  flow = factory(size, dtype=tf.float64, seed=seed, **kwargs)
  helpers.randomize_variables(flow, scale=0.4, seed=seed)
  return flow


def normal(shape, seed):
  return tf.constant(np.random.default_rng(seed).standard_normal(shape))


@pytest.mark.parametrize('name', sorted(ARCHITECTURES))
@pytest.mark.parametrize('size', [4, 8, 16])
def test_rg_transform_then_generation_is_the_identity(name, size):
  flow = random_flow(ARCHITECTURES[name], size, **SMALL)
  x = normal([2, size, size], size)
  parts = rg.rg_transform(flow, x)
  assert len(parts) == flow.num_latent_scales + 1
  decoded = flow.forward(tf.identity(flow.assemble_latent_scales(parts)))
  np.testing.assert_allclose(decoded, x, atol=1e-10, rtol=0.)


def test_receptive_fields_match_the_dense_jacobian():
  flow = random_flow(ARCHITECTURES['mera'], 8, **SMALL)
  z = normal([8, 8], 1)
  fields = rg.receptive_fields(flow, z)
  sites = rg.receptive_field_sites(flow)
  with tf.GradientTape() as tape:
    tape.watch(z)
    x = flow.forward(tf.identity(z)[tf.newaxis])[0]
  jacobian = tape.jacobian(x, z).numpy()  # [L, L, L, L]: dx_ab / dz_cd.
  assert fields.shape == (len(sites), 8, 8)
  for field, (i, j) in zip(fields.numpy(), sites):
    np.testing.assert_allclose(field, jacobian[:, :, i, j], atol=1e-12)


def support(fields):
  return np.abs(fields) > 1e-12


def test_tree_receptive_fields_are_exactly_their_cells():
  size = 8
  # Three couplings per block, so that every variable reaches its whole cell.
  flow = random_flow(ARCHITECTURES['tree'], size, num_couplings=3, repeat=1)
  sites = rg.receptive_field_sites(flow)
  assert sites == [(5, 5), (6, 6), (4, 4), (0, 0)]
  fields = rg.receptive_fields(flow, normal([size, size], 2))
  for scale, (site, field) in enumerate(zip(sites, fields.numpy())):
    cell = 2**min(scale + 1, flow.num_latent_scales)
    expected = np.zeros([size, size], bool)
    corner = (site[0] // cell * cell, site[1] // cell * cell)
    expected[corner[0]:corner[0] + cell, corner[1]:corner[1] + cell] = True
    np.testing.assert_array_equal(support(field), expected)


def test_mera_receptive_fields_grow_with_depth_and_wrap():
  size = 16
  flow = random_flow(ARCHITECTURES['mera'], size, **SMALL)
  z = normal([size, size], 3)
  sizes = [int(s.sum()) for s in support(rg.receptive_fields(flow, z))]
  # Measured: [14, 88, 256, 256, 256] for this flow.
  assert all(a <= b for a, b in zip(sizes, sizes[1:]))
  assert sizes[0] > 4 and sizes[-1] == size * size
  # A finest-scale variable of the corner cell, through the disentangler
  # straddling the boundary, moves the opposite corner of the torus.
  corner = support(rg.receptive_fields(flow, z, sites=[(1, 1)]))[0]
  assert corner[size - 1, size - 1] and corner[2, 2]
  assert not corner[size // 2, size // 2]


def test_latent_energy_of_the_identity_flow_is_the_target_energy():
  flow = ARCHITECTURES['mera'](8, dtype=tf.float64, **SMALL)  # New: the identity.
  target = tfp_nrg.DualIsing(8, T_C, dtype=tf.float64)
  z = normal([3, 8, 8], 4)
  np.testing.assert_allclose(rg.latent_energy(flow, target.log_prob, z),
                             -target.log_prob(z), rtol=1e-12)


def test_latent_energy_of_the_flows_own_density_is_free():
  size = 8
  model = tfp_nrg.neural_rg(size, dtype=tf.float64, **SMALL)
  flow = tfp_nrg.distributions.flow_of(model)
  helpers.randomize_variables(flow, scale=0.4, seed=5)

  def own_log_prob(x):  # tf.identity: really invert, do not hit the cache.
    return model.log_prob(tf.identity(x))

  z = normal([3, size, size], 5)
  expected = (0.5 * tf.reduce_sum(z**2, axis=[1, 2]) +
              0.5 * size * size * math.log(2. * math.pi))
  np.testing.assert_allclose(rg.latent_energy(flow, own_log_prob, z),
                             expected, rtol=1e-10)
  fit = rg.effective_couplings(flow, own_log_prob, scale=0, num_samples=64,
                               seed=(1, 2))
  assert fit['mass'] == pytest.approx(0.5, abs=1e-9)
  for key in ('field', 'coupling', 'quartic'):
    assert fit[key] == pytest.approx(0., abs=1e-9), key
  assert fit['r_squared'] == pytest.approx(1., abs=1e-9)


def gaussian_chain_log_prob(coupling):
  """`ln pi(x) = -sum x^2 / 2 - J sum_<ij> x_i x_j` on the torus."""
  def log_prob(x):
    bonds = x * (tf.roll(x, 1, axis=1) + tf.roll(x, 1, axis=2))
    return -0.5 * tf.reduce_sum(x**2, [1, 2]) - coupling * tf.reduce_sum(
        bonds, [1, 2])
  return log_prob


def test_effective_couplings_recover_a_known_hamiltonian():
  # With the identity flow E(z) is the target's energy itself: at scale 0 the
  # fit must return the couplings, at scale 1 the kept sites (spacing 2) are
  # no neighbours any more, and the single coarsest variable has no bonds.
  flow = ARCHITECTURES['tree'](8, dtype=tf.float64, repeat=1, **SMALL)
  log_prob = gaussian_chain_log_prob(0.2)
  fine = rg.effective_couplings(flow, log_prob, 0, 256, (3, 4))
  assert (fine['mass'], fine['coupling']) == pytest.approx((0.5, 0.2))
  assert fine['r_squared'] == pytest.approx(1.)
  coarse = rg.effective_couplings(flow, log_prob, 1, 256, (3, 4))
  assert coarse['size'] == 4
  assert (coarse['mass'], coarse['coupling']) == pytest.approx((0.5, 0.),
                                                                abs=1e-9)
  top = rg.effective_couplings(flow, log_prob, 3, 64, (3, 4))
  assert top['coupling'] is None and top['mass'] == pytest.approx(0.5)


def test_coarse_latent_energy_zeroes_the_finer_scales():
  flow = random_flow(ARCHITECTURES['mera'], 8, **SMALL)
  target = tfp_nrg.DualIsing(8, T_C, dtype=tf.float64)
  z = normal([2, 8, 8], 6)
  parts = flow.latent_scales(z)
  parts[0] = tf.zeros_like(parts[0])
  expected = rg.latent_energy(flow, target.log_prob,
                              flow.assemble_latent_scales(parts))
  coarse = z[:, ::2, ::2]
  np.testing.assert_allclose(
      rg.coarse_latent_energy(flow, target.log_prob, coarse, scale=1),
      expected, rtol=1e-12)


@pytest.mark.parametrize('finer', ['fresh', 'zero'])
def test_regeneration_keeps_the_coarse_scales(finer):
  flow = random_flow(ARCHITECTURES['mera'], 8, **SMALL)
  z = normal([2, 8, 8], 7)
  levels = rg.scale_by_scale(flow, z, finer=finer, seed=(5, 6))
  assert len(levels) == flow.num_latent_scales + 1
  np.testing.assert_allclose(levels[-1], flow.forward(z), atol=1e-12)
  original = flow.latent_scales(z)
  for scale, x in zip(range(flow.num_latent_scales, -1, -1), levels):
    parts = rg.rg_transform(flow, tf.identity(x))
    for k, (part, kept) in enumerate(zip(parts, original)):
      if k >= scale:
        np.testing.assert_allclose(part, kept, atol=1e-10)
      elif finer == 'zero':
        np.testing.assert_allclose(part, 0., atol=1e-10)
      else:
        assert np.abs(part - kept).max() > 0.1


def test_interpolations():
  z0, z1 = normal([4, 4], 13), normal([4, 4], 14)
  for path in ('linear', 'great_circle'):
    frames = rg.interpolate_latents(z0, z1, 5, path)
    np.testing.assert_allclose(frames[0], z0, atol=1e-12)
    np.testing.assert_allclose(frames[-1], z1, atol=1e-12)
  linear = rg.interpolate_latents(z0, z1, 5, 'linear')
  np.testing.assert_allclose(linear[2], (z0 + z1) / 2, atol=1e-12)
  # Equal norms stay on the sphere along the great circle.
  z1 = z1 * tf.norm(z0) / tf.norm(z1)
  circle = rg.interpolate_latents(z0, z1, 5, 'great_circle')
  np.testing.assert_allclose(tf.norm(circle, axis=[1, 2]), tf.norm(z0),
                             rtol=1e-12)
  assert float(tf.norm(linear[2])) < float(tf.norm(z0))
  # Parallel ends: the straight line, no division by zero.
  np.testing.assert_allclose(
      rg.interpolate_latents(z0, 2. * z0, 3, 'great_circle')[1], 1.5 * z0,
      atol=1e-12)
  flow = ARCHITECTURES['mera'](4, dtype=tf.float64, **SMALL)
  assert rg.latent_wandering(flow, z0, z1, 6).shape == (6, 4, 4)


@pytest.mark.parametrize('call,error,match', [
    (lambda f: rg.regenerate_from_scale(f, normal([1, 8, 8], 0), 4),
     ValueError, 'scale'),
    (lambda f: rg.regenerate_from_scale(f, normal([1, 8, 8], 0), 1, 'blur'),
     ValueError, 'finer'),
    (lambda f: rg.coarse_latent_energy(f, lambda x: x, normal([1, 8, 8], 0),
                                       1), ValueError, 'coarse'),
    (lambda f: rg.receptive_fields(f, normal([4, 4], 0)), ValueError, '`z`'),
    (lambda f: rg.receptive_fields(f, normal([8, 8], 0), sites=[(8, 0)]),
     ValueError, 'sites'),
    (lambda f: rg.effective_couplings(f, lambda x: x, 0, 4, (1, 2)),
     ValueError, 'num_samples'),
    (lambda f: rg.interpolate_latents(normal([2], 0), normal([2], 1), 3,
                                      'zigzag'), ValueError, 'path'),
    (lambda f: rg.interpolate_latents(normal([2], 0), normal([3], 1), 3),
     ValueError, 'same shape'),
    (lambda f: tfp_nrg.distributions.flow_of(tfp_nrg.DualIsing(4, 2.)),
     TypeError, 'NeuralRG'),
])
def test_rejects_bad_arguments(call, error, match):
  flow = ARCHITECTURES['mera'](8, dtype=tf.float64, **SMALL)
  with pytest.raises(error, match=match):
    call(flow)


@pytest.mark.slow
def test_briefly_trained_flow_decorrelates_latent_variables():
  """L = 8 at T_c, 300 steps: physical g(1) ~ 0.86, latent ~ -0.04.

  Measured with these seeds: nearest-neighbour correlation 0.857 of the
  physical field against -0.036 (scale 0) and -0.001 (scale 1) of the latent
  variables; mutual information between the halves 3.22 nats physical,
  0.28 latent. Configurations from independence Metropolis (1024 chains, 30
  steps each).
  """
  size = 8
  target = tfp_nrg.DualIsing(size, T_C)
  model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(
      size, num_couplings=2, hidden_units=(16,), seed=3))
  tfp_nrg.training.Trainer(model, target.log_prob, batch_size=128,
                           learning_rate=5e-3, seed=4).fit(num_steps=300)
  sample = tf.function(
      lambda: tfp_nrg.mcmc.sample_independence_chains(
          target.log_prob, model, 1024, 1, 30, seed=(5, 6)),
      jit_compile=True, autograph=False)
  x = sample()[0][0]
  flow = tfp_nrg.distributions.flow_of(model)
  z = flow.inverse(model.orbit_representative(x))
  correlations = rg.scale_correlations(flow, x, z)
  physical = float(correlations['physical']['correlation'][1])
  latent = float(correlations['scale_0']['correlation'][1])
  assert physical > 0.7
  assert abs(latent) < 0.15
  information = rg.half_lattice_mutual_information(flow, x, z)
  assert float(information['latent']) < 0.25 * float(information['physical'])


@pytest.mark.slow
def test_rg_analysis_example_end_to_end(trained_example_run, tmp_path):
  done, no_run = helpers.run_examples(
      ('rg_analysis', '--model_dir={}'.format(
          trained_example_run['model_dir']),
       '--output_dir={}'.format(tmp_path), '--num_samples=256',
       '--num_burnin_steps=5', '--coupling_samples=64', '--ksg_samples=200',
       '--num_frames=4'),
      ('rg_analysis', '--model_dir={}'.format(tmp_path / 'none')))
  assert done.returncode == 0, done.stderr[-3000:]
  # Warned of exactly when a chain may still hold its first flow draw.
  acceptance = float(re.search(r'final acceptance ([\d.]+)',
                               done.stdout).group(1))
  assert ('never have left their first flow draw' in done.stdout) == (
      (1. - acceptance)**6 > 0.01), done.stdout
  pictures = ['regeneration.png', 'receptive_fields.png', 'correlations.png',
              'mutual_information.png', 'wandering.png']
  for name in pictures:
    assert (tmp_path / name).stat().st_size > 1000, name
  index = (tmp_path / 'index.md').read_text()
  for name in pictures:
    assert '![{0}]({0})'.format(name) in index
  results = json.loads((tmp_path / 'rg_analysis.json').read_text())
  assert len(results['effective_couplings']) == 3  # L = 4: two scales + top.
  assert set(results['mutual_information_halves']) == {
      'physical', 'latent', 'scale_0'}
  assert no_run.returncode != 0 and 'holds no trained model' in no_run.stderr
