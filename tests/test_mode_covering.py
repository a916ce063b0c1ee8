"""Mode-covering training: the forward-KL term, the target buffer, checks."""

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfp_nrg
from tfp_nrg import training

T_C = tfp_nrg.exact.CRITICAL_TEMPERATURE
SMALL = dict(num_couplings=2, hidden_units=(8,))


def small_model(dtype=tf.float64):
  model = tfp_nrg.neural_rg(4, dtype=dtype, **SMALL)
  helpers.randomize_variables(model, scale=0.3)
  return model


def test_forward_kl_term_is_the_mean_negative_log_prob():
  target = tfp_nrg.DualIsing(4, T_C, dtype=tf.float64)
  model = small_model()
  draws = target.sample_by_metropolis(32, 20, seed=(1, 2))
  trainer = training.Trainer(model, target.log_prob, batch_size=16,
                             jit_compile=False)
  seed = tf.constant([3, 4])
  with tf.GradientTape() as tape:
    reverse = tf.reduce_mean(training.free_energy_per_draw(
        model, target.log_prob, 16,
        tf.random.experimental.stateless_fold_in(seed, 0))[0])
    forward = -tf.reduce_mean(model.log_prob(draws))
    total = reverse + 0.7 * forward
  expected = tape.gradient(total, trainer.variables)
  result = trainer.loss_and_gradients(seed, draws, 0.7)
  np.testing.assert_allclose(result.forward_per_draw, -model.log_prob(draws),
                             rtol=1e-12)
  np.testing.assert_allclose(np.mean(result.per_draw), reverse, rtol=1e-12)
  # Sums in another order: agreement to ~1e-9 of the largest component.
  for a, b in zip(result.gradients, expected):
    np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-6)
  # And the forward term does change the gradient.
  plain = trainer.loss_and_gradients(seed)
  assert plain.forward_per_draw.shape == [0]
  assert max(float(tf.reduce_max(tf.abs(a - b)))
             for a, b in zip(plain.gradients, result.gradients)) > 1e-2


def test_buffer_refreshes_its_draws_with_the_kernel():
  target = tfp_nrg.DualIsing(4, T_C)
  draws = target.sample_by_metropolis(4096, 50, seed=(1, 2))
  buffer = tfp_nrg.TargetBuffer(draws, kernel=target.local_kernel())
  batch = tf.function(lambda s: buffer.sample(8, s), jit_compile=True,
                      autograph=False)(tf.constant([3, 4]))
  assert batch.shape == [8, 4, 4]
  # These 8 indices are distinct: 8 rows changed, to the returned draws.
  changed = np.any(buffer.draws.numpy() != draws.numpy(), axis=(1, 2))
  assert changed.sum() == 8
  pool = buffer.draws.numpy()[changed].reshape(8, -1)
  for x in batch.numpy().reshape(8, -1):
    assert np.all(pool == x, axis=1).sum() == 1
    assert not np.any(np.all(draws.numpy().reshape(4096, -1) == x, axis=1))
  frozen = tfp_nrg.TargetBuffer(draws)
  batch = frozen.sample(8, seed=(5, 6))
  np.testing.assert_array_equal(frozen.draws, draws)
  pool = draws.numpy().reshape(4096, -1)
  for x in batch.numpy().reshape(8, -1):
    assert np.any(np.all(pool == x, axis=1))


def test_buffer_keeps_pi_exact_on_4x4():
  """Enumerated draws in the pool stay exact after many refreshes."""
  target, x = helpers.exact_dual_draws(4, T_C, num_steps=1, num_chains=2048,
                                       seed=4)
  buffer = tfp_nrg.TargetBuffer(x[0], kernel=target.local_kernel())
  sample = tf.function(buffer.sample, jit_compile=True, autograph=False)
  for i in range(20):
    sample(512, tf.constant([7, i]))
  energy = (target.energy_estimator(buffer.draws) / 16.).numpy()
  spins, energies, log_z = helpers.ising_enumeration(4, 4, T_C)
  exact = np.sum(np.exp(-energies / T_C - log_z) * energies) / 16.
  assert abs(energy.mean() - exact) < 4. * energy.std() / 2048**0.5


def test_training_with_the_forward_kl_resumes_exactly(tmp_path):
  """The buffer resumes with the run. (As TF graphs: four XLA compilations
  would take 30 s; `test_resume_is_exact` resumes a compiled step.)"""
  target = tfp_nrg.DualIsing(4, T_C)
  draws = target.sample_by_metropolis(256, 50, seed=(1, 2))

  def trainer():
    return training.Trainer(
        tfp_nrg.neural_rg(4, seed=3, **SMALL), target.log_prob,
        batch_size=32, seed=3, forward_kl_weight=lambda step: 0.5,
        jit_compile=False,
        target_buffer=tfp_nrg.TargetBuffer(draws,
                                           kernel=target.local_kernel()))

  straight = trainer()
  straight.fit(6, log_every=0)
  first = trainer()
  first.fit(3, model_dir=str(tmp_path), config={}, log_every=0)
  second = trainer()
  second.fit(6, model_dir=str(tmp_path), config={}, log_every=0)
  for a, b in zip(straight.variables, second.variables):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(straight.target_buffer.draws,
                             second.target_buffer.draws, rtol=1e-6)
  metrics = straight.train_step()
  assert np.isfinite(metrics.cross_entropy) and metrics.applied
  assert np.isnan(training.Trainer(
      tfp_nrg.neural_rg(4, **SMALL), target.log_prob, batch_size=8,
      jit_compile=False).train_step().cross_entropy)


def test_fit_to_chains_moves_the_flow_towards_the_states():
  """Adapting on exact draws of pi lowers the cross entropy on held-out ones.

  A flow trained 60 steps on the reverse KL alone, then adapted 60 steps on
  4096 enumerated draws of pi (shaped like 64 chains x 64 steps): -E_pi[ln q]
  over 4096 other exact draws falls by more than its error (measured: from
  32.37 to 30.61 nats, errors 0.05-0.07); a flow trained 60 more reverse-KL
  steps instead does not get there (31.61).
  """
  target, x = helpers.exact_dual_draws(4, T_C, num_steps=128, num_chains=64,
                                       seed=5)
  states, held_out = x[:64], x[64:].reshape(-1, 4, 4)

  def cross_entropy(model):
    values = -model.log_prob(held_out).numpy()
    return values.mean(), values.std() / len(values)**0.5

  def reverse_trained():
    model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(4, dtype=tf.float64, seed=2,
                                                  **SMALL))
    training.Trainer(model, target.log_prob, batch_size=64,
                     learning_rate=1e-2, seed=1, jit_compile=False).fit(
                         60, log_every=0)
    return model

  adapted, longer = reverse_trained(), reverse_trained()
  before, error = cross_entropy(adapted)
  result = tfp_nrg.adaptation.fit_to_chains(
      adapted, target.log_prob, states, num_steps=60, batch_size=64,
      learning_rate=1e-2, refresh_kernel=target.local_kernel(), seed=3,
      jit_compile=False)
  assert result.steps == 60 and not result.interrupted
  after, _ = cross_entropy(adapted)
  training.Trainer(longer, target.log_prob, batch_size=64, learning_rate=1e-2,
                   seed=3, jit_compile=False).fit(60, log_every=0)
  assert after < before - 4. * error
  assert after < cross_entropy(longer)[0] - 4. * error


def test_fit_to_chains_rejects_bad_states():
  target = tfp_nrg.DualIsing(4, T_C)
  model = tfp_nrg.neural_rg(4, **SMALL)
  with pytest.raises(ValueError, match='event shape'):
    tfp_nrg.adaptation.fit_to_chains(model, target.log_prob,
                                     tf.zeros([3, 2, 8, 8]), 1, 8, 1e-3)
  with pytest.raises(ValueError, match='forward_kl_weight'):
    tfp_nrg.adaptation.fit_to_chains(model, target.log_prob,
                                     tf.zeros([3, 2, 4, 4]), 1, 8, 1e-3,
                                     forward_kl_weight=0.)
  with pytest.raises(ValueError, match='finite'):
    tfp_nrg.adaptation.fit_to_chains(model, target.log_prob,
                                     tf.fill([3, 2, 4, 4], np.inf), 1, 8, 1e-3)


@pytest.mark.parametrize('build,error,match', [
    (lambda t, m: tfp_nrg.TargetBuffer(tf.zeros([0, 4, 4])), ValueError,
     'non-empty'),
    (lambda t, m: tfp_nrg.TargetBuffer(tf.fill([2, 4, 4], np.nan)),
     ValueError, 'finite'),
    (lambda t, m: tfp_nrg.TargetBuffer(tf.zeros([2, 4, 4]), kernel='hmc'),
     TypeError, 'kernel'),
    (lambda t, m: training.Trainer(m, t.log_prob, 8, target_buffer=[1.]),
     TypeError, 'target_buffer'),
    (lambda t, m: training.Trainer(
        m, t.log_prob, 8, target_buffer=tfp_nrg.TargetBuffer(
            tf.zeros([2, 8, 8]))), ValueError, 'target_buffer'),
    (lambda t, m: training.Trainer(m, t.log_prob, 8, forward_kl_weight=-1.),
     ValueError, 'forward_kl_weight'),
])
def test_rejects_bad_arguments(build, error, match):
  target = tfp_nrg.DualIsing(4, T_C)
  model = tfp_nrg.neural_rg(4, **SMALL)
  with pytest.raises(error, match=match):
    build(target, model)


def test_sample_target_in_batches_with_progress():
  target = tfp_nrg.DualIsing(4, 2.5)
  calls, lines = [], []
  progress = tfp_nrg.hooks.ProgressLine('draws', min_seconds=0.,
                                        log_fn=lines.append)
  def record(done, total):
    calls.append((done, total))
    progress(done, total)
  draws = tfp_nrg.target_buffer.sample_target(
      target, 7, 5, seed=(1, 2), jit_compile=False, chains_per_call=3,
      progress=record)
  assert draws.shape == [7, 4, 4]
  assert calls == [(3, 7), (6, 7), (7, 7)]
  assert lines[-1].startswith('  draws: 7/7') and 'left' in lines[0]
  # Batch i is sample_by_metropolis with the seed fold_in(seed, i).
  np.testing.assert_array_equal(
      draws[3:6], target.sample_by_metropolis(
          3, 5, tf.random.experimental.stateless_fold_in([1, 2], 1)))
  with pytest.raises(ValueError, match='num_samples'):
    tfp_nrg.target_buffer.sample_target(target, 0, 5, seed=(1, 2))


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
