"""Run directories, kernels, exact references and scripts on bad or odd input.

Each case gives a clear error before any work, or a correct result.
"""

import json
import math
import os
import shutil
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
import tfp_nrg
from tfp_nrg import checkpoints

tfd = tfp.distributions

SMALL = dict(lattice_size=4, num_steps=3, batch_size=8, hidden_units=(4,),
             num_couplings=2, forward_kl_weight=0.)


def _train(config, model_dir):
  target, model = config.build_target(), config.build_model()
  trainer = config.build_trainer(model, target, jit_compile=False)
  trainer.fit(config.num_steps, model_dir=str(model_dir), config=config,
              log_every=0)
  return trainer


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  """A finished 3-step L = 4 run (checkpoints at steps 0 and 3)."""
  model_dir = tmp_path_factory.mktemp('reliability') / 'run'
  config = tfp_nrg.runs.RunConfig(**SMALL)
  _train(config, model_dir)
  return config, model_dir


def _copy(run_dir, tmp_path):
  copy = tmp_path / 'copy'
  shutil.copytree(run_dir, copy)
  return copy


def _edit_record(model_dir, edit):
  path = model_dir / checkpoints.RUN_CONFIG_FILE
  record = json.loads(path.read_text())
  edit(record)
  path.write_text(json.dumps(record))


@pytest.mark.parametrize('edit', [
    lambda r: r.pop('fourier_scale'),
    lambda r: r.update(repeat=1),
    lambda r: r.update(depth=1),
    lambda r: r.update(architecture='tree'),
], ids=['no_fourier_scale', 'repeat_1', 'depth_1', 'tree'])
def test_a_record_that_disagrees_with_its_checkpoint_is_refused(
    finished_run, tmp_path, edit):
  _, run_dir = finished_run
  model_dir = _copy(run_dir, tmp_path)
  _edit_record(model_dir, edit)
  with pytest.raises(ValueError, match='does not match this model.*only in '
                     'the checkpoint'):
    tfp_nrg.runs.load(str(model_dir))


def test_a_restore_matches_every_variable_both_ways(finished_run, tmp_path):
  _, run_dir = finished_run
  run = tfp_nrg.runs.load(str(run_dir))
  bigger = tfp_nrg.runs.RunConfig(**dict(SMALL, repeat=3)).build_model()
  with pytest.raises(ValueError, match='does not match'):
    checkpoints.restore_latest(bigger, str(run_dir))
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(run_dir)))
  saved = {tuple(reader.get_tensor(k).ravel()[:3].tolist())
           for k, _ in tf.train.list_variables(str(run_dir))
           if 'VARIABLE_VALUE' in k and 'trainable_variables' in k}
  restored = {tuple(v.numpy().ravel()[:3].tolist())
              for v in run.model.trainable_variables}
  assert restored == saved and len(restored) == len(
      run.model.trainable_variables)
  del tmp_path


@pytest.mark.parametrize('damage', ['delete', 'empty', 'truncate'])
def test_a_lost_checkpoint_state_file_is_recovered(finished_run, tmp_path,
                                                   damage):
  config, run_dir = finished_run
  model_dir = _copy(run_dir, tmp_path)
  state = model_dir / 'checkpoint'
  if damage == 'delete':
    state.unlink()
  else:
    state.write_text(state.read_text()[:20 if damage == 'truncate' else 0])
  assert tfp_nrg.runs.load(str(model_dir)).step == 3
  data = sorted(p.name for p in model_dir.iterdir() if '.data-' in p.name)
  stamps = {n: os.stat(model_dir / n).st_mtime_ns for n in data}
  target, model = config.build_target(), config.build_model()
  trainer = config.build_trainer(model, target, jit_compile=False)
  with pytest.warns(UserWarning, match='recovered'):
    result = trainer.fit(5, model_dir=str(model_dir), config=config,
                         log_every=0)
  assert result.steps == 2  # Resumed at step 3, not restarted at 0.
  assert all(os.stat(model_dir / n).st_mtime_ns == stamps[n] for n in data)
  assert tf.train.latest_checkpoint(str(model_dir)).endswith('ckpt-5')


@pytest.mark.parametrize('content', [b'{"lattice_size": 4', b'', b'\xff\xfe',
                                     b'[1, 2]', b'null'])
def test_a_damaged_run_record_is_named(finished_run, tmp_path, content):
  config, run_dir = finished_run
  model_dir = _copy(run_dir, tmp_path)
  (model_dir / checkpoints.RUN_CONFIG_FILE).write_bytes(content)
  for call in (lambda: checkpoints.check_model_dir(str(model_dir), config),
               lambda: tfp_nrg.runs.load(str(model_dir))):
    with pytest.raises(ValueError, match='tfp_nrg_run.json.*damaged'):
      call()


def test_an_old_record_that_loads_also_resumes(finished_run, tmp_path):
  config, run_dir = finished_run
  model_dir = _copy(run_dir, tmp_path)

  def to_version_2(record):
    record['version'] = 2
    record['symmetrize'] = record.pop('z2') == 'mixture'
  _edit_record(model_dir, to_version_2)
  assert tfp_nrg.runs.load(str(model_dir)).config == config
  assert checkpoints.check_model_dir(str(model_dir), config) == (
      config.to_dict())


def test_unwritable_model_directories_are_refused_before_work(tmp_path):
  config = tfp_nrg.runs.RunConfig(**SMALL)
  afile = tmp_path / 'afile'
  afile.write_text('mine')
  with pytest.raises(ValueError, match='is a file'):
    checkpoints.check_model_dir(str(afile / 'run'), config)
  # /proc takes no new files, even from root.
  with pytest.raises(ValueError, match='cannot write'):
    checkpoints.check_model_dir('/proc/tfp_nrg_run', config)
  with pytest.raises(ValueError, match='--metrics_out'):
    checkpoints.check_new_file('/proc/metrics.json', '--metrics_out')
  assert afile.read_text() == 'mine'


def test_claim_new_file_never_takes_a_path_someone_wrote(tmp_path):
  path = str(tmp_path / 'metrics.json')
  (tmp_path / 'metrics.json').write_text('theirs')
  claimed = checkpoints.claim_new_file(path)
  assert claimed == str(tmp_path / 'metrics.1.json')
  assert (tmp_path / 'metrics.json').read_text() == 'theirs'
  assert checkpoints.claim_new_file(path) == str(tmp_path / 'metrics.2.json')


class _BrokenNormal(tfd.Independent):
  """N(0, 1.5^2) on [2] whose log-density is NaN where x0 > 1."""

  def _log_prob(self, x):
    log_prob = super()._log_prob(x)
    return tf.where(x[..., 0] > 1., tf.constant(np.nan, log_prob.dtype),
                    log_prob)

  def _sample_and_log_prob(self, sample_shape, seed, **kwargs):
    x = self.sample(sample_shape, seed=seed)
    return x, self._log_prob(x)


def _broken_proposal_and_target():
  proposal = _BrokenNormal(tfd.Normal(tf.zeros(2), 1.5), 1)
  target = tfd.Independent(tfd.Normal(tf.zeros(2), 1.), 1).log_prob
  return proposal, target


def test_independence_metropolis_never_steps_on_a_nan_density_and_says_so():
  proposal, target = _broken_proposal_and_target()
  kernel = tfp_nrg.mcmc.IndependenceMetropolis(target, proposal)
  with pytest.warns(RuntimeWarning, match='non-finite'):
    states, accepted, flags = tfp_nrg.mcmc.run_chains(
        kernel, tf.zeros([32, 2]), 100, seed=(1, 2), return_non_finite=True)
  assert not np.any(states[..., 0] > 1.)   # No step into the NaN region.
  assert not np.any(accepted & flags)
  # The flags are those of the proposals that landed in the NaN region.
  assert 0.1 < float(np.mean(flags)) < 0.4


def test_global_local_never_force_accepts_away_from_a_nan_density():
  proposal, target = _broken_proposal_and_target()
  kernel = tfp_nrg.mcmc.GlobalLocal(
      target, proposal, tfp.mcmc.RandomWalkMetropolis(target))
  with pytest.warns(RuntimeWarning, match='non-finite'):
    _, accepted, flags = tfp_nrg.mcmc.run_chains(
        kernel, tf.zeros([32, 2]), 100, seed=(1, 2), return_non_finite=True)
  assert np.any(flags)
  assert not np.any(accepted & flags)


def test_a_local_kernel_of_another_target_is_refused():
  target = tfp_nrg.DualIsing(4, tfp_nrg.exact.CRITICAL_TEMPERATURE)
  flow = tfp_nrg.neural_rg(4, num_couplings=1, hidden_units=(2,))
  with pytest.raises(ValueError, match='another target.*temperature'):
    tfp_nrg.mcmc.GlobalLocal(target.log_prob, flow,
                             tfp_nrg.DualIsing(4, 5.).local_kernel())
  same = tfp_nrg.DualIsing(4, tfp_nrg.exact.CRITICAL_TEMPERATURE)
  tfp_nrg.mcmc.GlobalLocal(target.log_prob, flow, same.local_kernel())


@pytest.mark.parametrize('num_results,num_burnin_steps,error', [
    (0, 0, ValueError), (-1, 0, ValueError), (2.5, 0, TypeError),
    (3, -5, ValueError)])
def test_run_chains_checks_its_counts(num_results, num_burnin_steps, error):
  kernel = tfp.mcmc.RandomWalkMetropolis(tfd.Normal(0., 1.).log_prob)
  with pytest.raises(error, match='num_results|num_burnin_steps'):
    tfp_nrg.mcmc.run_chains(kernel, tf.zeros([2]), num_results,
                            num_burnin_steps, seed=(1, 2))


def _enumerated_ising(temperature):
  """`(ln Z, E/N, C/N)` of the 4 x 4 torus by enumeration, stable at any T.

  Above T = 1 the weights are written `1 + expm1(-E / T)` and the energy sum
  `sum g E = 0` is dropped, so nothing cancels as T grows; below, they are
  normalized in the log domain.
  """
  _, energies, _ = helpers.ising_enumeration(4, 4, 1.)
  values, counts = np.unique(energies, return_counts=True)
  log_weights = np.log(counts) - values / temperature
  shift = log_weights.max()
  log_z = shift + math.log(np.sum(np.exp(log_weights - shift)))
  if temperature < 1.:
    probabilities = np.exp(log_weights - log_z)
    mean = np.sum(probabilities * values)
    variance = np.sum(probabilities * (values - mean)**2)
  else:
    excess = np.expm1(-values / temperature)
    z = counts.sum() + np.sum(counts * excess)
    mean = np.sum(counts * values * excess) / z
    variance = np.sum(counts * values**2 * (1. + excess)) / z - mean**2
  return log_z, mean / 16., variance / temperature / temperature / 16.


@pytest.mark.parametrize('temperature', [0.05, 0.2, 0.5, 2.269185, 10.,
                                         100., 1e3])
def test_exact_energy_agrees_with_enumeration_wherever_accepted(temperature):
  log_z, energy, heat = _enumerated_ising(temperature)
  assert tfp_nrg.exact.ising_log_z(4, temperature) == pytest.approx(
      log_z, rel=1e-13)
  assert tfp_nrg.exact.ising_energy_per_site(4, temperature) == pytest.approx(
      energy, rel=1e-8)
  if temperature < tfp_nrg.exact.MIN_SPECIFIC_HEAT_TEMPERATURE:
    with pytest.raises(ValueError, match='temperature.*at least'):
      tfp_nrg.exact.ising_specific_heat_per_site(4, temperature)
  else:
    assert tfp_nrg.exact.ising_specific_heat_per_site(
        4, temperature) == pytest.approx(heat, rel=1e-7)


@pytest.mark.parametrize('temperature', [1e4, 1e5, 1e8, 1e300])
def test_exact_references_above_their_range(temperature):
  log_z, _, _ = _enumerated_ising(temperature)
  assert tfp_nrg.exact.ising_log_z(4, temperature) == pytest.approx(
      log_z, rel=1e-14)
  with pytest.raises(ValueError, match='temperature.*at most'):
    tfp_nrg.exact.ising_energy_per_site(4, temperature)
  with pytest.raises(ValueError, match='temperature.*at most'):
    tfp_nrg.exact.ising_specific_heat_per_site(4, temperature)
  target = tfp_nrg.DualIsing(4, temperature, dtype=tf.float64)
  assert math.isfinite(target.exact_log_normalizer())
  with pytest.raises(NotImplementedError, match='at most'):
    target.exact_energy_per_site()


@pytest.mark.parametrize('dtype', [tf.float32, tf.float64])
def test_temperatures_too_low_for_the_dtype_are_refused(dtype):
  with pytest.raises(ValueError, match='temperature.*too low'):
    tfp_nrg.DualIsing(4, 2e-15, dtype=dtype)
  with pytest.raises(ValueError, match='temperature.*too low'):
    tfp_nrg.runs.RunConfig(temperature=1e-20, dtype=dtype.name)
  target = tfp_nrg.DualIsing(4, 1e-3, dtype=dtype)  # Resolved: accepted.
  x = target.sample_by_metropolis(4, num_sweeps=2, seed=(1, 2))
  assert np.all(np.isfinite(target.log_prob(x)))


@pytest.mark.parametrize('field,value,error', [
    ('conditioner_dtype', 'bogus', ValueError),
    ('share_across_scales', 'no', TypeError),
    ('fourier_scale', 'no', TypeError),
    ('depth', 3, ValueError),
])
def test_run_config_refuses_values_it_cannot_use(field, value, error):
  with pytest.raises(error, match=field):
    tfp_nrg.runs.RunConfig(**dict(SMALL, **{field: value}))


def test_run_config_normalises_numpy_scalars_and_dtypes():
  config = tfp_nrg.runs.RunConfig(lattice_size=np.int64(8),
                                  temperature=np.float32(2.),
                                  dtype=tf.float64,
                                  hidden_units=[np.int32(4)])
  assert type(config.lattice_size) is int  # pylint: disable=unidiomatic-typecheck
  assert config.temperature == 2. and config.dtype == 'float64'
  assert config.hidden_units == (4,)
  assert json.loads(json.dumps(config.to_dict()))['lattice_size'] == 8


def test_phi4_works_at_unknown_rank_and_refuses_unrepresentable_parameters():
  target = tfp_nrg.Phi4(4, -4., 4.5)
  fields = tf.random.stateless_normal([3, 4, 4], seed=(1, 2))
  unknown_rank = tf.function(target.log_prob,
                             input_signature=[tf.TensorSpec(None)])
  np.testing.assert_allclose(unknown_rank(fields), target.log_prob(fields),
                             rtol=1e-6)
  with pytest.raises(ValueError, match='m2.*float32'):
    tfp_nrg.Phi4(4, 1e300, 1.)
  assert np.isfinite(tfp_nrg.Phi4(4, 1e300, 1., dtype=tf.float64).log_prob(
      tf.fill([4, 4], tf.constant(0.5, tf.float64))))


def test_minor_bad_inputs_name_the_argument():
  with pytest.raises(ValueError, match='coupling_matrix'):
    tfp_nrg.DualIsing.from_coupling_matrix(np.zeros([0, 0]))
  with pytest.raises(ValueError, match='initial_log_spectrum'):
    tfp_nrg.bijectors.FourierScale(4, initial_log_spectrum=np.full([4, 4],
                                                                   1e3))
  with pytest.raises(TypeError, match='hidden_units'):
    tfp_nrg.neural_rg(4, hidden_units=None)
  with pytest.raises(ValueError, match='seed'):
    tfp_nrg.neural_rg(4, seed=(1, 2, 3))
  with pytest.raises(TypeError, match='fourier_scale'):
    tfp_nrg.neural_rg(4, fourier_scale='no')
  with pytest.raises(ValueError, match='latent_scales'):
    tfp_nrg.bijectors.latent_scales(tf.zeros([2, 8, 8]), 4)


def test_scripts_check_their_flags_and_runs_before_work(finished_run,
                                                        tmp_path):
  _, run_dir = finished_run
  phi4_dir = tmp_path / 'phi4'
  _train(tfp_nrg.runs.RunConfig(**dict(SMALL, target='phi4', m2=-4.,
                                       lam=4.5)), phi4_dir)
  listing = sorted(os.listdir(run_dir))
  few_steps, *other_targets, few_samples = helpers.run_examples(
      ('sample_ising', '--model_dir={}'.format(run_dir), '--num_steps=19'),
      *[(script, '--model_dir={}'.format(phi4_dir))
        for script in ('sample_ising', 'rg_analysis')],
      ('rg_analysis', '--model_dir={}'.format(run_dir), '--num_samples=16'))
  assert few_steps.returncode != 0 and '--num_steps must be at least 20' in (
      few_steps.stderr)
  for done in other_targets:
    assert done.returncode != 0
    assert "holds a 'phi4' run; this needs a 'dual_ising' run" in done.stderr
  assert few_samples.returncode != 0 and (
      '--num_samples must be at least 18' in few_samples.stdout +
      few_samples.stderr)
  assert sorted(os.listdir(run_dir)) == listing   # No output directory left.


def test_symmetrized_benchmark_compares_groups_on_one_run(finished_run):
  """A row per group, with its order and finite figures; a bad product of
  groups is refused while the flags are parsed."""
  _, run_dir = finished_run
  refusals = (('z2+z2', 'distinct groups'), ('rotations', 'must be one of'))
  done, *refused = helpers.run_examples(
      ('benchmarks/symmetrized', '--model_dir={}'.format(run_dir),
       '--groups=none,dihedral+translations', '--num_samples=64'),
      *[('benchmarks/symmetrized', '--model_dir={}'.format(run_dir),
         '--groups={}'.format(groups)) for groups, _ in refusals])
  assert done.returncode == 0, done.stderr[-2000:]
  rows = [line.split('|')[1:-1] for line in done.stdout.splitlines()
          if line.startswith('| none') or line.startswith('| dihedral')]
  assert [(row[0].strip(), int(row[1])) for row in rows] == [
      ('none', 1), ('dihedral+translations', 128)]
  for row in rows:
    free_energy, gap, ess = (row[2].split()[0], row[3], row[4].split()[0])
    assert all(math.isfinite(float(v)) for v in (free_energy, gap, ess)), row
  for (_, message), done in zip(refusals, refused):
    assert done.returncode != 0 and message in done.stderr, done.stderr[-800:]


def test_an_exported_model_refuses_a_negative_count(tmp_path):
  model = tfp_nrg.neural_rg(4, num_couplings=1, hidden_units=(2,))
  sampler = tf.saved_model.load(tfp_nrg.export(model, str(tmp_path / 'm')))
  assert sampler.sample(tf.constant(2), tf.constant([1, 2]))['x'].shape == (
      2, 4, 4)
  for signature in (sampler.sample, sampler.sample_and_log_prob):
    with pytest.raises(tf.errors.InvalidArgumentError, match='`n`'):
      signature(tf.constant(-1), tf.constant([1, 2]))
