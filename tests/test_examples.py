"""The examples end to end, as a user runs them (slow: they train)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

import helpers
import tfp_nrg

T_C = tfp_nrg.exact.CRITICAL_TEMPERATURE


REQUIRED_KEYS = [
    'free_energy_bound', 'free_energy_bound_stderr', 'exact_dual_free_energy',
    'relative_error', 'gap_per_site', 'log_z_dual_estimate',
    'log_z_dual_estimate_stderr', 'ess_fraction', 'acceptance_rate',
    'energy_per_site', 'energy_per_site_stderr', 'exact_energy_per_site',
    'steps', 'train_seconds', 'steps_per_second', 'kl_target_to_model',
    'chi_square_divergence', 'log_z_dual_upper_bound'
]


SAMPLER_KEYS = [
    'acceptance_rate', 'energy_per_site', 'energy_per_site_stderr',
    'exact_energy_per_site', 'abs_magnetization', 'abs_magnetization_stderr',
    'ess_per_second', 'num_chains', 'num_steps', 'energy_z_score',
    'specific_heat_z_score', 'binder_cumulant', 'magnetization_squared',
    'specific_heat_per_site'
]


@pytest.mark.slow
def test_train_example_end_to_end(trained_example_run):
  assert 'relative error' in trained_example_run['process'].stdout
  metrics = json.loads(trained_example_run['metrics_out'].read_text())
  # A 30-step flow is poor: an error the draws cannot determine is null, and
  # named as such (the bridge sampling of this run does not converge).
  for key in REQUIRED_KEYS:
    assert isinstance(metrics[key], (int, float)) or (
        metrics[key] is None and key in metrics['non_finite_figures']), key
  for key in ('free_energy_bound', 'free_energy_bound_stderr',
              'relative_error', 'log_z_dual_estimate', 'energy_per_site',
              'kl_target_to_model', 'acceptance_rate'):
    assert isinstance(metrics[key], float), key
  assert metrics['steps'] == 30
  assert metrics['config']['forward_kl_weight'] == 1.
  assert 'KL(pi||q)' in trained_example_run['process'].stdout
  # KL(pi||q) = E_pi[ln w] - ln Z: non-negative up to the bridge's error.
  assert metrics['kl_target_to_model'] == pytest.approx(
      metrics['log_z_dual_upper_bound'] - metrics['log_z_dual_estimate'])
  assert metrics['kl_target_to_model'] > -3. * (
      metrics['log_z_dual_estimate_stderr'] or 0.)
  target = tfp_nrg.DualIsing(4, T_C)
  assert metrics['exact_dual_free_energy'] == pytest.approx(
      -target.exact_log_normalizer())
  assert metrics['relative_error'] == pytest.approx(
      (metrics['free_energy_bound'] - metrics['exact_dual_free_energy']) /
      abs(metrics['exact_dual_free_energy']))
  model_dir = trained_example_run['model_dir']
  assert (model_dir / 'samples.png').stat().st_size > 1000
  assert tf.train.latest_checkpoint(str(model_dir)) is not None


def assert_refused(commands, messages, model_dir):
  """Each command fails with its message, before `model_dir` is made.

  The commands run in one process (`helpers.run_examples`), each as its own
  would.
  """
  for command, message, done in zip(
      commands, messages, helpers.run_examples(*commands)):
    assert done.returncode != 0 and message in done.stderr, (
        command, done.stderr[-2000:])
    assert 'Training' not in done.stdout, command
  assert not model_dir.exists()


def test_train_example_checks_flags_before_any_work(tmp_path):
  refusals = [
      ('--eval_samples=1', '--eval_samples must be at least 2'),
      ('--target_samples=1', '--target_samples must be 0'),
      ('--target_sweeps=0', '--target_sweeps must be at least 1'),
      ('--learning_rate=0', 'learning_rate'),
      ('--beta_annealing=1', '`beta_annealing` must be in [0, 1)'),
      ('--num_steps=0', '--num_steps must be at least 1'),
      ('--metrics_out=/nonexistent/dir/m.json', 'not a writable directory'),
      ('--lattice_size=12', '--lattice_size must be a power of two >= 4'),
  ]
  # A directory of the user's own files is refused and left as it was.
  users = tmp_path / 'users'
  users.mkdir()
  (users / 'metrics.json').write_text('{"mine": 1}')
  model_dir = tmp_path / 'run'
  assert_refused(
      [('train_ising', *helpers.TRAIN_FLAGS, flag,
        '--model_dir={}'.format(model_dir)) for flag, _ in refusals] +
      [('train_ising', *helpers.TRAIN_FLAGS, '--model_dir={}'.format(users))],
      [message for _, message in refusals] + ['not empty'], model_dir)
  assert os.listdir(users) == ['metrics.json']
  assert (users / 'metrics.json').read_text() == '{"mine": 1}'


@pytest.mark.slow
def test_train_example_reruns_never_overwrite_a_run(trained_example_run,
                                                   tmp_path):
  """A rerun writes its metrics beside the saved ones; another configuration
  or an existing `--metrics_out` is refused, and the run left as it was."""
  saved = trained_example_run['model_dir']
  before = sorted(os.listdir(saved))
  model_dir = tmp_path / 'run'  # A copy: the run is shared by other tests.
  shutil.copytree(saved, model_dir)
  rerun = ('train_ising', *helpers.TRAIN_FLAGS, '--jit_compile=false',
           '--model_dir={}'.format(model_dir))  # Evaluation only: no XLA.
  other, refused, *reruns = helpers.run_examples(
      ('train_ising', *helpers.TRAIN_FLAGS, '--num_couplings=3',
       '--model_dir={}'.format(saved)),
      ('train_ising', *helpers.TRAIN_FLAGS, '--model_dir={}'.format(model_dir),
       '--metrics_out={}'.format(trained_example_run['metrics_out'])),
      rerun, rerun)
  assert other.returncode != 0 and 'num_couplings' in other.stderr
  assert sorted(os.listdir(saved)) == before
  assert refused.returncode != 0 and 'refusing to overwrite' in refused.stderr
  for name, done in zip(('metrics.json', 'metrics.1.json'), reruns):
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((model_dir / name).read_text())['steps'] == 30


@pytest.mark.slow
def test_sample_example_takes_a_run_of_the_default_flow(tmp_path):
  """A (tiny) hybrid run, the training example's default flow: the global-
  local chains and latent HMC run on it, with its Runge-Kutta steps named."""
  config = tfp_nrg.runs.RunConfig(
      lattice_size=4, flow='hybrid', num_steps=2, batch_size=8,
      z2='equivariant', hidden_units=(4,), num_couplings=1,
      forward_kl_weight=0., continuous_steps=2, continuous_features=2)
  target, model = config.build_target(), config.build_model()
  config.build_trainer(model, target, jit_compile=False).fit(
      2, model_dir=str(tmp_path / 'run'), config=config, log_every=0)
  out = tmp_path / 'sample.json'
  done = helpers.run_example(
      'sample_ising', '--model_dir={}'.format(tmp_path / 'run'),
      '--num_chains=4', '--num_steps=40', '--num_burnin_steps=10',
      '--latent_hmc', '--jit_compile=false', '--continuous_steps=4',
      '--metrics_out={}'.format(out))
  assert done.returncode == 0, done.stderr[-3000:]
  assert '4 Runge-Kutta steps' in done.stdout, done.stdout[-2000:]
  sampled = json.loads(out.read_text())
  assert sampled['kernel'] == 'global_local' and 'latent_hmc' in sampled
  for key in SAMPLER_KEYS:
    assert isinstance(sampled[key], (int, float)), key
  assert 0. <= sampled['acceptance_rate'] <= 1.


@pytest.mark.slow
def test_train_example_reports_a_poor_flow_at_l16(tmp_path):
  """Two training steps at L = 16: the flow's and the target's weights do
  not overlap. The run reports infinite errors instead of crashing, and its
  default evaluation and buffer are in proportion to the 2 x 16 draws of
  training, with progress lines. (Without XLA, which halves its time.)"""
  model_dir = tmp_path / 'run'
  done = helpers.run_example(
      'train_ising', '--lattice_size=16', '--flow=neural_rg',
      '--num_steps=2', '--batch_size=16',
      '--num_couplings=2', '--hidden_units=8', '--target_sweeps=20',
      '--jit_compile=false', '--model_dir={}'.format(model_dir))
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'WARNING' in done.stdout and 'written as null' in done.stdout
  for line in ('buffer draws: 32/32', 'target draws: 128/128',
               'model draws: 1024/1024'):
    assert line in done.stdout, done.stdout
  metrics = json.loads((model_dir / 'metrics.json').read_text())
  assert (metrics['eval_samples'], metrics['target_samples'],
          metrics['config']['buffer_size']) == (1024, 128, 32)
  assert metrics['log_z_dual_estimate_stderr'] is None
  assert 'log_z_dual_estimate_stderr' in metrics['non_finite_figures']
  assert metrics['energy_per_site_stderr'] is None or (
      metrics['energy_per_site_stderr'] > 0.)
  assert (model_dir / 'samples.png').stat().st_size > 1000


@pytest.mark.slow
def test_sample_example_end_to_end(trained_example_run, tmp_path):
  sample_out = tmp_path / 'sample.json'
  flags = ['--model_dir={}'.format(trained_example_run['model_dir']),
           '--num_chains=8', '--num_steps=60', '--num_burnin_steps=20',
           '--latent_hmc', '--metrics_out={}'.format(sample_out)]
  done = helpers.run_example('sample_ising', *flags)
  assert done.returncode == 0, done.stderr[-3000:]
  sampled = json.loads(sample_out.read_text())
  for key in SAMPLER_KEYS:
    assert isinstance(sampled[key], (int, float)), key
  assert sampled['exact_energy_per_site'] == pytest.approx(
      tfp_nrg.exact.ising_energy_per_site(4, T_C))
  assert sampled['kernel'] == 'global_local'
  assert 'latent_hmc' in sampled
  saved = {p: p.read_bytes() for p in trained_example_run['model_dir'].rglob(
      '*') if p.is_file()}
  written = sample_out.read_text()
  # The other kernels as TF graphs (XLA is the default run's, above), then
  # refusals; in one process.
  kernels = (('independence', 7), ('local', 0))
  *kernel_runs, other_temperature, existing_metrics, no_run = (
      helpers.run_examples(
          *[('sample_ising', flags[0], '--num_chains=8', '--num_steps=60',
             '--num_burnin_steps=20', '--kernel=' + kernel,
             '--jit_compile=false', '--adapt_steps={}'.format(adapt_steps),
             '--metrics_out={}'.format(tmp_path / '{}.json'.format(kernel)))
            for kernel, adapt_steps in kernels],
          ('sample_ising', *flags[:-1], '--temperature=3.0'),
          ('sample_ising', *flags),
          ('sample_ising', '--model_dir={}'.format(tmp_path / 'nothing'))))
  for (kernel, adapt_steps), done in zip(kernels, kernel_runs):
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / '{}.json'.format(kernel)).read_text())
    assert result['kernel'] == kernel
    assert (result['acceptance_rate'] == 1.) == (kernel == 'local')
    assert ('adapt_steps' in result) == bool(adapt_steps)
  adapted = json.loads((tmp_path / 'independence.json').read_text())
  assert adapted['adapt_steps'] == 7 and adapted['adapt_seconds'] > 0.
  assert 0. <= adapted['adapt_chain_acceptance_rate'] <= 1.
  # Adapting changes the loaded flow, never the saved run.
  assert {p: p.read_bytes() for p in trained_example_run['model_dir'].rglob(
      '*') if p.is_file()} == saved
  assert other_temperature.returncode != 0 and (
      'allow_other_temperature' in other_temperature.stderr)
  # A metrics file that exists is refused before any work, and kept.
  assert existing_metrics.returncode != 0 and (
      'refusing to overwrite' in existing_metrics.stderr)
  assert sample_out.read_text() == written
  assert no_run.returncode != 0 and 'holds no trained model' in no_run.stderr


PHI4_KEYS = ['free_energy_bound', 'acceptance_rate', 'ess_fraction', 'phi2',
             'abs_magnetization', 'susceptibility', 'binder_cumulant']


@pytest.mark.slow
def test_train_phi4_example_end_to_end(tmp_path):
  """A short free-field run: metrics with errors, the exact ln Z beside F.
  """
  model_dir = tmp_path / 'phi4'
  done = helpers.run_example(
      'train_phi4', '--lattice_size=4', '--m2=0.5', '--lam=0',
      '--flow=neural_rg', '--num_steps=40', '--batch_size=64',
      '--num_couplings=2',
      '--hidden_units=8', '--z2=equivariant', '--log_every=20',
      '--eval_samples=512', '--jit_compile=false', '--num_chains=8',
      '--sample_steps=40', '--num_burnin_steps=10',
      '--model_dir={}'.format(model_dir))
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'gap per site' in done.stdout and 'Binder' in done.stdout
  metrics = json.loads((model_dir / 'metrics.json').read_text())
  for key in PHI4_KEYS:
    assert isinstance(metrics[key], float), key
    assert isinstance(metrics[key + '_stderr'], float), key
  target = tfp_nrg.Phi4(4, m2=0.5, lam=0.)
  assert metrics['exact_log_z'] == pytest.approx(target.exact_log_normalizer())
  # The variational bound: F >= -ln Z up to its error.
  assert metrics['free_energy_bound'] > -metrics['exact_log_z'] - 4. * (
      metrics['free_energy_bound_stderr'])
  assert metrics['config']['target'] == 'phi4'
  assert len(metrics['two_point']) == 3
  # R-hat is reported, and warned of past 1.1 (these short chains from a
  # 40-step flow come out near 1.3).
  r_hat = metrics['phi2_potential_scale_reduction']
  assert 'R-hat of phi^2 across chains {:.3f}'.format(r_hat) in done.stdout
  assert ('the chains disagree' in done.stdout) == (r_hat > 1.1)
  assert (model_dir / 'samples.png').stat().st_size > 1000


def test_train_phi4_checks_flags_before_any_work(tmp_path):
  refusals = [
      ('--lam=-1', '`lam` must be non-negative'),
      ('--sample_steps=5', '--sample_steps must be at least 20'),
      ('--lattice_size=6', 'power of two'),
      ('--eval_continuous_steps=4', 'applies to the continuous and hybrid'),
      ('--continuous_channels=2', '`continuous_channels` applies to the'),
  ]
  model_dir = tmp_path / 'run'
  assert_refused(
      [('train_phi4', '--flow=neural_rg', '--model_dir={}'.format(model_dir),
        flag) for flag, _ in refusals],
      [message for _, message in refusals], model_dir)


CORE_FLAGS = {
    'train_ising': ('--lattice_size', '--num_steps', '--batch_size',
                    '--model_dir', '--flow', '--init_from', '--temperature'),
    'train_phi4': ('--lattice_size', '--num_steps', '--batch_size',
                   '--model_dir', '--flow', '--init_from', '--lam',
                   '--num_burnin_steps'),
    'sample_ising': ('--model_dir', '--num_chains', '--num_steps',
                     '--num_burnin_steps', '--kernel', '--continuous_steps'),
    'rg_analysis': ('--model_dir', '--output_dir', '--num_samples',
                    '--num_burnin_steps'),
    'benchmarks/train_step': ('--lattice_sizes', '--steps', '--jit',
                              '--flows'),
    'benchmarks/accelerator': ('--lattice_sizes', '--jit'),
    'benchmarks/sampling': ('--model_dirs', '--seconds', '--num_chains'),
    'benchmarks/phi4': ('--model_dirs', '--seconds', '--num_chains'),
    'benchmarks/continuous_solver': ('--lattice_size', '--num_steps'),
    'benchmarks/symmetrized': ('--model_dir', '--groups', '--num_samples'),
    'benchmarks/trajectory': ('--model_dirs', '--output', '--target_gap',
                              '--target_ess'),
}


def test_help_exits_0_and_lists_the_core_flags():
  """Every example and benchmark (in one process, each as its own would)."""
  for script, done in zip(CORE_FLAGS, helpers.run_examples(
      *[(script, '--help') for script in CORE_FLAGS])):
    assert done.returncode == 0, (script, done.stderr[-2000:])
    missing = [f for f in CORE_FLAGS[script] if f not in done.stdout]
    assert not missing, (script, missing)


def test_train_phi4_with_a_continuous_flow_reports_its_integration_error(
    tmp_path):
  """Free field at L = 6 (any L for the continuous flow): a valid bound,
  and the solver's error in ln q measured and recorded."""
  model_dir = tmp_path / 'cf'
  done = helpers.run_example(
      'train_phi4', '--lattice_size=6', '--m2=0.5', '--lam=0',
      '--flow=continuous', '--continuous_steps=2', '--continuous_features=2',
      '--num_steps=30', '--batch_size=32', '--log_every=10',
      '--eval_samples=256', '--jit_compile=false', '--num_chains=4',
      '--sample_steps=20', '--num_burnin_steps=4',
      '--model_dir={}'.format(model_dir))
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'Continuous flow on phi^4: L = 6' in done.stdout
  metrics = json.loads((model_dir / 'metrics.json').read_text())
  assert metrics['config']['flow'] == 'continuous'
  assert 0. <= metrics['integration_error'] < 0.01
  assert 'continuous-flow integration error in ln q' in done.stdout
  # Evaluated at twice the training steps, with the error at those.
  assert 'Evaluating with 4 Runge-Kutta steps' in done.stdout
  assert metrics['eval_continuous_steps'] == 4
  assert 0. <= metrics['eval_integration_error'] < 0.01
  assert metrics['free_energy_bound'] > -metrics['exact_log_z'] - 4. * (
      metrics['free_energy_bound_stderr'])


DEFAULTS_BY_FLAGS = [
    ((), dict(flow='hybrid', z2='equivariant', continuous_features=8,
              continuous_steps=10, num_steps=700, continuous_channels=None,
              fourier_scale=True, learning_rate=4e-3)),
    (('--flow=continuous',), dict(flow='continuous', z2='equivariant',
                                  continuous_features=8, num_steps=1000,
                                  learning_rate=2e-3)),
    (('--flow=neural_rg',), dict(flow='neural_rg', z2='mixture',
                                 num_steps=6000, learning_rate=2e-3)),
    (('--learning_rate=1e-3',), dict(flow='hybrid', learning_rate=1e-3)),
    (('--flow=neural_rg', '--z2=none', '--num_steps=7'),
     dict(flow='neural_rg', z2='none', num_steps=7)),
    (('--continuous_features=4',), dict(flow='hybrid',
                                        continuous_features=4)),
    (('--flow=continuous', '--continuous_channels=3'),
     dict(flow='continuous', continuous_channels=3)),
]


# The phi^4 example's hybrid has its own step count and rate; the other flows
# keep the shared defaults.
PHI4_DEFAULTS_BY_FLAGS = [
    ((), dict(flow='hybrid', z2='equivariant', continuous_features=8,
              num_steps=1500, fourier_scale=True, learning_rate=2e-3)),
    (('--flow=continuous',), dict(flow='continuous', num_steps=1000,
                                  learning_rate=2e-3)),
    (('--flow=neural_rg',), dict(flow='neural_rg', z2='mixture',
                                 num_steps=6000)),
    (('--num_steps=9',), dict(flow='hybrid', num_steps=9)),
]


@pytest.mark.parametrize('module,defaults_by_flags', [
    ('training_flags', DEFAULTS_BY_FLAGS),
    ('train_phi4', PHI4_DEFAULTS_BY_FLAGS),
])
def test_training_defaults_follow_the_flow(module, defaults_by_flags):
  """The examples' default flow is the hybrid, with the settings it was
  measured with for each target; a flag given wins over the flow's default.
  (One process imports the example and parses each command line in turn.)
  """
  code = ('import json, sys; sys.path.insert(0, "examples"); '
          'import training_flags, {}; from absl import flags\n'
          'for argv in json.loads(sys.argv[1]):\n'
          '  flags.FLAGS.unparse_flags(); flags.FLAGS(["x"] + argv)\n'
          '  print(training_flags.run_config().to_json().replace("\\n", ""))'
          ).format(module)
  done = subprocess.run(
      [sys.executable, '-c', code,
       json.dumps([list(flags) for flags, _ in defaults_by_flags])],
      cwd=helpers.ROOT, capture_output=True, text=True, timeout=300,
      check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  records = [json.loads(line) for line in done.stdout.splitlines()
             if line.startswith('{')]
  assert len(records) == len(defaults_by_flags)
  for record, (flags, expected) in zip(records, defaults_by_flags):
    assert {k: record.get(k, 'neural_rg' if k == 'flow' else None)
            for k in expected} == expected, flags


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
