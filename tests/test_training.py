"""Variational training: the loss, the Trainer, resuming, NaN handling."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
import tfp_nrg
from tfp_nrg import evaluation
from tfp_nrg import training

T_C = tfp_nrg.exact.CRITICAL_TEMPERATURE
SMALL = dict(num_couplings=2, hidden_units=(8,))


def test_loss_matches_tfp_vi():
  target = tfp_nrg.DualIsing(4, T_C, dtype=tf.float64)
  model = tfp_nrg.neural_rg(4, dtype=tf.float64, **SMALL)
  helpers.randomize_variables(model, scale=0.3)
  seed = tf.constant([3, 4])
  with tf.GradientTape(persistent=True) as tape:
    ours = tf.reduce_mean(training.free_energy_per_draw(
        model, target.log_prob, 32, tfp.random.split_seed(seed, 2)[0])[0])
    reference = tfp.vi.monte_carlo_variational_loss(
        target.log_prob, model, sample_size=32,
        discrepancy_fn=tfp.vi.kl_reverse, seed=seed)
  np.testing.assert_allclose(ours, reference, rtol=1e-12)
  for a, b in zip(tape.gradient(ours, model.trainable_variables),
                  tape.gradient(reference, model.trainable_variables)):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_path_gradient_matches_tfp_doubly_reparameterized():
  # TFP's estimator needs a copy of q whose parameters receive no gradient.
  target = tfp_nrg.DualIsing(4, T_C, dtype=tf.float64)
  model = tfp_nrg.neural_rg(4, dtype=tf.float64, **SMALL)
  stopped = tfp_nrg.neural_rg(4, dtype=tf.float64, **SMALL)
  helpers.randomize_variables(model, scale=0.3)
  helpers.randomize_variables(stopped, scale=0.3)
  seed = tf.constant([5, 6])
  with tf.GradientTape(persistent=True) as tape:
    per_draw, _ = training.free_energy_per_draw(
        model, target.log_prob, 32, tfp.random.split_seed(seed, 2)[0],
        gradient_estimator=training.DOUBLY_REPARAMETERIZED)
    ours = tf.reduce_mean(per_draw)
    reference = tfp.vi.monte_carlo_variational_loss(
        target.log_prob, model, sample_size=32,
        discrepancy_fn=tfp.vi.kl_reverse, seed=seed,
        gradient_estimator=tfp.vi.GradientEstimators.DOUBLY_REPARAMETERIZED,
        stopped_surrogate_posterior=stopped)
    plain = tfp.vi.monte_carlo_variational_loss(
        target.log_prob, model, sample_size=32,
        discrepancy_fn=tfp.vi.kl_reverse, seed=seed)
  np.testing.assert_allclose(ours, plain, rtol=1e-12)
  path = tape.gradient(ours, model.trainable_variables)
  for a, b in zip(path, tape.gradient(reference, model.trainable_variables)):
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
  # And it is a different estimator from the plain one.
  differences = [np.max(np.abs(a - b)) for a, b in zip(
      path, tape.gradient(plain, model.trainable_variables))]
  assert max(differences) > 1e-6


@pytest.mark.slow
@pytest.mark.parametrize('z2', ['mixture', 'equivariant'])
def test_training_approaches_exact_free_energy(z2):
  """L = 4 at T_c, 600 steps: the bound stays above -ln Z and gets close.

  Measured here (mixture): gap per site 0.024 after 400 steps (0.46
  untrained), ln Z and the energy within 1.6 standard errors of Kaufman's
  values, acceptance 0.54; the thresholds leave room for other platforms'
  rounding. The equivariant flow, which must split the Gaussian at z = 0 to
  reach both ordered modes, learns more slowly: gap per site 0.050 after
  600 steps, ln Z and the energy within 2.4 errors, acceptance 0.44 (0.365 ±
  0.028 with the same seed on an AMD EPYC CPU); its gap threshold is 0.07
  and its acceptance threshold 0.3.
  """
  target = tfp_nrg.DualIsing(4, T_C)
  model = tfp_nrg.neural_rg(4, num_couplings=4, hidden_units=(16, 16),
                            repeat=2, seed=2,
                            z2_equivariant=z2 == 'equivariant')
  if z2 == 'mixture':
    model = tfp_nrg.Symmetrized(model)
  trainer = training.Trainer(model, target.log_prob, batch_size=128,
                             learning_rate=3e-3, seed=2)
  exact_free_energy = -target.exact_log_normalizer()
  result = trainer.fit(600, log_every=0)
  assert result.steps == 600
  losses = result.loss
  assert np.mean(losses[-50:]) < np.mean(losses[:50]) - 1.
  results = evaluation.evaluate(
      trainer.model, target.log_prob, 8192, seed=(7, 8),
      observables=tfp_nrg.observables.ising_observables(target))
  bound, stderr = results.free_energy_bound
  assert bound > exact_free_energy - 3. * stderr
  max_gap_per_site = 0.03 if z2 == 'mixture' else 0.07
  assert (bound - exact_free_energy) / target.num_sites < max_gap_per_site
  # Importance sampling recovers ln Z_dual within its error bar (4 sigma).
  assert abs(results.log_z.value + exact_free_energy) < 4. * (
      results.log_z.stderr) + 1e-3
  assert results.acceptance_rate.value > (0.4 if z2 == 'mixture' else 0.3)
  energy = results.observables['energy_per_site']
  energy_error = abs(energy.value - target.exact_energy_per_site())
  assert energy_error < 4. * energy.stderr + 1e-3


def final_weights(trainer):
  return [v.numpy() for v in trainer.variables]


def test_resume_is_exact(tmp_path):
  config = dict(name='resume-test')
  straight, _ = helpers.small_trainer(seed=3)
  straight.fit(6, model_dir=str(tmp_path / 'straight'), config=config,
               log_every=0)
  first, _ = helpers.small_trainer(seed=3)
  first.fit(4, model_dir=str(tmp_path / 'split'), config=config,
            log_every=0, checkpoint_every=2)
  # A fresh process would build everything anew; so do we.
  second, _ = helpers.small_trainer(seed=3)
  result = second.fit(6, model_dir=str(tmp_path / 'split'), config=config,
                      log_every=0)
  assert result.steps == 2 and int(second.step.numpy()) == 6
  for a, b in zip(final_weights(straight), final_weights(second)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert any(np.any(a != b) for a, b in zip(final_weights(first),
                                            final_weights(second)))


def test_non_finite_step_stops_and_keeps_checkpoint(tmp_path):
  poison = tf.Variable(0.)
  target = tfp_nrg.DualIsing(4, T_C)
  trainer, _ = helpers.small_trainer(
      seed=4, target_log_prob_fn=lambda x: target.log_prob(x) + poison)
  model_dir = str(tmp_path / 'run')
  trainer.fit(4, model_dir=model_dir, config={}, log_every=0,
              checkpoint_every=2)
  before = final_weights(trainer)
  poison.assign(float('nan'))
  with pytest.raises(FloatingPointError, match='step 5'):
    trainer.fit(8, model_dir=model_dir, config={}, log_every=0)
  assert int(trainer.step.numpy()) == 4
  for a, b in zip(before, final_weights(trainer)):
    np.testing.assert_array_equal(a, b)
  assert tf.train.latest_checkpoint(model_dir).endswith('ckpt-4')


def test_beta_annealing_schedule():
  schedule = training.BetaAnnealing(0.998)
  steps = np.array([0, 1, 499, 5000])
  np.testing.assert_allclose(schedule(steps), 1. - 0.998**(steps + 1.),
                             rtol=1e-12)
  for rate, error in ((0., ValueError), (1., ValueError), (-0.5, ValueError),
                      ('0.9', TypeError), (float('nan'), ValueError)):
    with pytest.raises(error, match='rate'):
      training.BetaAnnealing(rate)


def test_annealed_step_fits_the_tempered_target_and_reports_f():
  """Gradient of mean(ln q - f ln pi); value still mean(ln q - ln pi)."""
  target = tfp_nrg.DualIsing(4, T_C, dtype=tf.float64)
  model = tfp_nrg.neural_rg(4, dtype=tf.float64, **SMALL)
  helpers.randomize_variables(model, scale=0.3)
  trainer = training.Trainer(model, target.log_prob, batch_size=16,
                             learning_rate=1e-3, jit_compile=False,
                             target_scale=training.BetaAnnealing(0.9))
  seed = tf.random.experimental.stateless_fold_in(trainer.seed, 0)
  factor = 0.1  # The schedule's at step 0: 1 - 0.9.
  with tf.GradientTape(persistent=True) as tape:
    x, log_q = model.experimental_sample_and_log_prob(
        16, seed=tf.random.experimental.stateless_fold_in(seed, 0))
    log_pi = target.log_prob(x)
    tempered = tf.reduce_mean(log_q - factor * log_pi)
    plain = tf.reduce_mean(log_q - log_pi)
  result = trainer.loss_and_gradients(seed, target_scale=factor)
  np.testing.assert_allclose(result.per_draw, log_q - log_pi, rtol=1e-12)
  expected = tape.gradient(tempered, trainer.variables)
  # Sums in another order: agreement to ~1e-7 (as for the forward KL term).
  for a, b in zip(result.gradients, expected):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  expected = np.concatenate([np.ravel(g) for g in expected])
  plain = np.concatenate([np.ravel(g) for g in tape.gradient(
      plain, trainer.variables)])
  # The first step: F at pi reported, and Adam's first move (Keras: -lr g /
  # (|g| + eps / sqrt(1 - beta_2)), about -lr sign(g)) follows the tempered
  # gradient, also where its sign differs from the plain one's.
  before = np.concatenate([np.ravel(v) for v in trainer.variables])
  step = trainer.train_step()
  np.testing.assert_allclose(step.loss, np.mean(result.per_draw), rtol=1e-12)
  moved = np.concatenate([np.ravel(v) for v in trainer.variables]) - before
  np.testing.assert_allclose(
      moved, -1e-3 * expected / (np.abs(expected) + 1e-7 / 0.001**0.5),
      rtol=1e-4, atol=1e-9)
  assert np.sum((np.abs(expected) > 1e-4) &
                (np.sign(expected) != np.sign(plain))) >= 5


def test_float64_training_step():
  target = tfp_nrg.DualIsing(4, T_C, dtype=tf.float64)
  model = tfp_nrg.neural_rg(4, dtype=tf.float64, **SMALL)
  trainer = training.Trainer(model, target.log_prob, batch_size=16,
                             jit_compile=False)
  metrics = trainer.train_step()
  assert metrics.loss.dtype == np.float64 and metrics.applied
  assert math.isfinite(metrics.loss)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(batch_size=1), ValueError, 'batch_size'),
    (dict(learning_rate=-1.), ValueError, 'learning_rate'),
    (dict(clip_norm=0.), ValueError, 'clip_norm'),
    (dict(gradient_estimator='vimco'), ValueError, 'gradient_estimator'),
    (dict(target_scale=0.5), TypeError, 'target_scale'),
])
def test_trainer_rejects_bad_arguments(kwargs, error, match):
  target = tfp_nrg.DualIsing(4, T_C)
  model = tfp_nrg.neural_rg(4, **SMALL)
  arguments = dict(batch_size=8)
  arguments.update(kwargs)
  with pytest.raises(error, match=match):
    training.Trainer(model, target.log_prob, **arguments)


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))


def test_a_resumed_fit_says_where_it_resumed_and_prints_briefly(tmp_path):
  trainer, _ = helpers.small_trainer(seed=11, jit_compile=False)
  model_dir = str(tmp_path / 'run')
  first = trainer.fit(3, model_dir=model_dir, config={}, log_every=0)
  assert first.start_step == 0 and first.steps == 3
  again, _ = helpers.small_trainer(seed=11, jit_compile=False)
  lines = []
  resumed = again.fit(5, model_dir=model_dir, config={}, log_every=100,
                      log_fn=lines.append)
  assert resumed.start_step == 3 and resumed.steps == 2
  assert lines[0] == 'Resumed at step 3 of 5.'
  text = repr(resumed)
  assert text.startswith('FitResult(steps=2 from step 3,') and len(text) < 120
