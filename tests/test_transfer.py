"""Lattice-size transfer: what is copied, what is refused, and that it helps."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfp_nrg

PHI4 = dict(target='phi4', m2=-4., lam=4.5, z2='equivariant',
            hidden_units=(8,), num_couplings=2, batch_size=64, num_steps=300,
            learning_rate=5e-3)


@pytest.fixture(scope='module')
def parent_run(tmp_path_factory):
  """A phi^4 NeuralRG with the Fourier scale trained 300 steps at L = 4."""
  model_dir = str(tmp_path_factory.mktemp('transfer') / 'L4')
  config = tfp_nrg.runs.RunConfig(lattice_size=4, **PHI4)
  target, model = config.build_target(), config.build_model()
  config.build_trainer(model, target).fit(config.num_steps,
                                          model_dir=model_dir, config=config,
                                          log_every=0)
  return tfp_nrg.runs.load(model_dir)


def test_weights_with_a_counterpart_are_copied(parent_run):
  config = dataclasses.replace(parent_run.config, lattice_size=8,
                               init_from=parent_run.model_dir)
  model = config.build_model()
  copied = tfp_nrg.transfer.start_from_parent(model, config)
  ours = tfp_nrg.distributions.flow_of(model)
  theirs = tfp_nrg.distributions.flow_of(parent_run.model)
  # L = 4 has 2 scales of 2 disentanglers and 2 decimators: 8 blocks.
  assert copied == dict(blocks=8, orbits=0, fourier_scale=True)
  def places(flow):   # (scale, shifted, r) -> block: the r-th of its kind.
    kinds = [(layer.scale, layer.shifted) for layer in flow.layers]
    return {kind + (kinds[:i].count(kind),): layer.block
            for i, (kind, layer) in enumerate(zip(kinds, flow.layers))}
  theirs_by_place = places(theirs)
  compared = 0
  for place, block in places(ours).items():
    if place[0] < 2:
      for a, b in zip(block.trainable_variables,
                      theirs_by_place[place].trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
      compared += 1
  assert compared == 8
  parent_spectrum = theirs.fourier_scale.log_spectrum.numpy()
  np.testing.assert_allclose(ours.fourier_scale.log_spectrum[::2, ::2],
                             parent_spectrum, atol=1e-6)
  assert np.std(parent_spectrum) > 0.01


def test_a_transferred_start_is_better_than_scratch(parent_run):
  """Measured: F per site at L = 8, from L = 4 against from scratch."""
  config = dataclasses.replace(parent_run.config, lattice_size=8,
                               init_from=parent_run.model_dir)
  target = config.build_target()
  started, scratch = config.build_model(), config.build_model()
  tfp_nrg.transfer.start_from_parent(started, config)
  bounds = [tfp_nrg.evaluation.evaluate(model, target.log_prob, 2048,
                                        seed=(1, 2)).free_energy_bound
            for model in (started, scratch)]
  # Lower by many errors (measured: -0.280 against +12.0 nats per site).
  assert bounds[0].value + 5. * (bounds[0].stderr + bounds[1].stderr) < (
      bounds[1].value), bounds


def test_the_continuous_flow_kernels_are_copied_by_offset():
  def flow(size):
    return tfp_nrg.distributions.continuous_flow(
        size, num_features=2, num_channels=1, fourier_scale=True)
  parent, model = flow(4), flow(6)
  trained = parent.bijector.bijectors[0].orbit_weights
  assert len(trained) == 3   # The linear kernel, A_ck and U_c.
  helpers.randomize_variables(parent, scale=0.1, seed=3)
  copied = tfp_nrg.transfer.copy_weights(tfp_nrg.Symmetrized(model), parent)
  orbit4, _ = tfp_nrg.bijectors.offset_orbits(4)
  orbit6, count6 = tfp_nrg.bijectors.offset_orbits(6)
  # Offsets (a, b), 0 <= a <= b <= 2; and the spectrum.
  assert copied == dict(blocks=0, orbits=6, fourier_scale=True)
  for weights, source in zip(model.bijector.bijectors[0].orbit_weights,
                             trained):
    assert weights.shape[-1] == count6 == 10
    for a in range(3):
      for b in range(3):
        np.testing.assert_array_equal(weights[..., orbit6[a, b]],
                                      source[..., orbit4[a, b]])
    assert np.any(weights) and not np.any(weights[..., orbit6[3, 3]])


def test_a_transfer_between_architectures_is_refused_before_work(
    parent_run, tmp_path):
  other = tfp_nrg.runs.RunConfig(
      lattice_size=8, init_from=parent_run.model_dir,
      **dict(PHI4, hidden_units=(16,), num_couplings=3))
  with pytest.raises(ValueError, match='hidden_units.*num_couplings|'
                     'num_couplings.*hidden_units'):
    tfp_nrg.transfer.parent_config(other)
  missing = dataclasses.replace(parent_run.config,
                                init_from=str(tmp_path / 'none'))
  with pytest.raises(ValueError, match='init_from.*holds no trained model'):
    tfp_nrg.transfer.parent_config(missing)
  done = helpers.run_example(
      'train_phi4', '--lattice_size=8', '--flow=neural_rg',
      '--hidden_units=16', '--num_couplings=3', '--z2=equivariant',
      '--init_from={}'.format(parent_run.model_dir),
      '--model_dir={}'.format(tmp_path / 'child'))
  assert done.returncode != 0 and 'hidden_units' in done.stderr
  assert not (tmp_path / 'child').exists()


def test_zero_steps_save_and_evaluate_the_transferred_start(parent_run,
                                                            tmp_path):
  """`--num_steps=0 --lr_schedule=constant` with `--init_from`: the run saved
  and evaluated is the start `start_from_parent` makes, untrained."""
  model_dir = tmp_path / 'child'
  done = helpers.run_example(
      'train_phi4', '--lattice_size=8', '--m2=-4', '--lam=4.5',
      '--flow=neural_rg', '--hidden_units=8', '--num_couplings=2',
      '--z2=equivariant', '--num_steps=0', '--lr_schedule=constant',
      '--learning_rate=5e-3', '--eval_samples=256', '--jit_compile=false',
      '--num_chains=2', '--sample_steps=20', '--num_burnin_steps=0',
      '--init_from={}'.format(parent_run.model_dir),
      '--model_dir={}'.format(model_dir))
  assert done.returncode == 0, done.stderr[-3000:]
  run = tfp_nrg.runs.load(str(model_dir))
  assert run.step == 0 and run.config.init_from == parent_run.model_dir
  config = dataclasses.replace(parent_run.config, lattice_size=8,
                               init_from=parent_run.model_dir)
  start = config.build_model()
  tfp_nrg.transfer.start_from_parent(start, config)
  x = tf.identity(start.sample(4, seed=(3, 4)))
  np.testing.assert_allclose(run.model.log_prob(x), start.log_prob(x),
                             rtol=1e-6)
  assert 'variational free energy' in done.stdout


def test_the_record_names_its_parent_and_resumes(parent_run, tmp_path):
  config = dataclasses.replace(parent_run.config, lattice_size=8,
                               init_from=parent_run.model_dir, num_steps=2)
  model_dir = str(tmp_path / 'child')
  target, model = config.build_target(), config.build_model()
  tfp_nrg.transfer.start_from_parent(model, config)
  config.build_trainer(model, target, jit_compile=False).fit(
      2, model_dir=model_dir, config=config, log_every=0)
  run = tfp_nrg.runs.load(model_dir)
  assert run.config.init_from == parent_run.model_dir
  x = tf.identity(model.sample(2, seed=(1, 2)))
  np.testing.assert_allclose(run.model.log_prob(x), model.log_prob(x),
                             rtol=1e-5)
