"""RunConfig: validation, JSON round trips, building and loading runs."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import tfp_nrg
from tfp_nrg import runs

TINY = dict(lattice_size=4, num_couplings=2, hidden_units=(8,), batch_size=16,
            num_steps=3, forward_kl_weight=0.)


def test_json_round_trip():
  config = runs.RunConfig(**TINY, architecture='tree', depth=1, seed=5)
  record = json.loads(json.dumps(config.to_dict()))
  assert runs.RunConfig.from_dict(record) == config
  assert record['version'] == runs.FORMAT_VERSION
  assert record['hidden_units'] == [8]
  assert record['fourier_scale'] is True
  # Without it, `fourier_scale` is not recorded, as in records from before
  # the field existed, which therefore still match (and resume) their runs.
  without = runs.RunConfig(**TINY, fourier_scale=False)
  record = json.loads(json.dumps(without.to_dict()))
  assert 'fourier_scale' not in record
  assert runs.RunConfig.from_dict(record) == without


def test_to_json_is_text_and_to_dict_a_dict():
  config = runs.RunConfig(**TINY, seed=3)
  assert json.loads(config.to_json()) == config.to_dict()
  assert runs.RunConfig.from_json(config.to_json()) == config
  with pytest.raises(TypeError, match='from_dict'):
    runs.RunConfig.from_json(config.to_dict())


def test_constant_schedule_is_not_tied_to_num_steps():
  config = runs.RunConfig(lr_schedule='constant', num_steps=500)
  assert config.num_steps is None
  assert config.learning_rate_schedule() == config.learning_rate
  cosine = runs.RunConfig(num_steps=500).learning_rate_schedule()
  assert float(cosine(0)) == pytest.approx(2e-3)
  assert float(cosine(500)) == pytest.approx(2e-3 * 0.02)


@pytest.mark.parametrize('fields,error,match', [
    (dict(lattice_size=12), ValueError, 'lattice_size'),
    (dict(temperature=0.), ValueError, 'temperature'),
    (dict(architecture='mlp'), ValueError, 'architecture'),
    (dict(architecture='tebd', repeat=2), ValueError, 'repeat'),
    (dict(architecture='tebd', share_across_scales=False), ValueError,
     'share_across_scales'),
    (dict(architecture='tebd', depth=2), ValueError, 'depth'),
    (dict(num_layers=3), ValueError, 'num_layers'),
    (dict(depth=0), ValueError, 'depth'),
    (dict(hidden_units=()), ValueError, 'hidden_units'),
    (dict(hidden_units=(8, 0)), ValueError, 'hidden_units'),
    (dict(dtype='float16'), ValueError, 'dtype'),
    (dict(batch_size=1), ValueError, 'batch_size'),
    (dict(num_steps=0), ValueError, 'num_steps'),
    (dict(num_steps=None), ValueError, 'num_steps'),
    (dict(learning_rate=0.), ValueError, 'learning_rate'),
    (dict(lr_schedule='step'), ValueError, 'lr_schedule'),
    (dict(clip_norm=-1.), ValueError, 'clip_norm'),
    (dict(beta_annealing=1.), ValueError, 'beta_annealing'),
    (dict(beta_annealing=-0.1), ValueError, 'beta_annealing'),
    (dict(beta_annealing='0.99'), TypeError, 'beta_annealing'),
    (dict(gradient_estimator='vimco'), ValueError, 'gradient_estimator'),
    (dict(target='phi4'), ValueError, 'target'),
    (dict(seed=1.5), TypeError, 'seed'),
    (dict(version=1), ValueError, 'version'),
    (dict(z2='odd'), ValueError, 'z2'),
    (dict(fourier_scale=1), TypeError, 'fourier_scale'),
    (dict(m2=1.), ValueError, 'm2'),
    (dict(target='phi4', m2=1.), ValueError, 'lam'),
    (dict(target='phi4', m2=1., lam=0.5, temperature=2.), ValueError,
     'temperature'),
    (dict(target='phi4', m2=1., lam=-0.5), ValueError, 'lam'),
    (dict(target='phi4', m2=1., lam=0.5, forward_kl_weight=1.), ValueError,
     'forward_kl_weight'),
    (dict(forward_kl_weight=-1.), ValueError, 'forward_kl_weight'),
    (dict(forward_kl_schedule='step'), ValueError, 'forward_kl_schedule'),
    (dict(lr_schedule='constant', forward_kl_schedule='cosine'), ValueError,
     'forward_kl_schedule'),
    (dict(buffer_size=0), ValueError, 'buffer_size'),
    (dict(buffer_refresh_sweeps=-1), ValueError, 'buffer_refresh_sweeps'),
    (dict(forward_batch_size=0), ValueError, 'forward_batch_size'),
])
def test_validation_names_the_field(fields, error, match):
  with pytest.raises(error, match=match):
    runs.RunConfig(**fields)


def test_from_json_refuses_unknown_fields():
  record = runs.RunConfig().to_dict()
  record['learning_rat'] = 1e-3
  with pytest.raises(ValueError, match='learning_rat'):
    runs.RunConfig.from_dict(record)
  with pytest.raises(TypeError, match='dict'):
    runs.RunConfig.from_dict([1, 2])


def test_reads_records_written_before_versions():
  """The flat dict `examples/train_ising.py` recorded before RunConfig."""
  legacy = dict(
      lattice_size=8, temperature=2.269185314213022, architecture='mera',
      depth=None, repeat=2, num_couplings=4, hidden_units=[32, 32],
      share_across_scales=False, symmetrize=True, batch_size=256,
      learning_rate=0.002, lr_schedule='cosine', clip_norm=100.0,
      gradient_estimator='reparameterization', seed=0, dtype='float32',
      num_steps=6000)
  assert runs.RunConfig.from_dict(legacy) == runs.RunConfig(
      forward_kl_weight=0., fourier_scale=False)
  tebd = dict(legacy, architecture='tebd', depth=3, lr_schedule='constant')
  del tebd['num_steps']
  config = runs.RunConfig.from_dict(tebd)
  assert (config.num_layers, config.repeat, config.depth) == (3, None, None)
  assert config.num_steps is None
  version_2 = dict(runs.RunConfig(lattice_size=4).to_dict(), version=2)
  del version_2['z2']
  for symmetrize, z2 in ((True, 'mixture'), (False, 'none')):
    assert runs.RunConfig.from_dict(dict(
        version_2, symmetrize=symmetrize)) == runs.RunConfig(lattice_size=4,
                                                             z2=z2)
  assert runs.RunConfig.from_dict(dict(legacy, symmetrize=False)).z2 == 'none'


def test_build_model_is_neural_rg_of_the_fields():
  config = runs.RunConfig(**TINY, repeat=1, seed=3, dtype='float64')
  model = config.build_model()
  assert isinstance(model, tfp_nrg.Symmetrized)
  reference = tfp_nrg.neural_rg(4, num_couplings=2, hidden_units=(8,),
                                seed=3, dtype=tf.float64, fourier_scale=True)
  assert len(model.trainable_variables) == len(reference.trainable_variables)
  for a, b in zip(model.trainable_variables, reference.trainable_variables):
    np.testing.assert_array_equal(a, b)
  assert (config.repeat, config.share_across_scales) == (1, False)
  assert runs.RunConfig().repeat == 2
  plain = runs.RunConfig(**TINY, z2='none', architecture='tebd',
                         num_layers=3)
  flow = tfp_nrg.distributions.flow_of(plain.build_model())
  assert isinstance(flow, tfp_nrg.bijectors.TEBD) and len(flow.layers) == 3
  assert not flow.z2_equivariant
  equivariant = runs.RunConfig(**TINY, z2='equivariant').build_model()
  assert not isinstance(equivariant, tfp_nrg.Symmetrized)
  assert tfp_nrg.distributions.flow_of(equivariant).z2_equivariant
  assert isinstance(tfp_nrg.distributions.flow_of(equivariant).fourier_scale,
                    tfp_nrg.bijectors.FourierScale)
  unscaled = runs.RunConfig(**TINY, fourier_scale=False).build_model()
  assert tfp_nrg.distributions.flow_of(unscaled).fourier_scale is None
  target = config.build_target()
  assert (target.lattice_size, target.dtype) == (4, tf.float64)
  assert config.build_target(temperature=3.).temperature == 3.


def test_train_then_load(tmp_path):
  config = runs.RunConfig(**TINY, seed=2)
  target, model = config.build_target(), config.build_model()
  trainer = config.build_trainer(model, target, jit_compile=False)
  assert trainer.batch_size == 16
  assert trainer.exact_log_normalizer == pytest.approx(
      target.exact_log_normalizer())
  model_dir = str(tmp_path / 'run')
  trainer.fit(config.num_steps, model_dir=model_dir, config=config.to_dict(),
              log_every=0)
  run = runs.load(model_dir)
  assert run.config == config and run.step == 3
  assert run.model_dir == model_dir
  assert run.target.temperature == config.temperature
  for a, b in zip(run.model.trainable_variables, model.trainable_variables):
    np.testing.assert_array_equal(a, b)
  assert runs.load(model_dir, temperature=3.).target.temperature == 3.
  with pytest.raises(ValueError, match='temperature'):
    runs.load(model_dir, temperature=-1.)
  with pytest.raises(ValueError, match='NeuralRG run, which has no continuous'):
    runs.load(model_dir, continuous_steps=20)
  assert runs.load(model_dir, sampling=True).config == config


def test_beta_annealing_run_builds_its_schedule():
  target = runs.RunConfig(**TINY).build_target()
  plain = runs.RunConfig(**TINY).build_trainer(
      runs.RunConfig(**TINY).build_model(), target, jit_compile=False)
  assert plain.target_scale is None
  config = runs.RunConfig(**TINY, beta_annealing=0.99)
  assert runs.RunConfig.from_dict(config.to_dict()) == config
  trainer = config.build_trainer(config.build_model(), target,
                                 jit_compile=False)
  assert float(trainer.target_scale(0)) == pytest.approx(0.01)
  assert float(trainer.target_scale(99)) == pytest.approx(1. - 0.99**100)


def test_mode_covering_run_builds_its_buffer():
  config = runs.RunConfig(**dict(TINY, forward_kl_weight=0.5),
                          forward_kl_schedule='cosine', buffer_size=64,
                          buffer_sweeps=5, forward_batch_size=8)
  target = config.build_target()
  trainer = config.build_trainer(config.build_model(), target,
                                 jit_compile=False)
  assert trainer.target_buffer.size == 64 and trainer.forward_batch_size == 8
  assert float(trainer.forward_kl_weight(0)) == pytest.approx(0.5)
  assert float(trainer.forward_kl_weight(3)) == pytest.approx(0.)
  draws = trainer.target_buffer.draws.numpy()
  assert np.all(np.isfinite(draws)) and draws.std() > 0.5
  again = config.build_target_buffer(target, jit_compile=False)
  np.testing.assert_array_equal(again.draws, draws)  # Seeded by the run.
  assert config.build_trainer(config.build_model(), target,
                              jit_compile=False).target_buffer is not None
  assert runs.RunConfig(**TINY).build_trainer(  # forward_kl_weight=0.
      config.build_model(), target, jit_compile=False).target_buffer is None


def test_phi4_runs(tmp_path):
  config = runs.RunConfig(**dict(TINY, lattice_size=4), target='phi4',
                          m2=-4., lam=8., z2='equivariant', seed=1)
  assert (config.forward_kl_weight, config.temperature) == (0., None)
  assert runs.RunConfig.from_dict(config.to_dict()) == config
  target, model = config.build_target(), config.build_model()
  assert isinstance(target, tfp_nrg.Phi4) and (target.m2, target.lam) == (
      -4., 8.)
  trainer = config.build_trainer(model, target, jit_compile=False)
  assert trainer.exact_log_normalizer is None
  trainer.fit(3, model_dir=str(tmp_path), config=config.to_dict(),
              log_every=0)
  run = runs.load(str(tmp_path))
  assert run.step == 3 and isinstance(run.target, tfp_nrg.Phi4)
  x = tf.random.stateless_normal([2, 4, 4], seed=(1, 2))
  np.testing.assert_allclose(run.model.log_prob(x), model.log_prob(x),
                             rtol=1e-6)
  with pytest.raises(ValueError, match='temperature'):
    runs.load(str(tmp_path), temperature=2.)
  free = dict(config.to_dict(), lam=0., m2=0.5)
  assert runs.RunConfig.from_dict(free).build_target().exact_log_normalizer()


def test_load_refuses_what_is_not_a_run(tmp_path):
  with pytest.raises(ValueError, match='holds no trained model'):
    runs.load(str(tmp_path))
  trainer = runs.RunConfig(**TINY).build_trainer(
      runs.RunConfig(**TINY).build_model(),
      runs.RunConfig(**TINY).build_target(), jit_compile=False)
  model_dir = str(tmp_path / 'run')
  trainer.fit(1, model_dir=model_dir, config={'lattice_size': 'four'},
              log_every=0)
  with pytest.raises(ValueError, match='not a valid RunConfig'):
    runs.load(model_dir)
  with open(os.path.join(model_dir, 'tfp_nrg_run.json'), 'w') as f:
    f.write('{broken')
  with pytest.raises(ValueError, match='not valid JSON'):
    runs.load(model_dir)


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
