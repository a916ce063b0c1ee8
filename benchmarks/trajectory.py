r"""Gap per site and ESS against training wall time, read from runs' summaries.

For each run (`--model_dirs`, runs of `examples/train_ising.py` or
`examples/train_phi4.py`), reads its TensorBoard scalars (written every 50
steps) and their wall times, and draws against minutes of training:

- the gap per site `(F - F_exact) / N` (`loss/gap_to_exact`; runs whose
  target has an exact `ln Z`), on a log scale, with `--target_gap`;
- the ESS fraction of the training batch, estimated from the spread of its
  log-weights `ln w = ln pi - ln q`: with `B` draws and standard error `s`
  of their mean (`loss/stderr`), `sigma^2 = B s^2` and `ESS / B ~=
  exp(-sigma^2)`, exact for log-normal weights; with `--target_ess`, and the
  run's evaluated ESS (its `metrics.json`) as a point at its end.

Where a run would cross each target, if it keeps the log-linear trend of its
last half (of the gap, and of `sigma^2`), is printed beside it. A run started
from a parent (`--init_from`) is shifted right by its parents' training time,
so that transfer is charged its cost.

  python benchmarks/trajectory.py --model_dirs=runs/L16,runs/L32 --target_ess=0.3 \
      --output=docs/images/flow_trajectories.png
"""

import collections
import glob
import json
import math
import os

from absl import flags
import numpy as np
import tensorflow as tf

import flag_checks
import tfp_nrg

_MODEL_DIRS = flags.DEFINE_list('model_dirs', None, 'Training runs.')
_OUTPUT = flags.DEFINE_string('output', None, 'PNG to write (must be new).')
_TARGET_GAP = flags.DEFINE_float('target_gap', 1e-3,
                                 'Gap per site drawn as the target line.')
_TARGET_ESS = flags.DEFINE_float('target_ess', 0.5,
                                 'ESS fraction drawn as the target line.')
flags.mark_flag_as_required('model_dirs')
flags.mark_flag_as_required('output')
flag_checks.check_each('model_dirs', flag_checks.run_of('dual_ising', 'phi4'))
flags.register_validator('output', lambda path: not os.path.exists(path),
                         message='--output must be a new file.')
flags.register_validator('target_gap', lambda value: value > 0.,
                         message='--target_gap must be positive.')
flags.register_validator('target_ess', lambda value: 0. < value < 1.,
                         message='--target_ess must be in (0, 1).')

GAP_TAG = 'loss/gap_to_exact'
STDERR_TAG = 'loss/stderr'


class Trajectory(collections.namedtuple('Trajectory', [
    'minutes',         # Training wall time of each point, from the run's start.
    'gaps',            # Gap per site, or None without an exact ln Z.
    'ess_estimates',   # exp(-B s^2) of the training batch.
    'evaluated_ess',   # The run's evaluated ESS fraction, or None.
    'config',          # Its `RunConfig`.
])):
  """A run's training curve."""


def read_scalars(model_dir, tags):
  """`{tag: {step: (wall_time, value)}}` of a run's summaries."""
  points = {tag: {} for tag in tags}
  for path in sorted(glob.glob(os.path.join(model_dir, 'summaries',
                                            'events.out.tfevents.*'))):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag in points:
          points[value.tag][event.step] = (
              event.wall_time, float(tf.make_ndarray(value.tensor)))
  return points


def trajectory(model_dir):
  """The `Trajectory` of a run, from its summaries, in step order."""
  config = tfp_nrg.runs.RunConfig.from_dict(
      tfp_nrg.checkpoints.read_run_config(model_dir))
  points = read_scalars(model_dir, (GAP_TAG, STDERR_TAG))
  if not points[STDERR_TAG]:
    raise ValueError('{!r} has no {} summaries.'.format(model_dir, STDERR_TAG))
  steps = sorted(points[STDERR_TAG])
  wall = np.array([points[STDERR_TAG][s][0] for s in steps])
  stderr = np.array([points[STDERR_TAG][s][1] for s in steps])
  gaps = None
  if points[GAP_TAG]:
    gaps = np.array([points[GAP_TAG][s][1] for s in steps]) / (
        config.lattice_size**2)
  evaluated_ess = None
  metrics_path = os.path.join(model_dir, 'metrics.json')
  if os.path.exists(metrics_path):
    with open(metrics_path) as f:
      evaluated_ess = json.load(f).get('ess_fraction')
  return Trajectory((wall - wall[0]) / 60., gaps,
                    np.exp(-config.batch_size * stderr**2), evaluated_ess,
                    config)


def crossing(minutes, values, target):
  """Minutes at which the last half's log-linear trend of the positive
  `values` falls to `target`: `-inf` if the trend is there by the last point,
  `inf` if it does not fall, `nan` with fewer than 3 points."""
  late = slice(len(minutes) // 2, None)
  positive = (values[late] > 0) & np.isfinite(values[late])
  if positive.sum() < 3:
    return math.nan
  slope, intercept = np.polyfit(minutes[late][positive],
                                np.log(values[late][positive]), 1)
  if intercept + slope * minutes[-1] <= math.log(target):
    return -math.inf
  if slope >= 0:
    return math.inf
  return (math.log(target) - intercept) / slope


def parents_minutes(config):
  """Training minutes of the chain of runs `config` was started from."""
  if not config.init_from:
    return 0.
  parent = trajectory(config.init_from)
  return parents_minutes(parent.config) + parent.minutes[-1]


def _when(minutes):
  if minutes == -math.inf:
    return 'reached'
  return 'at {:.0f} min'.format(minutes) if math.isfinite(minutes) else (
      'no trend')


def main(argv):
  del argv
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, (gap_axes, ess_axes) = pyplot.subplots(1, 2, figsize=(13, 5))
  print('{:<24} {:>10} {:>3} {:>7} {:>10} {:>11} {:>9} {:>9} {:>11}'.format(
      'run', 'target', 'L', 'minutes', 'last gap/N', 'gap target',
      'ESS est.', 'ESS eval', 'ESS target'))
  for model_dir in _MODEL_DIRS.value:
    run = trajectory(model_dir)
    config = run.config
    offset = parents_minutes(config)
    minutes = run.minutes + offset
    label = '{} L = {} ({}{}{}): {}'.format(
        config.target, config.lattice_size, config.flow,
        ', {} features'.format(config.continuous_features)
        if config.continuous_features is not None else '',
        ', {} hidden channels'.format(config.continuous_channels)
        if config.continuous_channels else '',
        os.path.basename(os.path.normpath(model_dir)))
    gap_cross = math.nan
    if run.gaps is not None:
      gap_cross = crossing(run.minutes, run.gaps, _TARGET_GAP.value) + offset
      gap_axes.semilogy(minutes, np.clip(run.gaps, 1e-6, None), label=label)
    # ESS crosses its target where sigma^2 = -ln ESS falls to -ln target.
    with np.errstate(divide='ignore'):
      sigma2 = -np.log(run.ess_estimates)
    ess_cross = crossing(run.minutes, sigma2,
                         -math.log(_TARGET_ESS.value)) + offset
    lines = ess_axes.plot(minutes, run.ess_estimates, label=label)
    if run.evaluated_ess is not None:
      ess_axes.plot(minutes[-1], run.evaluated_ess, 'o',
                    color=lines[0].get_color())
    print('{:<24} {:>10} {:>3} {:>7.1f} {:>10} {:>11} {:>9.3f} {:>9} '
          '{:>11}'.format(
              os.path.basename(os.path.normpath(model_dir))[:24],
              config.target, config.lattice_size, minutes[-1],
              '-' if run.gaps is None else '{:.2e}'.format(run.gaps[-1]),
              '-' if run.gaps is None else _when(gap_cross),
              run.ess_estimates[-1],
              '-' if run.evaluated_ess is None else '{:.3f}'.format(
                  run.evaluated_ess), _when(ess_cross)))
  gap_axes.axhline(_TARGET_GAP.value, color='k', linestyle='--', linewidth=1)
  gap_axes.set_ylabel('(F - F_exact) / N  (nats)')
  ess_axes.axhline(_TARGET_ESS.value, color='k', linestyle='--', linewidth=1)
  ess_axes.set_ylim(0., 1.)
  ess_axes.set_ylabel('ESS fraction: exp(-B s^2) of the batch; o evaluated')
  for axes in (gap_axes, ess_axes):
    axes.set_xlabel('training wall time (minutes; transfer: from the parent)')
    if axes.get_legend_handles_labels()[0]:
      axes.legend(fontsize='x-small')
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT.value)), exist_ok=True)
  figure.savefig(_OUTPUT.value, dpi=100)
  print('Wrote', _OUTPUT.value)


if __name__ == '__main__':
  flag_checks.run(main)
