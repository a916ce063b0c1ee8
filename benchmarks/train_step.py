r"""Training steps per second of the paper's NeuralRG network, and peak memory.

MERA, 10 affine couplings per block, MLP conditioners with 3 hidden layers of
10 units, Z2-symmetrized, batch 512, float32, at L = 8 and 16, with and
without XLA. Each configuration runs in a fresh subprocess so that its peak
resident memory (ru_maxrss) is its own.

  python benchmarks/train_step.py [--lattice_sizes=8,16] [--steps=30]

For reference, the PyTorch implementation of the paper takes 1.17 s per step
at L = 8 and 3.3 s at L = 16 on this 2-core machine class (batch 512, one
thread).
"""

import json
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags

_LATTICE_SIZES = flags.DEFINE_list('lattice_sizes', ['8', '16'],
                                   'Lattice sizes L.')
_STEPS = flags.DEFINE_integer('steps', 30, 'Timed steps per configuration.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 512, 'Batch size.')
_CHILD = flags.DEFINE_string('child', None, 'Internal: run one configuration.')

PYTORCH_SECONDS_PER_STEP = {8: 1.17, 16: 3.3}


def measure(lattice_size, jit_compile, steps, batch_size):
  """Times `steps` training steps after the first (compiling) one."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  target = tfp_nrg.DualIsing(lattice_size, tfp_nrg.exact.CRITICAL_TEMPERATURE)
  model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(
      lattice_size, num_couplings=10, hidden_units=(10, 10, 10),
      dtype=tf.float32))
  trainer = tfp_nrg.training.Trainer(model, target.log_prob,
                                     batch_size=batch_size, seed=1,
                                     jit_compile=jit_compile)
  start = time.time()
  trainer.train_step()
  first = time.time() - start
  start = time.time()
  for _ in range(steps):
    trainer.train_step()
  per_step = (time.time() - start) / steps
  peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.
  return dict(lattice_size=lattice_size, jit_compile=jit_compile,
              first_step_seconds=first, seconds_per_step=per_step,
              steps_per_second=1. / per_step, peak_rss_mib=peak_mib)


def main(argv):
  del argv
  if _CHILD.value:
    size, jit = _CHILD.value.split(',')
    print(json.dumps(measure(int(size), jit == 'xla', _STEPS.value,
                             _BATCH_SIZE.value)))
    return
  print('{:>4} {:>6} {:>12} {:>12} {:>10} {:>14} {:>12}'.format(
      'L', 'xla', 'first step', 's/step', 'steps/s', 'vs PyTorch ref',
      'peak MiB'))
  for size in (int(s) for s in _LATTICE_SIZES.value):
    for jit in ('xla', 'graph'):
      out = subprocess.run(
          [sys.executable, __file__, '--child={},{}'.format(size, jit),
           '--steps={}'.format(_STEPS.value),
           '--batch_size={}'.format(_BATCH_SIZE.value)],
          capture_output=True, text=True, check=True)
      row = json.loads(out.stdout.strip().splitlines()[-1])
      reference = PYTORCH_SECONDS_PER_STEP.get(size)
      speedup = ('{:.1f}x'.format(reference / row['seconds_per_step'])
                 if reference and _BATCH_SIZE.value == 512 else '-')
      print(('{:>4} {:>6} {:>11.1f}s {:>12.4f} {:>10.2f} {:>14} '
             '{:>12.0f}').format(
          size, jit, row['first_step_seconds'], row['seconds_per_step'],
          row['steps_per_second'], speedup, row['peak_rss_mib']), flush=True)


if __name__ == '__main__':
  app.run(main)
