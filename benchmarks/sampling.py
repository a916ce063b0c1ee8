r"""ESS per second: NeuralRG + independence MH vs local Metropolis.

For each trained model (`--model_dirs`, runs of `examples/train_ising.py`),
runs `--num_chains` independence Metropolis chains with the flow as proposal,
and, at the same L and T, a vectorised checkerboard single-spin-flip
Metropolis (one step = one sweep of both sublattices), the method a user
would otherwise run. Both are XLA-compiled; each is run once to compile, then
timed on a second run with another seed, so that the seconds count sampling
only. The observables are the energy per site (the improved estimator for
the dual states, H(s)/N for the spins), the one the goal is stated for, and
|m| (from spins drawn given each dual state), a slow mode of local
Metropolis at T_c.

Two columns guard the comparison. `z` is the deviation of the chains' mean
energy from Kaufman's value in units of its autocorrelation-aware error: an
ESS is only meaningful for chains that have equilibrated (|z| of a few).
`ESS/s bound` is the most any independence sampler with this proposal could
reach: independence Metropolis is a positive operator (Liu 1996), so its
autocorrelations are non-negative and ESS <= steps kept; even a perfect flow
(acceptance 1) gives at most one effective sample per kept proposal.
`steps/s` counts burn-in and kept steps.

  python benchmarks/sampling.py --model_dirs=runs/L8,runs/L16
"""

import time

from absl import app
from absl import flags
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_nrg

_MODEL_DIRS = flags.DEFINE_list('model_dirs', None,
                                'Runs of examples/train_ising.py.')
_NUM_CHAINS = flags.DEFINE_integer('num_chains', 64, 'Chains.')
_NUM_STEPS = flags.DEFINE_integer('num_steps', 2000, 'Steps (sweeps) kept.')
_NUM_BURNIN = flags.DEFINE_integer('num_burnin_steps', 500,
                                   'Steps (sweeps) discarded.')
flags.mark_flag_as_required('model_dirs')


def _abs_magnetization(spins):
  return tf.math.abs(tf.reduce_mean(spins, axis=[-2, -1]))


def checkerboard_observables(target, num_chains, num_steps, num_burnin_steps,
                             seed):
  """Energy and |m| per site after each sweep, `[num_steps, num_chains]`."""
  init_seed, burnin_seed, chain_seed = tfp.random.split_seed(seed, n=3)
  spins = target.metropolis_sweeps(target.random_spins(num_chains, init_seed),
                                   num_burnin_steps, burnin_seed)
  states = tf.scan(lambda s, sweep_seed: target.metropolis_sweeps(
      s, 1, sweep_seed), tf.random.experimental.stateless_split(
          chain_seed, num_steps), initializer=spins)
  observables = dict(energy=target.ising_energy(states) / target.num_sites,
                     abs_magnetization=_abs_magnetization(states))
  return observables, tf.constant(float('nan'))  # Flip rates are not tracked.


def independence_observables(model, target, num_chains, num_steps,
                             num_burnin_steps, seed):
  """Energy (improved estimator) and |m| (spins drawn given each state)."""
  init_seed, chain_seed, spin_seed = tfp.random.split_seed(seed, n=3)
  kernel = tfp_nrg.mcmc.IndependenceMetropolis(target.log_prob, model)
  states, accepted = tfp.mcmc.sample_chain(
      num_steps, current_state=model.sample(num_chains, seed=init_seed),
      kernel=kernel, num_burnin_steps=num_burnin_steps,
      trace_fn=lambda _, r: r.is_accepted, seed=chain_seed)
  observables = dict(
      energy=target.energy_estimator(states) / target.num_sites,
      abs_magnetization=_abs_magnetization(
          target.sample_spins(states, spin_seed)))
  return observables, tf.reduce_mean(tf.cast(accepted, tf.float32))


def timed(fn):
  """Compiles `fn(seed)` on one run, then times a second run."""
  compiled = tf.function(fn, jit_compile=True, autograph=False)
  compiled(tf.constant([1, 1]))
  start = time.time()
  observables, acceptance = compiled(tf.constant([2, 2]))
  observables = {k: tf.cast(v, tf.float64).numpy()
                 for k, v in observables.items()}
  return observables, float(acceptance), time.time() - start


def main(argv):
  del argv
  tf.get_logger().setLevel('ERROR')  # TFP's FFT autocorrelation casts.
  print('{:>4} {:<27} {:>9} {:>6} {:<6} {:>8} {:>8} {:>11} {:>27} {:>6}'
        .format('L', 'method', 'steps/s', 'accept', 'obs.', 'ESS', 'ESS/s',
                'ESS/s bound', 'mean +- err (exact)', 'z'))
  for model_dir in _MODEL_DIRS.value:
    run = tfp_nrg.runs.load(model_dir)
    model, target = run.model, run.target
    size, temperature = target.lattice_size, target.temperature
    exact = dict(energy=tfp_nrg.exact.ising_energy_per_site(size, temperature))
    args = (_NUM_CHAINS.value, _NUM_STEPS.value, _NUM_BURNIN.value)
    for name, fn, independent in (
        ('NeuralRG + independence MH', lambda seed: independence_observables(
            model, target, *args, seed), True),
        ('checkerboard Metropolis', lambda seed: checkerboard_observables(
            target, *args, seed), False)):
      observables, acceptance, seconds = timed(fn)
      kept_per_second = _NUM_CHAINS.value * _NUM_STEPS.value / seconds
      steps_per_second = kept_per_second * (
          _NUM_STEPS.value + _NUM_BURNIN.value) / _NUM_STEPS.value
      bound = '{:.0f}'.format(kept_per_second) if independent else '-'
      for key, label in (('energy', 'E/N'), ('abs_magnetization', '|m|')):
        values = observables[key]
        mean, stderr, autocorrelation_time = (
            float(v) for v in tfp_nrg.mcmc.chain_mean(values))
        ess = values.size / autocorrelation_time
        if key in exact:
          reference = '({:.4f})'.format(exact[key])
          z = '{:.1f}'.format((mean - exact[key]) / stderr)
        else:
          reference, z = '', ''
        print('{:>4} {:<27} {:>9.0f} {:>6.3f} {:<6} {:>8.0f} {:>8.1f} {:>11} '
              '{:>7.4f} +- {:.4f} {:<8} {:>6}'.format(
                  size, name, steps_per_second, acceptance, label, ess,
                  ess / seconds, bound, mean, stderr, reference, z),
              flush=True)


if __name__ == '__main__':
  app.run(main)
