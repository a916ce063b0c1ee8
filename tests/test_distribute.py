"""Training under tf.distribute: mirrored replicas, checkpoints, workers."""

import json
import socket

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfp_nrg
from tfp_nrg import training

T_C = tfp_nrg.exact.CRITICAL_TEMPERATURE
SMALL = dict(num_couplings=2, hidden_units=(8,))
CPUS = ['/cpu:0', '/cpu:1']  # Logical devices set up in conftest.py.


def build(strategy, seed=3, batch_size=16, jit_compile=True):
  target = tfp_nrg.DualIsing(4, T_C)
  with strategy.scope():
    model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(4, seed=seed, **SMALL))
  trainer = training.Trainer(model, target.log_prob, batch_size=batch_size,
                             learning_rate=1e-2, seed=seed,
                             jit_compile=jit_compile, strategy=strategy)
  return trainer, target


def values(variables):
  return [v.numpy() for v in variables]


def test_two_replicas_match_one_device_on_the_same_samples():
  mirrored, target = build(tf.distribute.MirroredStrategy(CPUS))
  assert mirrored.per_replica_batch_size == 8
  seed = tf.constant([5, 6], tf.int32)
  per_draw, _, gradients = tf.function(mirrored.loss_and_gradients,
                                    autograph=False)(seed)
  # One device, the same model and the same draws: replica r's half batch is
  # drawn with fold_in(seed, r); the loss is the mean over all 16.
  single, _ = build(tf.distribute.get_strategy())
  for variable, value in zip(single.variables, values(mirrored.variables)):
    variable.assign(value)
  with tf.GradientTape() as tape:
    halves = [training.free_energy_per_draw(
        single.model, target.log_prob, 8,
        tf.random.experimental.stateless_fold_in(seed, r))[0]
              for r in range(2)]
    expected = tf.concat(halves, axis=0)
    loss = tf.reduce_mean(expected)
  expected_gradients = tape.gradient(loss, single.variables)
  np.testing.assert_allclose(per_draw, expected, rtol=1e-5, atol=1e-4)
  assert np.abs(halves[0] - halves[1]).max() > 1e-3  # Distinct draws.
  for got, want in zip(gradients, expected_gradients):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  # With the forward KL: replica r takes the r-th half of the target draws.
  # (16 of them: TF 2.21 reuses collective keys across the strategies of one
  # process, and a later gather of another shape would abort.)
  draws = target.sample_by_metropolis(16, 10, seed=(1, 2))
  result = tf.function(mirrored.loss_and_gradients, autograph=False)(
      seed, draws, 0.5)
  with tf.GradientTape() as tape:
    forward = -single.model.log_prob(draws)
    loss = tf.reduce_mean(tf.concat([
        training.free_energy_per_draw(
            single.model, target.log_prob, 8,
            tf.random.experimental.stateless_fold_in(seed, r))[0]
        for r in range(2)], axis=0)) + 0.5 * tf.reduce_mean(forward)
  np.testing.assert_allclose(result.forward_per_draw, forward, rtol=1e-5,
                             atol=1e-4)
  for got, want in zip(result.gradients, tape.gradient(loss,
                                                       single.variables)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  # A step updates both replicas' copies alike.
  before = values(mirrored.variables)
  assert mirrored.train_step().applied
  for variable, old in zip(mirrored.variables, before):
    copies = [c.numpy() for c in variable.values]
    assert len(copies) == 2
    np.testing.assert_array_equal(copies[0], copies[1])
  assert any(np.abs(v.numpy() - old).max() > 0
             for v, old in zip(mirrored.variables, before))


def test_checkpoints_move_between_strategy_and_one_device(tmp_path):
  config = {'test': 'distribute'}
  mirrored, _ = build(tf.distribute.MirroredStrategy(CPUS))
  mirrored.fit(2, model_dir=str(tmp_path), config=config, log_every=0)
  single, _ = build(tf.distribute.get_strategy(), seed=9)
  single.fit(2, model_dir=str(tmp_path), config=config, log_every=0)
  assert int(single.step.numpy()) == 2
  for got, want in zip(values(single.checkpoint.optimizer.variables),
                       values(mirrored.optimizer.variables)):
    np.testing.assert_array_equal(got, want)
  for got, want in zip(values(single.variables), values(mirrored.variables)):
    np.testing.assert_array_equal(got, want)
  single.fit(3, model_dir=str(tmp_path), config=config, log_every=0)
  again, _ = build(tf.distribute.MirroredStrategy(CPUS), seed=11)
  again.fit(3, model_dir=str(tmp_path), config=config, log_every=0)
  assert int(again.step.numpy()) == 3
  for got, want in zip(values(again.variables), values(single.variables)):
    np.testing.assert_array_equal(got, want)


def test_rejects_a_model_built_outside_the_scope_and_odd_batches():
  strategy = tf.distribute.MirroredStrategy(CPUS)
  target = tfp_nrg.DualIsing(4, T_C)
  model = tfp_nrg.neural_rg(4, **SMALL)
  with pytest.raises(ValueError, match='scope'):
    training.Trainer(model, target.log_prob, batch_size=16, strategy=strategy)
  with strategy.scope():
    model = tfp_nrg.neural_rg(4, **SMALL)
  with pytest.raises(ValueError, match='multiple of the number of replicas'):
    training.Trainer(model, target.log_prob, batch_size=15, strategy=strategy)
  with pytest.raises(TypeError, match='strategy'):
    training.Trainer(model, target.log_prob, batch_size=16, strategy='mirror')


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('localhost', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


# A few steps and a brief evaluation (no draws of pi) suffice here: the
# strategies' arithmetic is checked in-process above.
BRIEF_FLAGS = helpers.TRAIN_FLAGS + ('--num_steps=4', '--eval_samples=64',
                                     '--target_samples=0')


@pytest.mark.slow
def test_example_trains_with_mirrored_and_multi_worker_strategies(tmp_path):
  done = helpers.run_example(
      'train_ising', *BRIEF_FLAGS, '--strategy=mirrored',
      '--cpu_replicas=2', '--model_dir={}'.format(tmp_path / 'mirrored'))
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'on 2 replica(s)' in done.stdout
  assert 'training without XLA' in done.stderr

  # Two worker processes on localhost, each with its own model directory.
  cluster = {'worker': ['localhost:{}'.format(p) for p in free_ports(2)]}
  workers = [helpers.start_example(
      'train_ising', *BRIEF_FLAGS, '--strategy=multi_worker',
      '--jit_compile=false',
      '--model_dir={}'.format(tmp_path / 'worker{}'.format(i)),
      env={'TF_CONFIG': json.dumps(
          {'cluster': cluster, 'task': {'type': 'worker', 'index': i}})})
             for i in range(2)]
  outputs = [helpers.finish(worker, timeout=300) for worker in workers]
  for worker, (stdout, stderr) in zip(workers, outputs):
    assert worker.returncode == 0, stderr[-3000:]
    assert 'on 2 replica(s)' in stdout
  trained = []
  for i in range(2):
    model_dir = str(tmp_path / 'worker{}'.format(i))
    run = tfp_nrg.runs.load(model_dir)
    assert run.step == 4
    trained.append(values(run.model.trainable_variables))
  for a, b in zip(*trained):  # The workers stayed in sync.
    np.testing.assert_array_equal(a, b)
