r"""Train a NeuralRG on the dual 2D Ising model; compare with the exact result.

The project's main job. It trains a (Z2-symmetrized) NeuralRG flow by
minimising the variational free energy F = E_q[ln q - ln pi] >= -ln Z_dual,
evaluates it on a fresh batch (free-energy bound, importance-sampled ln Z,
effective sample size, independence-Metropolis acceptance, Ising energy) with
Kaufman's exact values beside, writes the figures as JSON (`--metrics_out`) and
a picture of generated configurations next to the checkpoints.

Usage:

  python examples/train_ising.py                       # L = 8 at T_c
  python examples/train_ising.py --lattice_size=16 --num_steps=20000 \
      --model_dir=runs/L16

A run resumes from `--model_dir` if it holds a run of the same configuration,
and refuses a directory that holds anything else.

Distributed training (`--strategy`): `mirrored` uses all local GPUs (or, with
`--cpu_replicas=N`, N logical CPU devices); `multi_worker` reads the cluster
from `TF_CONFIG`, one process per worker, each with its own `--model_dir`
(they hold identical models), e.g. on two hosts or ports:

  TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
              "task": {"type": "worker", "index": 0}}' \
      python examples/train_ising.py --strategy=multi_worker --model_dir=w0
  # and index 1, --model_dir=w1, on the other.

`--batch_size` is the global batch, split evenly over the replicas.
"""

import itertools
import json
import math
import os
import time

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

import tfp_nrg

_LATTICE_SIZE = flags.DEFINE_integer('lattice_size', 8,
                                     'Sites per side L (a power of two).')
_TEMPERATURE = flags.DEFINE_float('temperature',
                                  tfp_nrg.exact.CRITICAL_TEMPERATURE,
                                  'Temperature T (J = 1); default T_c.')
_ARCHITECTURE = flags.DEFINE_enum('architecture', 'mera',
                                  list(tfp_nrg.distributions.ARCHITECTURES),
                                  'NeuralRG architecture.')
_DEPTH = flags.DEFINE_integer('depth', None,
                              'Scales (mera, tree; default log2 L).')
_REPEAT = flags.DEFINE_integer(
    'repeat', None, 'Disentangler-decimator pairs per scale (mera, tree; '
    'default 2).')
_NUM_LAYERS = flags.DEFINE_integer('num_layers', None,
                                   'Patch layers (tebd; default 2).')
_NUM_COUPLINGS = flags.DEFINE_integer('num_couplings', 4,
                                      'Affine couplings per 2x2 block.')
_HIDDEN_UNITS = flags.DEFINE_list('hidden_units', ['32', '32'],
                                  'Conditioner MLP hidden widths.')
_SHARE = flags.DEFINE_bool('share_across_scales', None,
                           'Share blocks across scales (mera, tree; default '
                           'no).')
_SYMMETRIZE = flags.DEFINE_bool('symmetrize', True,
                                'Train the Z2-symmetrized mixture.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 256, 'Draws per step.')
_NUM_STEPS = flags.DEFINE_integer('num_steps', 6000, 'Training steps.')
_LEARNING_RATE = flags.DEFINE_float('learning_rate', 2e-3,
                                    'Adam learning rate (peak).')
_SCHEDULE = flags.DEFINE_enum('lr_schedule', 'cosine', ['cosine', 'constant'],
                              'Learning-rate schedule over --num_steps.')
_CLIP_NORM = flags.DEFINE_float('clip_norm', 100.,
                                'Global gradient-norm clip (0: none).')
_ESTIMATOR = flags.DEFINE_enum(
    'gradient_estimator', 'reparameterization',
    ['reparameterization', 'path'],
    'Reparameterization, or the path ("sticking the landing") gradient.')
_FORWARD_KL_WEIGHT = flags.DEFINE_float(
    'forward_kl_weight', 1.,
    'Weight w of the forward KL, -E_pi[ln q], added to the reverse KL '
    '(mode-covering training on a buffer of draws of pi); 0: reverse KL only.')
_FORWARD_KL_SCHEDULE = flags.DEFINE_enum(
    'forward_kl_schedule', 'constant', ['constant', 'cosine'],
    'Schedule of w over --num_steps.')
_FORWARD_BATCH_SIZE = flags.DEFINE_integer(
    'forward_batch_size', None, 'Buffer draws per step (default --batch_size).')
_BUFFER_SIZE = flags.DEFINE_integer('buffer_size', 4096,
                                    'Draws of pi in the training buffer.')
_BUFFER_SWEEPS = flags.DEFINE_integer(
    'buffer_sweeps', 1000, 'Checkerboard sweeps behind each buffer draw.')
_BUFFER_REFRESH_SWEEPS = flags.DEFINE_integer(
    'buffer_refresh_sweeps', 1,
    'Local-kernel sweeps applied to buffer draws each time they are used '
    '(0: a fixed buffer).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the whole run.')
_DTYPE = flags.DEFINE_enum('dtype', 'float32', ['float32', 'float64'],
                           'Floating-point precision.')
_JIT = flags.DEFINE_bool('jit_compile', True, 'Compile with XLA.')
_MODEL_DIR = flags.DEFINE_string(
    'model_dir', None,
    'Checkpoints, summaries and pictures; default a new runs/<name>.')
_METRICS_OUT = flags.DEFINE_string(
    'metrics_out', None, 'Metrics JSON; default <model_dir>/metrics.json.')
_EVAL_SAMPLES = flags.DEFINE_integer('eval_samples', 16384,
                                     'Fresh draws for the evaluation.')
_LOG_EVERY = flags.DEFINE_integer('log_every', 250,
                                  'Steps between progress lines.')
_TARGET_SAMPLES = flags.DEFINE_integer(
    'target_samples', 2048,
    'Independent draws of pi for the evaluation (spins by checkerboard '
    'Metropolis, fields exactly given the spins): honest ln Z error bars '
    'and a bridge-sampling ln Z. 0: none.')
_TARGET_SWEEPS = flags.DEFINE_integer(
    'target_sweeps', 2000, 'Metropolis sweeps behind each target draw.')
_STRATEGY = flags.DEFINE_enum(
    'strategy', 'default', ['default', 'mirrored', 'multi_worker', 'tpu'],
    'tf.distribute strategy: one device; all local GPUs (or the logical CPUs '
    'of --cpu_replicas); the workers of TF_CONFIG; the TPU of --tpu.')
_CPU_REPLICAS = flags.DEFINE_integer(
    'cpu_replicas', 0,
    'Split the CPU into this many logical devices (mirrored training '
    'without accelerators); 0: do not.')
_TPU = flags.DEFINE_string('tpu', '', 'TPU address for --strategy=tpu.')
_CHECKPOINT_EVERY = flags.DEFINE_integer('checkpoint_every', 500,
                                         'Steps between checkpoints.')
for _name, _minimum in (('eval_samples', 2), ('log_every', 0),
                        ('target_sweeps', 1), ('cpu_replicas', 0),
                        ('checkpoint_every', 1), ('num_steps', 0)):
  flags.register_validator(
      _name, lambda value, minimum=_minimum: value >= minimum,
      message='--{} must be at least {}.'.format(_name, _minimum))
flags.register_validator(
    'target_samples', lambda value: value == 0 or value >= 2,
    message='--target_samples must be 0 (none) or at least 2.')


def run_config():
  """The run the flags describe: a model directory only resumes the same one.
  """
  return tfp_nrg.runs.RunConfig(
      lattice_size=_LATTICE_SIZE.value, temperature=_TEMPERATURE.value,
      architecture=_ARCHITECTURE.value, depth=_DEPTH.value,
      repeat=_REPEAT.value, share_across_scales=_SHARE.value,
      num_layers=_NUM_LAYERS.value, num_couplings=_NUM_COUPLINGS.value,
      hidden_units=[int(h) for h in _HIDDEN_UNITS.value],
      symmetrize=_SYMMETRIZE.value, dtype=_DTYPE.value,
      batch_size=_BATCH_SIZE.value, num_steps=_NUM_STEPS.value,
      learning_rate=_LEARNING_RATE.value, lr_schedule=_SCHEDULE.value,
      clip_norm=_CLIP_NORM.value or None,
      gradient_estimator=_ESTIMATOR.value,
      forward_kl_weight=_FORWARD_KL_WEIGHT.value,
      forward_kl_schedule=_FORWARD_KL_SCHEDULE.value,
      forward_batch_size=_FORWARD_BATCH_SIZE.value,
      buffer_size=_BUFFER_SIZE.value, buffer_sweeps=_BUFFER_SWEEPS.value,
      buffer_refresh_sweeps=_BUFFER_REFRESH_SWEEPS.value, seed=_SEED.value)


def make_strategy():
  """The `tf.distribute` strategy of the flags; call before any other op."""
  if _CPU_REPLICAS.value > 1:
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * _CPU_REPLICAS.value)
  if _STRATEGY.value == 'mirrored':
    devices = None
    if not tf.config.list_physical_devices('GPU'):
      devices = [d.name for d in tf.config.list_logical_devices('CPU')]
    return tf.distribute.MirroredStrategy(devices)
  if _STRATEGY.value == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  if _STRATEGY.value == 'tpu':
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=_TPU.value)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  return tf.distribute.get_strategy()


def save_samples_png(model, target, path, seed):
  """Generated fields x and spins drawn from p(s | x), one column each."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  x = model.sample(8, seed=seed)
  spins = target.sample_spins(x, seed=tf.random.experimental.stateless_fold_in(
      seed, 1))
  fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
  limit = float(tf.reduce_max(tf.abs(x)))
  for i in range(8):
    axes[0, i].imshow(x[i], cmap='RdBu_r', vmin=-limit, vmax=limit)
    axes[1, i].imshow(spins[i], cmap='gray', vmin=-1, vmax=1)
    for ax in axes[:, i]:
      ax.set_xticks([])
      ax.set_yticks([])
  axes[0, 0].set_ylabel('field x')
  axes[1, 0].set_ylabel('spins s')
  fig.suptitle('NeuralRG samples, L = {}, T = {:.4f}'.format(
      target.lattice_size, target.temperature))
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def format_report(report, result, target, steps):
  """The human-readable summary printed at the end."""
  flat = tfp_nrg.evaluation.flatten(report)

  def pm(name, digits=4):
    stderr = flat[name + '_stderr']
    return '{:.{d}f} +- {}'.format(
        flat[name], '{:.{d}f}'.format(stderr, d=digits) if stderr < 1e3
        else '{:.1e}'.format(stderr), d=digits)
  chi_square = report.chi_square_divergence
  lines = [
      'NeuralRG on the dual 2D Ising model: L = {}, T = {:.6f}, {} steps '
      '({:.1f} s, {:.1f} steps/s this run)'.format(
          target.lattice_size, target.temperature, steps,
          result.train_seconds, result.steps_per_second),
      '  variational free energy  F = {}   exact -ln Z_dual = {:.4f}'.format(
          pm('free_energy_bound'), report.exact_free_energy),
      '  relative error (F - F_exact)/|F_exact| = {:.2e}   gap per site = '
      '{:.2e}'.format(report.relative_error, report.gap_per_site),
      '  ln Z_dual ({}) = {}   exact {:.4f}'.format(
          'bridge sampling with {} target draws'.format(_TARGET_SAMPLES.value)
          if chi_square is not None else 'importance sampling',
          pm('log_z_dual_estimate'), report.exact_log_z_dual),
      '  ESS fraction = {:.3f}   independence-Metropolis acceptance = '
      '{:.3f}'.format(report.ess_fraction, report.acceptance_rate),
  ]
  if chi_square is not None:
    lines.append(
        '  ln Z_dual (importance sampling alone) = {}{}   upper bound '
        'E_pi[ln w] = {:.4f}   chi^2(pi||q) = {:.3g}'.format(
            pm('log_z_dual_importance_estimate'),
            ' (unreliable: chi^2 exceeds the draws)'
            if chi_square > _EVAL_SAMPLES.value else '',
            report.log_z_dual_upper_bound, chi_square))
    lines.append('  KL(pi||q) = {:.3f} nats   KL(q||pi) = gap = {:.3f} '
                 'nats'.format(report.kl_target_to_model,
                               report.free_energy_bound.value +
                               report.log_z_dual_estimate.value))
  lines += [
      '  Ising ln Z = {}   exact {:.4f}'.format(
          pm('log_z_ising_estimate'), report.exact_log_z_ising),
      '  Ising free energy per site f = {}   exact {:.6f}'.format(
          pm('free_energy_per_site', 6), report.exact_free_energy_per_site),
      '  Ising energy per site (improved estimator) = {}   exact {:.6f}'.format(
          pm('energy_per_site'), report.exact_energy_per_site),
  ]
  if report.energy_per_site_target_draws is not None:
    lines.append('  Ising energy per site over the target draws = {}'.format(
        pm('energy_per_site_target_draws')))
  return '\n'.join(lines)


def unused_path(path):
  """`path`, or `stem.1.ext`, `stem.2.ext`, ...: the first that does not exist.
  """
  stem, extension = os.path.splitext(path)
  candidates = itertools.chain([path], ('{}.{}{}'.format(stem, i, extension)
                                        for i in itertools.count(1)))
  return next(p for p in candidates if not os.path.exists(p))


def metrics_path(model_dir):
  """Where the metrics go; checked before any work. Never overwrites a file.

  An explicit `--metrics_out` must not exist and its directory must be
  writable; by default a rerun of a finished run writes `metrics.1.json`
  beside the first run's `metrics.json`.
  """
  if not _METRICS_OUT.value:
    return unused_path(os.path.join(model_dir, 'metrics.json'))
  path = _METRICS_OUT.value
  if os.path.exists(path):
    raise ValueError('--metrics_out {!r} exists; refusing to overwrite '
                     'it.'.format(path))
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
    raise ValueError('--metrics_out {!r}: {!r} is not a writable '
                     'directory.'.format(path, directory))
  return path


def json_safe(figures):
  """`figures` with NaN and infinities as `None` (JSON `null`)."""
  return {k: None if isinstance(v, float) and not math.isfinite(v) else v
          for k, v in figures.items()}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # TF's per-checkpoint INFO lines.
  config = run_config()
  model_dir = _MODEL_DIR.value or os.path.join(
      'runs', 'ising_L{}_{}'.format(_LATTICE_SIZE.value,
                                    time.strftime('%Y%m%d-%H%M%S')))
  tfp_nrg.checkpoints.check_model_dir(model_dir, config.to_json())
  metrics_out = metrics_path(model_dir)
  strategy = make_strategy()
  target = config.build_target()
  with strategy.scope():
    model = config.build_model()
  if config.forward_kl_weight > 0.:
    print('Drawing {} configurations of pi for the training buffer ({} sweeps '
          'each)...'.format(config.buffer_size, config.buffer_sweeps),
          flush=True)
  trainer = config.build_trainer(model, target, jit_compile=_JIT.value,
                                 strategy=strategy)

  print('Training {} ({} parameters) in {} on {} replica(s)'.format(
      model.name, sum(int(tf.size(v)) for v in model.trainable_variables),
      model_dir, strategy.num_replicas_in_sync))
  result = trainer.fit(_NUM_STEPS.value, model_dir=model_dir,
                       config=config.to_json(), log_every=_LOG_EVERY.value,
                       checkpoint_every=_CHECKPOINT_EVERY.value)
  if result.interrupted:
    print('Interrupted at step {}; the checkpoint is saved in {}. Run the same '
          'command again to resume.'.format(int(trainer.step.numpy()),
                                            model_dir))
    return

  start = time.time()

  evaluation_seed = tf.random.experimental.stateless_fold_in(trainer.seed, -1)
  target_samples = None
  if _TARGET_SAMPLES.value:
    print('Evaluating: drawing {} configurations of pi ({} sweeps each), then '
          '{} of the model...'.format(_TARGET_SAMPLES.value,
                                      _TARGET_SWEEPS.value,
                                      _EVAL_SAMPLES.value), flush=True)
    target_samples = tf.function(
        lambda: target.sample_by_metropolis(
            _TARGET_SAMPLES.value, _TARGET_SWEEPS.value,
            tf.random.experimental.stateless_fold_in(evaluation_seed, 1)),
        jit_compile=_JIT.value, autograph=False)()
  results = tfp_nrg.evaluation.evaluate(
      model, target.log_prob, _EVAL_SAMPLES.value, seed=evaluation_seed,
      observables=tfp_nrg.observables.ising_observables(target),
      jit_compile=_JIT.value and strategy.num_replicas_in_sync == 1,
      target_samples=target_samples)
  report = tfp_nrg.observables.ising_report(target, results)
  steps = int(trainer.step.numpy())
  picture = os.path.join(model_dir, 'samples.png')
  save_samples_png(model, target, picture, seed=trainer.seed + 7)
  print(format_report(report, result, target, steps))
  non_finite = tfp_nrg.evaluation.non_finite(report)
  if non_finite:
    print('WARNING: {} are not finite: the flow and the target draws do not '
          'overlap enough to determine them (a poorly trained flow, or too '
          'few draws). They are written as null.'.format(', '.join(
              non_finite)))

  output = json_safe(tfp_nrg.evaluation.flatten(report))
  output.update(
      steps=steps, train_seconds=result.train_seconds,
      steps_per_second=result.steps_per_second,
      evaluation_seconds=time.time() - start, non_finite_figures=non_finite,
      model_dir=model_dir, samples_png=picture, config=config.to_json())
  with open(metrics_out, 'x') as f:
    json.dump(output, f, indent=2, sort_keys=True)
  print('Metrics written to {}; samples drawn in {}'.format(metrics_out,
                                                            picture))


if __name__ == '__main__':
  app.run(main)
