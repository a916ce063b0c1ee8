r"""Training steps per second of the paper's NeuralRG network, and peak memory.

MERA, 10 affine couplings per block, MLP conditioners with 3 hidden layers of
10 units, batch 512, float32, at L = 8 and 16, with and without XLA, with the
Z2 symmetry as the `Symmetrized` mixture (an extra inverse pass for q(-x)) or
as an equivariant flow (`neural_rg(z2_equivariant=True)`, one pass). Each
configuration runs in a fresh subprocess so that its peak resident memory
(ru_maxrss) is its own.

Beside each time: the step's arithmetic (the conditioners' multiply-adds,
counted from the network: a reverse-KL step is 3 flow passes, forward and
backward, and the mixture's inverse pass adds 3 more) and the time it would
take at this machine's float32 matmul rate (measured on a 1024 x 1024
matmul): the FLOP bound.

  python benchmarks/train_step.py [--lattice_sizes=8,16] [--steps=30] \
      [--z2=mixture,equivariant] [--jit=xla,graph]

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
_Z2 = flags.DEFINE_list('z2', ['mixture', 'equivariant'],
                        'Z2 symmetries to compare (mixture, equivariant).')
_JIT = flags.DEFINE_list('jit', ['xla', 'graph'],
                         'Compilation: xla, graph (tf.function alone).')
_CHILD = flags.DEFINE_string('child', None, 'Internal: run one configuration.')
NUM_COUPLINGS, HIDDEN_UNITS = 10, (10, 10, 10)

PYTORCH_SECONDS_PER_STEP = {8: 1.17, 16: 3.3}


def flow_flops_per_sample(flow):
  """Multiply-adds x 2 of the conditioners in one pass of `flow`."""
  sizes = (2,) + HIDDEN_UNITS + (4,)
  per_patch = NUM_COUPLINGS * sum(2 * a * b for a, b in zip(sizes[:-1],
                                                           sizes[1:]))
  return sum(per_patch * layer.num_patches for layer in flow.layers)


def matmul_gflops(size=1024, repeats=20):
  """This machine's float32 matmul rate, GFLOP/s."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = tf.random.stateless_normal([size, size], seed=(1, 2))
  matmul = tf.function(lambda a: tf.linalg.matmul(a, a))
  matmul(a).numpy()
  start = time.time()
  for _ in range(repeats):
    matmul(a).numpy()
  return 2. * size**3 * repeats / (time.time() - start) / 1e9


def measure(lattice_size, jit_compile, z2, steps, batch_size):
  """Times `steps` training steps after the first (compiling) one."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  target = tfp_nrg.DualIsing(lattice_size, tfp_nrg.exact.CRITICAL_TEMPERATURE)
  model = tfp_nrg.neural_rg(
      lattice_size, num_couplings=NUM_COUPLINGS, hidden_units=HIDDEN_UNITS,
      z2_equivariant=z2 == 'equivariant', dtype=tf.float32)
  passes = 3 if z2 == 'equivariant' else 6
  flops = passes * batch_size * flow_flops_per_sample(
      tfp_nrg.distributions.flow_of(model))
  if z2 == 'mixture':
    model = tfp_nrg.Symmetrized(model)
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
  return dict(lattice_size=lattice_size, jit_compile=jit_compile, z2=z2,
              first_step_seconds=first, seconds_per_step=per_step,
              steps_per_second=1. / per_step, peak_rss_mib=peak_mib,
              gflop_per_step=flops / 1e9)


def main(argv):
  del argv
  if _CHILD.value:
    size, jit, z2 = _CHILD.value.split(',')
    print(json.dumps(measure(int(size), jit == 'xla', z2, _STEPS.value,
                             _BATCH_SIZE.value)))
    return
  gflops = matmul_gflops()
  print('float32 matmul rate of this machine: {:.0f} GFLOP/s'.format(gflops))
  print('{:>4} {:>6} {:>12} {:>11} {:>9} {:>8} {:>10} {:>10} {:>9} '
        '{:>9}'.format('L', 'xla', 'z2', 'first step', 's/step', 'steps/s',
                       'vs PyTorch', 'GFLOP/step', 'bound s', 'peak MiB'))
  for size in (int(s) for s in _LATTICE_SIZES.value):
    for jit in _JIT.value:
      for z2 in _Z2.value:
        out = subprocess.run(
            [sys.executable, __file__,
             '--child={},{},{}'.format(size, jit, z2),
             '--steps={}'.format(_STEPS.value),
             '--batch_size={}'.format(_BATCH_SIZE.value)],
            capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        reference = PYTORCH_SECONDS_PER_STEP.get(size)
        speedup = ('{:.1f}x'.format(reference / row['seconds_per_step'])
                   if reference and _BATCH_SIZE.value == 512 and
                   z2 == 'mixture' else '-')
        print(('{:>4} {:>6} {:>12} {:>10.1f}s {:>9.4f} {:>8.2f} {:>10} '
               '{:>10.2f} {:>9.4f} {:>9.0f}').format(
                   size, jit, z2, row['first_step_seconds'],
                   row['seconds_per_step'], row['steps_per_second'], speedup,
                   row['gflop_per_step'], row['gflop_per_step'] / gflops,
                   row['peak_rss_mib']), flush=True)


if __name__ == '__main__':
  app.run(main)
