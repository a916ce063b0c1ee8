"""Flags and steps the training examples share (train_ising, train_phi4).

Each training example defines its target's own flags and calls these: the
network, optimizer and run flags (`--lattice_size`, `--architecture`, ...,
`--model_dir`, `--metrics_out`, `--eval_samples`), a `RunConfig` built from
them, the model directory and metrics path checked before any work, and the
training loop with its console lines, checkpoints and interrupts.
"""

import json
import os
import time

from absl import flags
import tensorflow as tf

import tfp_nrg

LATTICE_SIZE = flags.DEFINE_integer(
    'lattice_size', 8, 'Sites per side L (a power of two, except for '
    '--flow=continuous).')
ARCHITECTURE = flags.DEFINE_enum('architecture', 'mera',
                                 list(tfp_nrg.distributions.ARCHITECTURES),
                                 'NeuralRG architecture.')
DEPTH = flags.DEFINE_integer('depth', None,
                             'Scales (mera, tree; default log2 L).')
REPEAT = flags.DEFINE_integer(
    'repeat', None, 'Disentangler-decimator pairs per scale (mera, tree; '
    'default 2).')
NUM_LAYERS = flags.DEFINE_integer('num_layers', None,
                                  'Patch layers (tebd; default 2).')
NUM_COUPLINGS = flags.DEFINE_integer('num_couplings', 4,
                                     'Affine couplings per 2x2 block.')
HIDDEN_UNITS = flags.DEFINE_list('hidden_units', ['32', '32'],
                                 'Conditioner MLP hidden widths.')
SHARE = flags.DEFINE_bool('share_across_scales', None,
                          'Share blocks across scales (mera, tree; default '
                          'no).')
Z2 = flags.DEFINE_enum(
    'z2', None, list(tfp_nrg.runs.Z2_SYMMETRIES),
    'Z2 symmetry of the model: the symmetrized mixture (q(x) + q(-x)) / 2, '
    'an equivariant flow (odd couplings, q(-x) = q(x) with one pass), or '
    'none (default: equivariant for the continuous and hybrid flows, mixture '
    'for NeuralRG).')
FOURIER_SCALE = flags.DEFINE_bool(
    'fourier_scale', True,
    'End the flow with a learned periodic convolution (FourierScale) that '
    'carries the Gaussian part of the correlations.')
FLOW = flags.DEFINE_enum(
    'flow', 'hybrid', list(tfp_nrg.runs.FLOWS),
    'The model: the equivariant continuous flow at the physical end of a '
    'NeuralRG (hybrid; the measured best on the Ising dual at L = 8, 16 and '
    '32 and on phi^4 at L = 8 and 16, docs/results.md); the continuous flow '
    'alone (after the Fourier scale with --fourier_scale; any L >= 2); or '
    'NeuralRG alone.')
CONTINUOUS_STEPS = flags.DEFINE_integer(
    'continuous_steps', None,
    'Runge-Kutta steps of the continuous flow (default 10).')
CONTINUOUS_FEATURES = flags.DEFINE_integer(
    'continuous_features', None,
    'Sine features of the continuous flow (default 8).')
CONTINUOUS_CHANNELS = flags.DEFINE_integer(
    'continuous_channels', None,
    'Channels of the continuous flow\'s hidden layer (non-linear mixing '
    'across the lattice; default 0: none).')
BATCH_SIZE = flags.DEFINE_integer('batch_size', 256, 'Draws per step.')
NUM_STEPS = flags.DEFINE_integer(
    'num_steps', None, 'Training steps (default 700 for the hybrid, 1000 for '
    'the continuous flow, 6000 for NeuralRG; the phi^4 example\'s hybrid: '
    '1500); 0 with --lr_schedule=constant evaluates the starting model '
    '(e.g. one --init_from gives).')
LEARNING_RATE = flags.DEFINE_float(
    'learning_rate', None,
    'Adam learning rate (peak; default 4e-3 for the hybrid, 2e-3 for the '
    'other flows and for the phi^4 example\'s hybrid).')
SCHEDULE = flags.DEFINE_enum('lr_schedule', 'cosine', ['cosine', 'constant'],
                             'Learning-rate schedule over --num_steps.')
CLIP_NORM = flags.DEFINE_float('clip_norm', 100.,
                               'Global gradient-norm clip (0: none).')
ESTIMATOR = flags.DEFINE_enum(
    'gradient_estimator', 'reparameterization',
    ['reparameterization', 'path'],
    'Reparameterization, or the path ("sticking the landing") gradient.')
BETA_ANNEALING = flags.DEFINE_float(
    'beta_annealing', 0.,
    'Beta annealing rate a in [0, 1): the reverse KL of step t fits '
    'pi^(1 - a^(t+1)) (e.g. 0.998); 0: none.')
SEED = flags.DEFINE_integer('seed', 0, 'Seed of the whole run.')
DTYPE = flags.DEFINE_enum('dtype', 'float32', ['float32', 'float64'],
                          'Floating-point precision.')
JIT = flags.DEFINE_bool('jit_compile', True, 'Compile with XLA.')
INIT_FROM = flags.DEFINE_string(
    'init_from', None,
    'Start a new run from the trained run in this directory (another L or '
    'coupling, the same architecture): every weight with a counterpart is '
    'copied.')
MODEL_DIR = flags.DEFINE_string(
    'model_dir', None,
    'Checkpoints, summaries and pictures; default a new runs/<name>.')
METRICS_OUT = flags.DEFINE_string(
    'metrics_out', None, 'Metrics JSON; default <model_dir>/metrics.json.')
EVAL_SAMPLES = flags.DEFINE_integer(
    'eval_samples', None,
    'Fresh draws for the evaluation; default min(16384, max(1024, the draws '
    'training made, --num_steps x --batch_size)).')
EVAL_CONTINUOUS_STEPS = flags.DEFINE_integer(
    'eval_continuous_steps', None,
    'Runge-Kutta steps of the continuous flow in the evaluation (default '
    'twice --continuous_steps): its solver error in ln q, on which F, ln Z, '
    'ESS and the chains rest, falls about 16-fold per doubling.')
LOG_EVERY = flags.DEFINE_integer('log_every', 250,
                                 'Steps between progress lines.')
CHECKPOINT_EVERY = flags.DEFINE_integer('checkpoint_every', 500,
                                        'Steps between checkpoints.')
for _name, _minimum in (('eval_samples', 2), ('log_every', 0),
                        ('checkpoint_every', 1), ('eval_continuous_steps', 1)):
  flags.register_validator(
      _name, lambda value, minimum=_minimum: value is None or value >= minimum,
      message='--{} must be at least {}.'.format(_name, _minimum))
# The cosine schedule decays over `num_steps`; a constant rate may take 0 steps
# (the starting model, e.g. a transferred one, is evaluated as it is).
flags.register_multi_flags_validator(
    ['num_steps', 'lr_schedule'],
    lambda values: values['num_steps'] is None or values['num_steps'] >= 1 or (
        values['num_steps'] == 0 and values['lr_schedule'] == 'constant'),
    message='--num_steps must be at least 1 (0, to evaluate the starting '
    'model, only with --lr_schedule=constant).')
flags.register_multi_flags_validator(
    ['eval_continuous_steps', 'flow'],
    lambda values: values['eval_continuous_steps'] is None or (
        values['flow'] != 'neural_rg'),
    message='--eval_continuous_steps applies to the continuous and hybrid '
    'flows only.')


def _lattice_size_fits_the_flow(values):
  """Whether `RunConfig` takes this L for this flow (its rule, not a copy)."""
  try:
    tfp_nrg.runs.RunConfig(lattice_size=values['lattice_size'],
                           flow=values['flow'])
  except ValueError:
    return False
  return True


flags.register_multi_flags_validator(
    ['lattice_size', 'flow'], _lattice_size_fits_the_flow,
    message='--lattice_size must be a power of two >= 4 for the NeuralRG and '
    'hybrid flows (--flow=continuous takes any L >= 2).')


# Defaults that depend on the flow, from the measured Ising runs
# (docs/results.md): in six to ten minutes at L = 8, the hybrid takes 700
# steps at a peak rate of 4e-3 (gap per site 1.05e-3, against 1.22e-3 for 800
# steps at 2e-3), the continuous flow 1000 (8 features each); NeuralRG needs
# 6000 for lesser figures. An example may set its own (`set_flow_defaults`).
FLOW_DEFAULTS = {
    'neural_rg': dict(num_steps=6000, z2='mixture', continuous_features=None,
                      learning_rate=2e-3),
    'continuous': dict(num_steps=1000, z2='equivariant', continuous_features=8,
                       learning_rate=2e-3),
    'hybrid': dict(num_steps=700, z2='equivariant', continuous_features=8,
                   learning_rate=4e-3),
}


def set_flow_defaults(flow, **defaults):
  """An example's own defaults for `--flow=flow`, over `FLOW_DEFAULTS`.

  Args:
    flow: A key of `FLOW_DEFAULTS`.
    **defaults: Values for some of its keys (`num_steps`, `z2`,
      `continuous_features`, `learning_rate`).

  Raises:
    ValueError: if `flow` or a key of `defaults` is not one of
      `FLOW_DEFAULTS`.
  """
  if flow not in FLOW_DEFAULTS:
    raise ValueError('`flow` must be one of {}, got {!r}.'.format(
        sorted(FLOW_DEFAULTS), flow))
  unknown = sorted(set(defaults) - set(FLOW_DEFAULTS[flow]))
  if unknown:
    raise ValueError('No flow default named {}; the defaults are {}.'.format(
        unknown, sorted(FLOW_DEFAULTS[flow])))
  FLOW_DEFAULTS[flow] = dict(FLOW_DEFAULTS[flow], **defaults)


def flow_default(holder):
  """The flag's value, or its default for the chosen `--flow`."""
  if holder.value is not None:
    return holder.value
  return FLOW_DEFAULTS[FLOW.value][holder.name]


def num_steps():
  """`--num_steps`, or its default for `--flow`."""
  return flow_default(NUM_STEPS)


def run_config(**target_fields):
  """The `RunConfig` of the shared flags and the target's `target_fields`."""
  return tfp_nrg.runs.RunConfig(
      lattice_size=LATTICE_SIZE.value, architecture=ARCHITECTURE.value,
      depth=DEPTH.value, repeat=REPEAT.value,
      share_across_scales=SHARE.value, num_layers=NUM_LAYERS.value,
      num_couplings=NUM_COUPLINGS.value,
      hidden_units=[int(h) for h in HIDDEN_UNITS.value], z2=flow_default(Z2),
      fourier_scale=FOURIER_SCALE.value,
      dtype=DTYPE.value, batch_size=BATCH_SIZE.value,
      num_steps=num_steps(), learning_rate=flow_default(LEARNING_RATE),
      lr_schedule=SCHEDULE.value, clip_norm=CLIP_NORM.value or None,
      gradient_estimator=ESTIMATOR.value,
      beta_annealing=BETA_ANNEALING.value, seed=SEED.value, flow=FLOW.value,
      continuous_steps=CONTINUOUS_STEPS.value,
      continuous_features=flow_default(CONTINUOUS_FEATURES),
      continuous_channels=CONTINUOUS_CHANNELS.value,
      init_from=INIT_FROM.value, **target_fields)


FLOW_NAMES = {'neural_rg': 'NeuralRG', 'continuous': 'Continuous flow',
              'hybrid': 'Continuous flow on NeuralRG'}


def eval_samples():
  """`--eval_samples`, or no more than training drew (1024 to 16384).

  A short trial run at large L is evaluated in proportion, not at the cost
  of a full one.
  """
  if EVAL_SAMPLES.value is not None:
    return EVAL_SAMPLES.value
  return min(16384, max(1024, num_steps() * BATCH_SIZE.value))


def prepare_run_dir(config, name):
  """`(model_dir, metrics_path)`, both checked before any work.

  The model directory is `--model_dir` or a new `runs/<name>_L<L>_<time>`; it
  must be new, empty or hold a run of `config`. The metrics go to an explicit
  `--metrics_out`, which must not exist, or else beside the run: a rerun of a
  finished run writes `metrics.1.json` next to the first `metrics.json`.
  """
  model_dir = MODEL_DIR.value or os.path.join(
      'runs', '{}_L{}_{}'.format(name, LATTICE_SIZE.value,
                                 time.strftime('%Y%m%d-%H%M%S')))
  tfp_nrg.checkpoints.check_model_dir(model_dir, config)
  if config.init_from:
    tfp_nrg.transfer.parent_config(config)
  if METRICS_OUT.value:
    metrics_path = tfp_nrg.checkpoints.check_new_file(METRICS_OUT.value,
                                                      '--metrics_out')
  else:
    metrics_path = tfp_nrg.checkpoints.unused_path(
        os.path.join(model_dir, 'metrics.json'))
  return model_dir, metrics_path


def train(trainer, config, model_dir):
  """`(trainer.fit's result, figures)` for `--num_steps`.

  The result is `None` if interrupted (checkpointed). A run with a
  continuous flow also logs the flow's integration error in `ln q` at every
  progress line; `figures` then holds its last value (`integration_error`,
  nats), else it is empty.

  Raises:
    SystemExit: with a message, if training diverged (a non-finite step).
  """
  model = trainer.model
  if config.init_from and tfp_nrg.checkpoints.latest_checkpoint(
      model_dir) is None:
    copied = tfp_nrg.transfer.start_from_parent(model, config)
    print('Started from {}: {} NeuralRG blocks, {} continuous-flow kernel '
          'orbits{} copied'.format(
              config.init_from, copied['blocks'], copied['orbits'],
              ', the Fourier spectrum' if copied['fourier_scale'] else ''))
  print('Training {} ({} parameters) in {} on {} replica(s)'.format(
      FLOW_NAMES[config.flow],
      sum(int(tf.size(v)) for v in model.trainable_variables), model_dir,
      trainer.strategy.num_replicas_in_sync))
  watch = []
  if config.flow != 'neural_rg':
    watch.append(tfp_nrg.hooks.IntegrationErrorHook(
        LOG_EVERY.value or CHECKPOINT_EVERY.value))
  try:
    result = trainer.fit(num_steps(), model_dir=model_dir,
                         config=config, log_every=LOG_EVERY.value,
                         checkpoint_every=CHECKPOINT_EVERY.value, hooks=watch)
  except FloatingPointError as error:
    raise SystemExit('Training diverged: {} Try a smaller --learning_rate or '
                     '--clip_norm in a new --model_dir.'.format(error))
  if result.interrupted:
    print('Interrupted at step {}; the checkpoint is saved in {}. Run the same '
          'command again to resume.'.format(int(trainer.step.numpy()),
                                            model_dir))
    return None, {}
  if watch and watch[0].errors:
    error = watch[0].errors[-1][1]
    print('Continuous-flow integration error in ln q: {:.2e} nats{}'.format(
        error, '' if error <= watch[0].tolerance else
        ' -- WARNING: the flow outruns its solver; its training F rests on a '
        'ln q that is not its density (the evaluation below integrates it '
        'with more steps). Retrain with more --continuous_steps.'))
    return result, dict(integration_error=error)
  return result, {}


def evaluation_model(model, config, model_dir, seed):
  """`(model, figures)`: the trained model as the evaluation takes it.

  A continuous flow is integrated there with `--eval_continuous_steps`
  Runge-Kutta steps (default twice those of training), restored from the
  run's last checkpoint (`runs.load`): every figure of the evaluation (F,
  ln Z, ESS, acceptance, the chains) is exact only up to the solver's error
  in `ln q`, and a bridge ln Z at the training steps can sit several errors
  off because of it. The line printed and `figures` give the steps and that
  error at them (`eval_continuous_steps`, `eval_integration_error`, nats,
  mean over 64 draws). A NeuralRG model is returned as it is, with no
  figures.
  """
  if config.flow == 'neural_rg':
    return model, {}
  steps = EVAL_CONTINUOUS_STEPS.value or config.sampling_continuous_steps
  if steps != config.continuous_steps:
    model = tfp_nrg.runs.load(model_dir, continuous_steps=steps).model
  error = float(tf.reduce_mean(
      tfp_nrg.distributions.integration_error(model, 64, seed)))
  print('Evaluating with {} Runge-Kutta steps of the continuous flow (trained '
        'with {}): integration error in ln q {:.2e} nats'.format(
            steps, config.continuous_steps, error), flush=True)
  return model, dict(eval_continuous_steps=steps,
                     eval_integration_error=error)


def write_metrics(path, figures, picture):
  """Writes `figures` as JSON (non-finite floats as `null`); never overwrites.

  If `path` was taken while the run worked (another process wrote it), the
  figures go to the first free `metrics.N.json` beside it instead.
  """
  claimed = tfp_nrg.checkpoints.claim_new_file(path)
  if claimed != path:
    print('{} appeared while this run worked; writing to {} instead.'.format(
        path, claimed))
  with open(claimed, 'w') as f:
    json.dump(tfp_nrg.evaluation.json_safe(figures), f, indent=2,
              sort_keys=True)
  print('Metrics written to {}; samples drawn in {}'.format(claimed, picture))
