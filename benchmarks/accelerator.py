r"""NeuralRG speed and memory versus lattice size, on CPU, GPU or TPU hosts.

For each lattice size L, XLA setting and conditioner precision, a fresh
subprocess (so that peak memory is its own) builds a MERA NeuralRG and reports

* training steps per second (`tfp_nrg.training.Trainer`, batch
  `--batch_size`), for L up to `--max_train_size`;
* draws per second of `experimental_sample_and_log_prob` (the forward pass)
  and evaluations per second of `log_prob` (the inverse pass);
* the first calls' seconds (tracing and XLA compilation) of the training
  step and of the forward pass;
* peak host memory (max RSS) and, on a GPU, peak device memory.

Conditioners in `bfloat16` compute their MLPs in bfloat16 while variables,
fields and log-determinants stay in float32.

  # on an accelerator host
  python benchmarks/accelerator.py
  # the README's CPU scaling table
  python benchmarks/accelerator.py --lattice_sizes=8,16,32,64,256 \
      --jit=xla --conditioner_dtypes=float32 --max_train_size=64
"""

import json
import resource
import subprocess
import sys
import time

from absl import flags

import flag_checks

_LATTICE_SIZES = flags.DEFINE_list('lattice_sizes', ['16', '32', '64', '128'],
                                   'Lattice sizes L.')
_JIT = flags.DEFINE_list('jit', ['xla', 'graph'],
                         'Compilations to run: xla, graph.')
_CONDITIONER_DTYPES = flags.DEFINE_list(
    'conditioner_dtypes', ['float32', 'bfloat16'],
    'Conditioner MLP precisions to run.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 64, 'Draws per call.')
_MAX_TRAIN_SIZE = flags.DEFINE_integer(
    'max_train_size', 128, 'Largest L whose training step is timed.')
_NUM_COUPLINGS = flags.DEFINE_integer('num_couplings', 4,
                                      'Couplings per block.')
_HIDDEN_UNITS = flags.DEFINE_list('hidden_units', ['32', '32'],
                                  'Conditioner hidden widths.')
_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed calls per measurement.')
_CHILD = flags.DEFINE_string('child', None,
                             'Internal: JSON of one configuration to run.')
flag_checks.check_each('lattice_sizes',
                       flag_checks.run_config_field('lattice_size', int))
flag_checks.check_each('max_train_size',
                       flag_checks.run_config_field('lattice_size', int))
flag_checks.check_each('conditioner_dtypes',
                       flag_checks.run_config_field('conditioner_dtype'))
flag_checks.check_each('num_couplings',
                       flag_checks.run_config_field('num_couplings', int))
flag_checks.check_each('jit', flag_checks.one_of(('xla', 'graph')))
flag_checks.check_whole(
    'hidden_units', flag_checks.run_config_field(
        'hidden_units', lambda values: [int(h) for h in values]))
flag_checks.at_least('batch_size', 1)
flag_checks.at_least('repeats', 1)


def timed(fn, repeats):
  """(first call's seconds, seconds per later call); results read back."""
  start = time.time()
  fn()
  first = time.time() - start
  start = time.time()
  for _ in range(repeats):
    fn()
  return first, (time.time() - start) / repeats


def measure(lattice_size, xla, conditioner_dtype):
  """Times one configuration; returns a JSON-able `dict`."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import tfp_nrg
  batch_size = _BATCH_SIZE.value
  model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(
      lattice_size, num_couplings=_NUM_COUPLINGS.value,
      hidden_units=[int(h) for h in _HIDDEN_UNITS.value],
      conditioner_dtype=conditioner_dtype))
  target = tfp_nrg.DualIsing(lattice_size,
                             tfp_nrg.exact.CRITICAL_TEMPERATURE)
  row = dict(lattice_size=lattice_size, xla=xla,
             conditioner_dtype=conditioner_dtype,
             device='GPU' if tf.config.list_physical_devices('GPU') else
             'CPU')
  sample = tf.function(
      lambda seed: model.experimental_sample_and_log_prob(batch_size,
                                                          seed=seed),
      jit_compile=xla, autograph=False)
  first, seconds = timed(lambda: sample(tf.constant([1, 2]))[1].numpy(),
                         _REPEATS.value)
  row.update(sample_per_second=batch_size / seconds,
             sample_first_call_seconds=first)
  x = sample(tf.constant([3, 4]))[0]
  log_prob = tf.function(model.log_prob, jit_compile=xla, autograph=False)
  first, seconds = timed(lambda: log_prob(x).numpy(), _REPEATS.value)
  row.update(log_prob_per_second=batch_size / seconds,
             log_prob_first_call_seconds=first)
  if lattice_size <= _MAX_TRAIN_SIZE.value:
    trainer = tfp_nrg.training.Trainer(model, target.log_prob,
                                       batch_size=batch_size,
                                       learning_rate=1e-3, jit_compile=xla)
    first, seconds = timed(trainer.train_step, _REPEATS.value)
    row.update(train_steps_per_second=1. / seconds,
               train_first_call_seconds=first)
  row['peak_rss_mib'] = resource.getrusage(
      resource.RUSAGE_SELF).ru_maxrss / 1024.
  if row['device'] == 'GPU':
    row['peak_gpu_mib'] = tf.config.experimental.get_memory_info(
        'GPU:0')['peak'] / 2.**20
  return row


def main(argv):
  del argv
  if _CHILD.value:
    spec = json.loads(_CHILD.value)
    print(json.dumps(measure(**spec)))
    return
  columns = ('{:>4} {:>4} {:>9} {:>6} {:>9} {:>9} {:>10} {:>10} {:>11} '
             '{:>8} {:>8}')
  print(columns.format('L', 'XLA', 'cond.', 'device', 'train/s',
                       'train 1st', 'sample/s', 'sample 1st', 'log_prob/s',
                       'RSS MiB', 'GPU MiB'))
  forwarded = [a for a in sys.argv[1:] if not a.startswith(
      ('--lattice_sizes', '--jit', '--conditioner_dtypes'))]
  for size in _LATTICE_SIZES.value:
    for jit in _JIT.value:
      for conditioner_dtype in _CONDITIONER_DTYPES.value:
        spec = dict(lattice_size=int(size), xla=jit == 'xla',
                    conditioner_dtype=conditioner_dtype)
        done = subprocess.run(
            [sys.executable, __file__, '--child=' + json.dumps(spec)] +
            forwarded, capture_output=True, text=True, check=False)
        if done.returncode:
          print('L={} jit={} {}: failed: {}'.format(
              size, jit, conditioner_dtype,
              done.stderr.strip().splitlines()[-1:]), flush=True)
          continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(columns.format(
            row['lattice_size'], 'yes' if row['xla'] else 'no',
            row['conditioner_dtype'], row['device'],
            '{:.2f}'.format(row['train_steps_per_second'])
            if 'train_steps_per_second' in row else '-',
            '{:.1f}'.format(row['train_first_call_seconds'])
            if 'train_first_call_seconds' in row else '-',
            '{:.0f}'.format(row['sample_per_second']),
            '{:.1f}'.format(row['sample_first_call_seconds']),
            '{:.0f}'.format(row['log_prob_per_second']),
            '{:.0f}'.format(row['peak_rss_mib']),
            '{:.0f}'.format(row['peak_gpu_mib'])
            if 'peak_gpu_mib' in row else '-'), flush=True)


if __name__ == '__main__':
  flag_checks.run(main)
