"""Running a sampler for a given wall-clock time, as the benchmarks compare.

A sampler is `fn(num_results, num_burnin, thin, seed) -> (states, acceptance)`.
`run_for` compiles it (XLA), times it on a short run to learn its cost per
step, and runs it again with the number of steps that fills the budget: the
first `--burnin_fraction` of them are discarded and the rest thinned to at
most `--max_kept` states per chain. The flags here are those of every
sampling benchmark, and so are the z-score column, which flags a sampler more
than `MAX_Z` errors from its reference, and the autocorrelation-time column,
which marks a time the thinning leaves unresolved.
"""

import math
import time

from absl import flags
import tensorflow as tf

import flag_checks
import tfp_nrg

NUM_CHAINS = flags.DEFINE_integer('num_chains', 64, 'Chains per sampler.')
SECONDS = flags.DEFINE_float('seconds', 60., 'Wall-clock budget a sampler.')
REFERENCE_SECONDS = flags.DEFINE_float(
    'reference_seconds', 240., 'Budget of the long reference run.')
MAX_KEPT = flags.DEFINE_integer('max_kept', 1000,
                                'States kept per chain (thinned to this).')
BURNIN_FRACTION = flags.DEFINE_float('burnin_fraction', 0.2,
                                     'Share of the steps discarded.')
CONTINUOUS_STEPS = flags.DEFINE_integer(
    'continuous_steps', None,
    'Runge-Kutta steps of a run\'s continuous flow (default twice its '
    'training\'s, as the examples evaluate it): the flow\'s chains are exact '
    'only up to the solver\'s error in ln q.')

flag_checks.at_least('num_chains', 1)
flag_checks.positive('seconds')
flag_checks.positive('reference_seconds')
# The chain summaries' jackknife cuts the kept states into blocks.
flag_checks.at_least('max_kept', tfp_nrg.observables.CHAIN_SUMMARY_BLOCKS)
flag_checks.at_least('continuous_steps', 1)
flags.register_validator('burnin_fraction', lambda value: 0. <= value < 1.,
                         message='--burnin_fraction must be in [0, 1).')

MAX_Z = 3.  # The sampling issues' bar: within 3 errors of the reference.
# Kept states this many autocorrelation times apart or fewer resolve it.
RESOLVED_TAU = 2.
UNRESOLVED_NOTE = ('* tau not resolved: the kept states are thinned to less '
                   'than {:.0f} of it apart, so tau is an upper bound and '
                   'ESS/s a lower bound (a larger --max_kept resolves it).'
                   .format(RESOLVED_TAU))


def load(model_dir):
  """`runs.load` for sampling, with `--continuous_steps` if given.

  Prints the Runge-Kutta steps of a continuous flow.
  """
  run = tfp_nrg.runs.load(model_dir, continuous_steps=CONTINUOUS_STEPS.value,
                          sampling=True)
  if run.config.flow != 'neural_rg':
    print('{}: the continuous flow with {} Runge-Kutta steps.'.format(
        model_dir, run.config.continuous_steps), flush=True)
  return run


def run_for(fn, seconds, seed, calibration_steps):
  """Calibrates `fn`'s cost per step, then runs it for about `seconds`.

  Args:
    fn: the sampler, `(num_results, num_burnin, thin, seed)` ->
      `(states, acceptance)`.
    seconds: Python float, the budget.
    seed: `[2]` stateless seed of the timed run.
    calibration_steps: Python `int`, steps of the calibration run; the timed
      run has at least twice as many.

  Returns:
    `(states, acceptance, seconds, thin, total_steps)`: NumPy states
    `[kept, chains, ...]`, the acceptance as a Python float, the timed run's
    wall time (compilation excluded), the thinning and the steps run.
  """
  calibration = tf.function(
      lambda s: fn(calibration_steps, 0, 1, s), jit_compile=True,
      autograph=False)
  calibration(tf.constant([0, 0]))
  start = time.time()
  tf.nest.map_structure(lambda t: t.numpy(),
                        calibration(tf.constant([0, 1])))
  per_step = (time.time() - start) / calibration_steps
  total = max(int(seconds / per_step), 2 * calibration_steps)
  burnin = int(BURNIN_FRACTION.value * total)
  thin = max(1, (total - burnin) // MAX_KEPT.value)
  num_results = (total - burnin) // thin
  compiled = tf.function(lambda s: fn(num_results, burnin, thin, s),
                         jit_compile=True, autograph=False)
  compiled.get_concrete_function(tf.TensorSpec([2], tf.int32))
  start = time.time()
  states, acceptance = compiled(tf.constant(seed))
  states = states.numpy()
  return states, float(acceptance), time.time() - start, thin, total


def kept_per_second(seconds, total):
  """States kept per second of a timed run of `total` steps, over all chains.

  ESS per second is this over the autocorrelation time in steps.
  """
  return NUM_CHAINS.value * total * (1. - BURNIN_FRACTION.value) / seconds


def tau_column(summary, key, thin):
  """`key`'s autocorrelation time in steps, `*` if the thinning hides it.

  Args:
    summary: a chain summary with `key + '_autocorrelation_time'`, in kept
      states.
    key: the observable.
    thin: the steps between kept states.

  Returns:
    `(tau, text)`: tau in steps and its printed column (8 characters).
  """
  thinned = summary[key + '_autocorrelation_time']
  return thin * thinned, '{:>7.1f}{}'.format(
      thin * thinned, '*' if thinned < RESOLVED_TAU else ' ')


def z_scores(summary, reference, keys):
  """`{label: (summary[key] - reference[key]) / error}` for `(key, label)`s.

  The error combines both standard errors, `hypot(stderr, reference_stderr)`,
  read from the `key + '_stderr'` entries of the two summaries.
  """
  return {label: (summary[key] - reference[key]) / math.hypot(
      summary[key + '_stderr'], reference[key + '_stderr'])
          for key, label in keys}


def z_column(z):
  """The printed z-scores, `FLAGGED` when one exceeds `MAX_Z` in size."""
  flagged = any(abs(value) > MAX_Z for value in z.values())
  return ' '.join('{}:{:+.1f}'.format(label, value)
                  for label, value in z.items()) + (
                      '  FLAGGED' if flagged else '')
