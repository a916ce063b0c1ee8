r"""Throughput of a NeuralRG flow: sampling with log-prob, and log_prob.

`experimental_sample_and_log_prob` (the forward pass) and `log_prob` (the
inverse pass) of a MERA (4 couplings per block, hidden (10, 10)) at batch 256
in float32, XLA-compiled, for L = 8, 16, 32, 64. Each size runs in a fresh
subprocess so that its peak resident memory is its own.

  python benchmarks/flow.py [--lattice_sizes=8,16,32,64] [--repeats=10]
"""

import json
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags

_LATTICE_SIZES = flags.DEFINE_list('lattice_sizes', ['8', '16', '32', '64'],
                                   'Lattice sizes L.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 256, 'Batch size.')
_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed calls per function.')
_CHILD = flags.DEFINE_integer('child', None, 'Internal: run one size.')


def measure(lattice_size, batch_size, repeats):
  """Compiles and times both passes at one lattice size."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  model = tfp_nrg.neural_rg(lattice_size, num_couplings=4,
                            hidden_units=(10, 10))
  sample = tf.function(
      lambda seed: model.experimental_sample_and_log_prob(batch_size,
                                                          seed=seed),
      jit_compile=True)
  log_prob = tf.function(model.log_prob, jit_compile=True)
  x, _ = sample(tf.constant([0, 0]))
  log_prob(x)
  timings = {}
  for name, fn, argument in (('sample_and_log_prob', sample,
                              tf.constant([1, 2])), ('log_prob', log_prob, x)):
    start = time.time()
    for _ in range(repeats):
      out = fn(argument)
    tf.nest.map_structure(lambda t: t.numpy(), out)
    timings[name] = (time.time() - start) / repeats
  return dict(lattice_size=lattice_size,
              sample_per_second=batch_size / timings['sample_and_log_prob'],
              log_prob_per_second=batch_size / timings['log_prob'],
              peak_rss_mib=resource.getrusage(
                  resource.RUSAGE_SELF).ru_maxrss / 1024.)


def main(argv):
  del argv
  if _CHILD.value:
    print(json.dumps(measure(_CHILD.value, _BATCH_SIZE.value,
                             _REPEATS.value)))
    return
  print('{:>4} {:>24} {:>20} {:>10}'.format(
      'L', 'sample+log_prob /s', 'log_prob /s', 'peak MiB'))
  for size in _LATTICE_SIZES.value:
    out = subprocess.run(
        [sys.executable, __file__, '--child={}'.format(size),
         '--batch_size={}'.format(_BATCH_SIZE.value),
         '--repeats={}'.format(_REPEATS.value)],
        capture_output=True, text=True, check=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print('{:>4} {:>24.0f} {:>20.0f} {:>10.0f}'.format(
        row['lattice_size'], row['sample_per_second'],
        row['log_prob_per_second'], row['peak_rss_mib']), flush=True)


if __name__ == '__main__':
  app.run(main)
