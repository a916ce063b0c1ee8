"""The equivariant continuous flow: log-det, integration error, symmetries,
composition in runs, and bad input."""

import functools
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
import tfp_nrg
from tfp_nrg import bijectors

tfd = tfp.distributions


def random_flow(size, weight_scale, num_steps=10, num_features=4, seed=1,
                num_channels=0):
  """A flow with random weights; a hidden layer's all random and non-zero
  (`A_ck` of order 0.2, `U_c` of `weight_scale / 16`)."""
  flow = bijectors.ContinuousFlow(
      size, num_features=num_features, num_channels=num_channels,
      num_steps=num_steps, initial_weight_scale=weight_scale,
      dtype=tf.float64, seed=seed)
  for i, weights in enumerate(flow.orbit_weights[1:]):
    weights.assign(tf.random.stateless_normal(
        weights.shape, seed=(seed, i), dtype=tf.float64) * (
            weight_scale / 16. if i else 0.2))
  return flow


def standard_normal_model(bijector, size):
  return tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(np.float64(0.), 1.), [size, size]), bijector)


def test_offset_orbits_are_the_point_group_orbits():
  orbit, count = bijectors.offset_orbits(6)
  assert count == 10 and orbit[0, 0] == 0
  for a in range(6):
    for b in range(6):
      for image in ((b, a), (-a % 6, b), (a, -b % 6), (-b % 6, a)):
        assert orbit[image] == orbit[a, b]
  assert len({orbit[0, 1], orbit[1, 1], orbit[0, 2]}) == 3


@functools.lru_cache()
def flow_and_dense_log_det(size, num_channels):
  """A random flow, fields, and the log-det of their dense Jacobians."""
  # Fine steps, so the Runge-Kutta map's Jacobian is the exact flow's; 32
  # of them, so the solver loops over groups of steps and runs a remainder.
  flow = random_flow(size, 0.04, num_steps=32, num_channels=num_channels)
  z = tf.random.stateless_normal([2, size, size], seed=(1, 2),
                                 dtype=tf.float64)
  return flow, z, helpers.forward_mode_log_det(flow.forward, z)


# XLA at L = 4 only: compiling the solver at L = 6 as well exercises nothing
# L = 4 does not.
@pytest.mark.parametrize('size,regime,num_channels', [
    (4, 'eager', 0), (4, 'graph', 0), (4, 'xla', 0), (6, 'eager', 0),
    (6, 'graph', 0), (4, 'eager', 2), (4, 'xla', 2), (6, 'graph', 2)])
def test_log_det_is_the_dense_jacobian(size, regime, num_channels):
  flow, z, dense = flow_and_dense_log_det(size, num_channels)
  in_regime = helpers.in_regime(regime)
  x, log_det = in_regime(flow.forward_and_log_det, z)
  assert np.max(np.abs(x - z)) > 0.1   # A non-trivial map.
  np.testing.assert_allclose(log_det, dense, atol=1e-6, rtol=0.)
  inverse_log_det = in_regime(flow.inverse_log_det_jacobian, tf.identity(x))
  np.testing.assert_allclose(inverse_log_det, -dense, atol=1e-6, rtol=0.)


def test_integration_error_at_the_default_steps():
  """The error the docs state: 1e-6 in z, 1e-5 nats per configuration."""
  flow = bijectors.ContinuousFlow(16, initial_weight_scale=2e-3,
                                  dtype=tf.float64, seed=3)
  z = tf.random.stateless_normal([16, 16, 16], seed=(3, 4), dtype=tf.float64)
  x, log_det = flow.forward_and_log_det(z)
  back, inverse_log_det = flow.inverse_and_log_det(x)
  assert np.max(np.abs(x - z)) > 0.1
  np.testing.assert_allclose(back, z, atol=1e-6, rtol=0.)
  np.testing.assert_allclose(inverse_log_det, -log_det, atol=1e-5, rtol=0.)


@pytest.mark.parametrize('symmetry', [
    lambda x: tf.roll(x, 1, axis=1), lambda x: tf.roll(x, 3, axis=2),
    lambda x: tf.transpose(tf.image.rot90(x[..., tf.newaxis]), [0, 1, 2, 3])[
        ..., 0],
    lambda x: tf.transpose(x, [0, 2, 1]), lambda x: -x],
                         ids=['roll_0', 'roll_1', 'rot90', 'transpose',
                              'negate'])
def test_the_density_has_the_lattice_symmetries(symmetry):
  model = standard_normal_model(
      random_flow(6, 0.05, num_features=3, num_channels=2), 6)
  x = tf.random.stateless_normal([3, 6, 6], seed=(5, 6), dtype=tf.float64)
  np.testing.assert_allclose(model.log_prob(symmetry(x)), model.log_prob(x),
                             atol=1e-6, rtol=0.)
  assert np.ptp(model.log_prob(x)) > 1.


def test_the_hidden_layer_is_bounded():
  """With kernels far above an L1 norm of 1, each channel adds at most 1 to
  |v| (unbounded, these kernels make |v| about 3800)."""
  flow = random_flow(6, 0., num_channels=2)
  for i, weights in enumerate(flow.orbit_weights[1:]):
    weights.assign(100. * tf.sign(tf.random.stateless_normal(
        weights.shape, seed=(9, i), dtype=tf.float64)))
  phi = tf.random.stateless_normal([4, 6, 6], seed=(7, 8), dtype=tf.float64)
  velocity, _ = flow.vector_field(phi, 0.3)
  assert 1e-3 < np.max(np.abs(velocity)) <= 2.


def test_bad_input_is_refused_before_work():
  with pytest.raises(ValueError, match='num_steps'):
    bijectors.ContinuousFlow(8, num_steps=0)
  with pytest.raises(ValueError, match='lattice_size'):
    bijectors.ContinuousFlow(1)
  with pytest.raises(ValueError, match='num_channels'):
    bijectors.ContinuousFlow(4, num_channels=-1)
  with pytest.raises(ValueError, match='continuous_flow'):
    bijectors.ContinuousFlow(4).forward(tf.zeros([2, 4, 6]))
  with pytest.raises(ValueError, match='continuous_steps'):
    tfp_nrg.runs.RunConfig(flow='continuous', continuous_steps=-1)
  with pytest.raises(ValueError, match='continuous_steps'):
    tfp_nrg.runs.RunConfig(continuous_steps=10)   # Not for 'neural_rg'.
  with pytest.raises(ValueError, match='continuous_channels'):
    tfp_nrg.runs.RunConfig(flow='continuous', continuous_channels=-1)
  with pytest.raises(ValueError, match='continuous_channels'):
    tfp_nrg.runs.RunConfig(continuous_channels=2)
  with pytest.raises(ValueError, match='fourier_scale.*inner'):
    tfp_nrg.distributions.continuous_flow(
        4, inner=bijectors.FourierScale(4), fourier_scale=True)


# The hybrid with a hidden layer, the continuous flow without.
@pytest.mark.parametrize('flow,channels', [('continuous', 0), ('hybrid', 1)])
def test_runs_of_either_flow_resume_load_and_export(flow, channels, tmp_path):
  config = tfp_nrg.runs.RunConfig(
      lattice_size=4, flow=flow, num_steps=4, batch_size=8, z2='equivariant',
      hidden_units=(4,), num_couplings=1, forward_kl_weight=0.,
      continuous_steps=2, continuous_features=2,
      continuous_channels=channels)
  model_dir = str(tmp_path / 'run')
  target, model = config.build_target(), config.build_model()
  trainer = config.build_trainer(model, target, jit_compile=False)
  trainer.fit(2, model_dir=model_dir, config=config, log_every=0)
  resumed = config.build_trainer(config.build_model(), target,
                                 jit_compile=False)
  assert resumed.fit(4, model_dir=model_dir, config=config,
                     log_every=0).steps == 2
  record = json.loads((tmp_path / 'run' / 'tfp_nrg_run.json').read_text())
  assert record['flow'] == flow
  assert record.get('continuous_channels') == (channels or None)
  run = tfp_nrg.runs.load(model_dir)
  assert run.step == 4 and run.config == config
  x = run.model.sample(3, seed=(1, 2))
  np.testing.assert_allclose(run.model.log_prob(tf.identity(x)),
                             resumed.model.log_prob(tf.identity(x)),
                             rtol=1e-6)
  sampler = tf.saved_model.load(tfp_nrg.export(run.model,
                                               str(tmp_path / 'export')))
  np.testing.assert_allclose(sampler.log_prob(x)['log_prob'],
                             run.model.log_prob(tf.identity(x)), rtol=1e-5)
  assert np.ptp(run.model.log_prob(x)) > 0.
  # Loaded with twice the steps: the same weights (made far from the
  # identity, in both), so |ln q(2) - ln q(4)| is the flow's own integration
  # error.
  refined = tfp_nrg.runs.load(model_dir, continuous_steps=4)
  assert refined.config.continuous_steps == 4
  # For sampling, twice the training's steps unless told otherwise.
  assert tfp_nrg.runs.load(model_dir, sampling=True).config == refined.config
  assert tfp_nrg.runs.load(model_dir, continuous_steps=3,
                           sampling=True).config.continuous_steps == 3
  for a, b in zip(refined.model.trainable_variables,
                  run.model.trainable_variables):
    np.testing.assert_array_equal(a, b)
  for model in (run.model, refined.model):
    helpers.randomize_variables(model, scale=0.2, seed=3)
  x = run.model.sample(3, seed=(1, 2))
  error = tfp_nrg.distributions.integration_error(run.model, 3, seed=(1, 2))
  assert np.min(error) > 1e-3
  np.testing.assert_allclose(
      tf.abs(refined.model.log_prob(tf.identity(x)) -
             run.model.log_prob(tf.identity(x))), error, rtol=1e-2)


def test_any_lattice_size_composes_after_a_fourier_scale():
  model = tfp_nrg.distributions.continuous_flow(
      6, fourier_scale=True, num_features=2, num_steps=2, dtype=tf.float64)
  assert isinstance(model.bijector.bijectors[1], bijectors.FourierScale)
  x, log_q = model.experimental_sample_and_log_prob(4, seed=(1, 2))
  np.testing.assert_allclose(model.log_prob(tf.identity(x)), log_q,
                             rtol=1e-10)


@pytest.mark.slow
def test_a_short_training_learns_the_free_field():
  """Free field, m2 = 0.5, L = 8: gap per site <= 1e-4 (the Fourier scale
  carries it; the continuous flow must not spoil it)."""
  config = tfp_nrg.runs.RunConfig(
      lattice_size=8, target='phi4', m2=0.5, lam=0., flow='continuous',
      fourier_scale=True, z2='none', num_steps=400, batch_size=128,
      learning_rate=2e-2, continuous_steps=4, continuous_features=4)
  target, model = config.build_target(), config.build_model()
  trainer = config.build_trainer(model, target)
  trainer.fit(config.num_steps, log_every=0)
  results = tfp_nrg.evaluation.evaluate(model, target.log_prob, 4096,
                                        seed=(1, 2))
  gap = (results.free_energy_bound.value + target.exact_log_normalizer()) / 64
  assert gap <= 1e-4, gap


def test_the_integration_error_is_measured_and_warned_of():
  smooth = random_flow(8, 2e-3, num_features=4)
  x = smooth.forward(tf.random.stateless_normal([4, 8, 8], seed=(1, 2),
                                                dtype=tf.float64))
  assert np.max(smooth.integration_error(x)) < 1e-5
  stiff = random_flow(8, 0.05, num_steps=2, num_features=4)
  assert np.mean(stiff.integration_error(stiff.forward(x))) > 0.1

  target = tfp_nrg.Phi4(8, m2=-4., lam=4.5, dtype=tf.float64)
  model = standard_normal_model(random_flow(8, 0.05, num_steps=2,
                                            num_features=4), 8)
  trainer = tfp_nrg.training.Trainer(model, target.log_prob, batch_size=8,
                                     jit_compile=False)
  lines = []
  watch = tfp_nrg.hooks.IntegrationErrorHook(1, num_draws=8, tolerance=0.05,
                                             log_fn=lines.append)
  trainer.fit(1, log_every=0, hooks=[watch])
  assert watch.errors[0][1] > 0.1 and 'WARNING' in lines[0]
  with pytest.raises(TypeError, match='no continuous flow'):
    tfp_nrg.distributions.integration_error(tfp_nrg.neural_rg(4), 2, (1, 2))


def test_the_model_error_is_that_of_ln_q():
  """`distributions.integration_error` of a model after a Fourier scale is
  |ln q(N steps) - ln q(2N steps)| computed from two whole models with the
  same weights: the end point's density counts, not the log-det alone."""
  coarse, fine = [tfp_nrg.distributions.continuous_flow(
      4, fourier_scale=True, num_features=2, num_steps=n, dtype=tf.float64)
                  for n in (3, 6)]
  helpers.randomize_variables(coarse, scale=0.3, seed=4)
  for a, b in zip(fine.trainable_variables, coarse.trainable_variables):
    a.assign(b)
  x = coarse.sample(16, seed=(7, 8))
  expected = tf.abs(coarse.log_prob(tf.identity(x)) -
                    fine.log_prob(tf.identity(x)))
  error = tfp_nrg.distributions.integration_error(coarse, 16, seed=(7, 8))
  np.testing.assert_allclose(error, expected, rtol=1e-8, atol=1e-12)
  log_det_alone = tfp_nrg.distributions.flow_parts(
      coarse)['continuous'].integration_error(x)
  assert np.mean(error) > 1.5 * np.mean(log_det_alone)
