r"""Train a flow on the dual 2D Ising model; compare with the exact result.

The project's main job. It trains a Z2-invariant flow (by default the hybrid:
a NeuralRG, a Fourier scale and the equivariant continuous flow at its
physical end, 700 steps at a peak rate of 4e-3, the measured best at L = 8,
16 and 32; `--flow=continuous` for the continuous flow alone at any L,
`--flow=neural_rg` for a NeuralRG) by minimising the variational free energy
F = E_q[ln q - ln pi] >= -ln Z_dual, evaluates it on a fresh batch
(free-energy bound, importance-sampled ln Z, effective sample size,
independence-Metropolis acceptance, Ising energy) with Kaufman's exact values
beside, writes the figures as JSON (`--metrics_out`) and
a picture of generated configurations next to the checkpoints.

Usage:

  python examples/train_ising.py --model_dir=runs/L8   # L = 8 at T_c
  python examples/train_ising.py --lattice_size=16 --batch_size=128 \
      --num_steps=1400 --learning_rate=1e-3 --init_from=runs/L8 \
      --model_dir=runs/L16

A run resumes from `--model_dir` if it holds a run of the same configuration,
and refuses a directory that holds anything else. The network, optimizer and
run flags (`--lattice_size`, `--architecture`, `--z2`, `--num_steps`, ...) are
those of every training example (`training_flags.py`); the flags below are the
Ising target's, its mode-covering buffer's and its evaluation's.

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

import math
import os
import time

from absl import flags
from absl import logging
import tensorflow as tf

import cli
import tfp_nrg
import training_flags

# --help lists the shared flags beside the script's own.
flags.adopt_module_key_flags(training_flags)

_TEMPERATURE = flags.DEFINE_float('temperature',
                                  tfp_nrg.exact.CRITICAL_TEMPERATURE,
                                  'Temperature T (J = 1); default T_c.')
_FORWARD_KL_WEIGHT = flags.DEFINE_float(
    'forward_kl_weight', 1.,
    'Weight w of the forward KL, -E_pi[ln q], added to the reverse KL '
    '(mode-covering training on a buffer of draws of pi); 0: reverse KL only.')
_FORWARD_KL_SCHEDULE = flags.DEFINE_enum(
    'forward_kl_schedule', 'constant', ['constant', 'cosine'],
    'Schedule of w over --num_steps.')
_FORWARD_BATCH_SIZE = flags.DEFINE_integer(
    'forward_batch_size', None, 'Buffer draws per step (default --batch_size).')
_BUFFER_SIZE = flags.DEFINE_integer(
    'buffer_size', None,
    'Draws of pi in the training buffer; default min(4096, the buffer draws '
    'training uses, --num_steps x the forward batch).')
_BUFFER_SWEEPS = flags.DEFINE_integer(
    'buffer_sweeps', 1000, 'Checkerboard sweeps behind each buffer draw.')
_BUFFER_REFRESH_SWEEPS = flags.DEFINE_integer(
    'buffer_refresh_sweeps', 1,
    'Local-kernel sweeps applied to buffer draws each time they are used '
    '(0: a fixed buffer).')
_TARGET_SAMPLES = flags.DEFINE_integer(
    'target_samples', None,
    'Independent draws of pi for the evaluation (spins by checkerboard '
    'Metropolis, fields exactly given the spins): honest ln Z error bars '
    'and a bridge-sampling ln Z. 0: none; default an eighth of the '
    'evaluation draws (2048 of 16384).')
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
for _name, _minimum in (('target_sweeps', 1), ('cpu_replicas', 0),
                        ('buffer_size', 1)):
  flags.register_validator(
      _name, lambda value, minimum=_minimum: value is None or value >= minimum,
      message='--{} must be at least {}.'.format(_name, _minimum))
flags.register_validator(
    'target_samples', lambda value: value is None or value == 0 or value >= 2,
    message='--target_samples must be 0 (none) or at least 2.')


def evaluation_budget():
  """`(eval_samples, target_samples)`: the flags', or in proportion to the run.

  By default (`training_flags.eval_samples`) the evaluation draws no more of
  the model than training did, and an eighth as many of pi.
  """
  eval_samples = training_flags.eval_samples()
  target_samples = _TARGET_SAMPLES.value
  if target_samples is None:
    target_samples = eval_samples // 8
  return eval_samples, target_samples


def buffer_size():
  """`--buffer_size`, or min(4096, the buffer draws training will use)."""
  if _BUFFER_SIZE.value is not None:
    return _BUFFER_SIZE.value
  forward_batch = _FORWARD_BATCH_SIZE.value or training_flags.BATCH_SIZE.value
  return min(4096, max(forward_batch,
                       training_flags.num_steps() * forward_batch))


def run_config():
  """The run the flags describe: a model directory only resumes the same one.
  """
  return training_flags.run_config(
      temperature=_TEMPERATURE.value,
      forward_kl_weight=_FORWARD_KL_WEIGHT.value,
      forward_kl_schedule=_FORWARD_KL_SCHEDULE.value,
      forward_batch_size=_FORWARD_BATCH_SIZE.value,
      buffer_size=buffer_size(), buffer_sweeps=_BUFFER_SWEEPS.value,
      buffer_refresh_sweeps=_BUFFER_REFRESH_SWEEPS.value)


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
  if not math.isfinite(limit):  # A diverged model.
    limit = 1.
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


def format_report(report, result, target, steps, budget, flow):
  """The human-readable summary printed at the end."""
  eval_samples, target_samples = budget
  flat = tfp_nrg.evaluation.flatten(report)

  def pm(name, digits=4):
    stderr = flat[name + '_stderr']
    return '{:.{d}f} +- {}'.format(
        flat[name], '{:.{d}f}'.format(stderr, d=digits) if stderr < 1e3
        else '{:.1e}'.format(stderr), d=digits)
  chi_square = report.chi_square_divergence
  lines = [
      '{} on the dual 2D Ising model: L = {}, T = {:.6f}, {} steps '
      '({:.1f} s, {:.1f} steps/s this run)'.format(
          training_flags.FLOW_NAMES[flow], target.lattice_size,
          target.temperature, steps,
          result.train_seconds, result.steps_per_second),
      '  variational free energy  F = {}   exact -ln Z_dual = {:.4f}'.format(
          pm('free_energy_bound'), report.exact_dual_free_energy),
      '  relative error (F - F_exact)/|F_exact| = {:.2e}   gap per site = '
      '{:.2e}'.format(report.relative_error, report.gap_per_site),
      '  ln Z_dual ({}) = {}   exact {:.4f}'.format(
          'bridge sampling with {} target draws'.format(target_samples)
          if chi_square is not None else 'importance sampling',
          pm('log_z_dual_estimate'), report.exact_log_z_dual),
      '  ESS fraction = {}   independence-Metropolis acceptance = '
      '{}'.format(pm('ess_fraction', 3), pm('acceptance_rate', 3)),
  ]
  if chi_square is not None:
    lines.append(
        '  ln Z_dual (importance sampling alone) = {}{}   upper bound '
        'E_pi[ln w] = {:.4f}   chi^2(pi||q) = {:.3g}'.format(
            pm('log_z_dual_importance_estimate'),
            ' (unreliable: chi^2 exceeds the draws)'
            if chi_square > eval_samples else '',
            report.log_z_dual_upper_bound, chi_square))
    lines.append('  KL(pi||q) = {:.3f} nats   KL(q||pi) = gap = {:.3f} '
                 'nats'.format(report.kl_target_to_model,
                               report.free_energy_bound.value +
                               report.log_z_dual_estimate.value))
  lines += [
      '  Ising ln Z = {}   exact {:.4f}'.format(
          pm('log_z_ising_estimate'), report.exact_log_z_ising),
      '  Ising free energy per site f = {}   exact {:.6f}'.format(
          pm('ising_free_energy_per_site', 6),
          report.exact_ising_free_energy_per_site),
      '  Ising energy per site (improved estimator) = {}   exact {:.6f}'.format(
          pm('energy_per_site'), report.exact_energy_per_site),
  ]
  if report.energy_per_site_target_draws is not None:
    lines.append('  Ising energy per site over the target draws = {}'.format(
        pm('energy_per_site_target_draws')))
  if report.log_z_warning:
    lines.append('  Warning: ' + report.log_z_warning)
  return '\n'.join(lines)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # TF's per-checkpoint INFO lines.
  config = run_config()
  model_dir, metrics_out = training_flags.prepare_run_dir(config, 'ising')
  strategy = make_strategy()
  jit_compile = training_flags.JIT.value
  target = config.build_target()
  with strategy.scope():
    model = config.build_model()
  if config.forward_kl_weight > 0.:
    print('Drawing {} configurations of pi for the training buffer ({} sweeps '
          'each)...'.format(config.buffer_size, config.buffer_sweeps),
          flush=True)
  trainer = config.build_trainer(
      model, target, jit_compile=jit_compile, strategy=strategy,
      buffer_progress=tfp_nrg.hooks.ProgressLine('buffer draws'))
  result, training_figures = training_flags.train(trainer, config,
                                                  model_dir)
  if result is None:
    return

  start = time.time()
  evaluation_seed = tf.random.experimental.stateless_fold_in(trainer.seed, -1)
  model, evaluation_figures = training_flags.evaluation_model(
      model, config, model_dir,
      tf.random.experimental.stateless_fold_in(evaluation_seed, 2))
  eval_samples, target_samples = evaluation_budget()
  print('Evaluating: {}{} draws of the model...'.format(
      '{} draws of pi ({} sweeps each), then '.format(
          target_samples, _TARGET_SWEEPS.value) if target_samples else '',
      eval_samples), flush=True)
  target_draws = None
  if target_samples:
    target_draws = tfp_nrg.target_buffer.sample_target(
        target, target_samples, _TARGET_SWEEPS.value,
        tf.random.experimental.stateless_fold_in(evaluation_seed, 1),
        jit_compile=jit_compile,
        progress=tfp_nrg.hooks.ProgressLine('target draws'))
  results = tfp_nrg.evaluation.evaluate(
      model, target.log_prob, eval_samples, seed=evaluation_seed,
      observables=tfp_nrg.observables.ising_observables(target),
      jit_compile=jit_compile and strategy.num_replicas_in_sync == 1,
      target_samples=target_draws,
      progress=tfp_nrg.hooks.ProgressLine('model draws'))
  report = tfp_nrg.observables.ising_report(target, results)
  steps = int(trainer.step.numpy())
  picture = tfp_nrg.checkpoints.claim_new_file(
      os.path.join(model_dir, 'samples.png'))
  save_samples_png(model, target, picture, seed=trainer.seed + 7)
  print(format_report(report, result, target, steps,
                      (eval_samples, target_samples), config.flow))
  non_finite = tfp_nrg.evaluation.non_finite(report)
  if report.num_non_finite_log_weights:
    print('WARNING: the model (or the target) returned NaN or infinite log '
          'densities at {} draws: the flow has diverged, and no figure can be '
          'estimated (all are written as null). Retrain, e.g. with a smaller '
          '--learning_rate.'.format(report.num_non_finite_log_weights))
  elif non_finite:
    print('WARNING: {} are not finite: the flow and the target draws do not '
          'overlap enough to determine them (a poorly trained flow, or too '
          'few draws). They are written as null.'.format(', '.join(
              non_finite)))

  output = tfp_nrg.evaluation.flatten(report)
  output.update(
      steps=steps, train_seconds=result.train_seconds,
      steps_per_second=result.steps_per_second,
      evaluation_seconds=time.time() - start, non_finite_figures=non_finite,
      eval_samples=eval_samples, target_samples=target_samples,
      model_dir=model_dir, samples_png=picture, config=config.to_dict(),
      **training_figures, **evaluation_figures)
  training_flags.write_metrics(metrics_out, output, picture)


if __name__ == '__main__':
  cli.run(main)
