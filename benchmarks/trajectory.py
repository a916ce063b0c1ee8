r"""Gap per site against training wall time, read from runs' summaries.

For each run (`--model_dirs`, runs of `examples/train_ising.py`), reads the TensorBoard
scalar `loss/gap_to_exact` (`F - F_exact`, written every 50 steps) and its
wall times, and draws `(F - F_exact) / N` against minutes of training on a
log scale, one curve per run, with `--target_gap` as a line: where a run
would cross the target, if it keeps its late slope, is printed beside it.
A run started from a parent (`--init_from`) is shifted right by the parent's
training time, so that transfer is charged its cost.

  python benchmarks/trajectory.py --model_dirs=runs/L16,runs/L32 \
      --output=docs/images/ising_trajectory.png
"""

import glob
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
flags.mark_flag_as_required('model_dirs')
flags.mark_flag_as_required('output')
flag_checks.check_each('model_dirs', flag_checks.run_of('dual_ising'))
flags.register_validator('output', lambda path: not os.path.exists(path),
                         message='--output must be a new file.')

GAP_TAG = 'loss/gap_to_exact'


def gap_trajectory(model_dir):
  """`(minutes, gap per site)` of a run, from its summaries, in step order."""
  config = tfp_nrg.runs.RunConfig.from_dict(
      tfp_nrg.checkpoints.read_run_config(model_dir))
  points = {}
  for path in sorted(glob.glob(os.path.join(model_dir, 'summaries',
                                            'events.out.tfevents.*'))):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag == GAP_TAG:
          points[event.step] = (event.wall_time,
                                float(tf.make_ndarray(value.tensor)))
  if not points:
    raise ValueError('{!r} has no {} summaries (its target has no exact '
                     'ln Z?).'.format(model_dir, GAP_TAG))
  steps = sorted(points)
  wall = np.array([points[s][0] for s in steps])
  gaps = np.array([points[s][1] for s in steps]) / config.lattice_size**2
  return (wall - wall[0]) / 60., gaps, config


def crossing(minutes, gaps, target):
  """Minutes at which the last half's log-linear trend reaches `target`."""
  late = slice(len(minutes) // 2, None)
  positive = gaps[late] > 0
  if positive.sum() < 3:
    return math.nan
  slope, intercept = np.polyfit(minutes[late][positive],
                                np.log(gaps[late][positive]), 1)
  if slope >= 0:
    return math.inf
  return (math.log(target) - intercept) / slope


def main(argv):
  del argv
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(figsize=(6, 4))
  print('{:<32} {:>5} {:>9} {:>12} {:>16}'.format(
      'run', 'L', 'minutes', 'last gap/N', 'target crossed'))
  for model_dir in _MODEL_DIRS.value:
    minutes, gaps, config = gap_trajectory(model_dir)
    offset = 0.
    if config.init_from:
      parent_minutes, _, _ = gap_trajectory(config.init_from)
      offset = parent_minutes[-1]
    cross = crossing(minutes, gaps, _TARGET_GAP.value) + offset
    print('{:<32} {:>5} {:>9.1f} {:>12.2e} {:>16}'.format(
        os.path.basename(os.path.normpath(model_dir)), config.lattice_size,
        minutes[-1] + offset, gaps[-1],
        'at {:.0f} min'.format(cross) if math.isfinite(cross) else 'no trend'))
    axes.semilogy(minutes + offset, np.clip(gaps, 1e-6, None),
                  label='L = {} ({})'.format(config.lattice_size, config.flow))
  axes.axhline(_TARGET_GAP.value, color='k', linestyle='--', linewidth=1)
  axes.set_xlabel('training wall time (minutes; transfer: from the parent)')
  axes.set_ylabel('(F - F_exact) / N  (nats)')
  axes.legend()
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT.value)), exist_ok=True)
  figure.savefig(_OUTPUT.value, dpi=100)
  print('Wrote', _OUTPUT.value)


if __name__ == '__main__':
  flag_checks.run(main)
