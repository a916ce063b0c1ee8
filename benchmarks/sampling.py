r"""Energy ESS per second: NeuralRG + independence MH vs local Metropolis.

For each trained model (`--model_dirs`, runs of `examples/train_ising.py`),
runs `--num_chains` independence Metropolis chains with the flow as proposal,
and, at the same L and T, a vectorised checkerboard single-spin-flip
Metropolis (one step = one sweep of both sublattices), the method a user
would otherwise run. Both are XLA-compiled; each is run once to compile, then
timed on a second run with another seed, so that the seconds count sampling
only. The energy per site is the observable (the improved estimator for the
dual states, H(s)/N for the spins).

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


def checkerboard_energies(target, num_chains, num_steps, num_burnin_steps,
                          seed):
  """Ising energy per site after each sweep, `[num_steps, num_chains]`."""
  init_seed, burnin_seed, chain_seed = tfp.random.split_seed(seed, n=3)
  spins = target.metropolis_sweeps(target.random_spins(num_chains, init_seed),
                                   num_burnin_steps, burnin_seed)
  states = tf.scan(lambda s, sweep_seed: target.metropolis_sweeps(
      s, 1, sweep_seed), tf.random.experimental.stateless_split(
          chain_seed, num_steps), initializer=spins)
  energies = target.ising_energy(states) / target.num_sites
  return energies, tf.constant(float('nan'))  # Flip rates are not tracked.


def independence_energies(model, target, num_chains, num_steps,
                          num_burnin_steps, seed):
  """Improved-estimator energy per site of IMH states, and the acceptance."""
  init_seed, chain_seed = tfp.random.split_seed(seed)
  kernel = tfp_nrg.mcmc.IndependenceMetropolis(target.log_prob, model)
  states, accepted = tfp.mcmc.sample_chain(
      num_steps, current_state=model.sample(num_chains, seed=init_seed),
      kernel=kernel, num_burnin_steps=num_burnin_steps,
      trace_fn=lambda _, r: r.is_accepted, seed=chain_seed)
  energies = target.energy_estimator(states) / target.num_sites
  return energies, tf.reduce_mean(tf.cast(accepted, tf.float32))


def timed(fn):
  """Compiles `fn(seed)` on one run, then times a second run."""
  compiled = tf.function(fn, jit_compile=True, autograph=False)
  compiled(tf.constant([1, 1]))
  start = time.time()
  energies, acceptance = compiled(tf.constant([2, 2]))
  energies = tf.cast(energies, tf.float64).numpy()
  seconds = time.time() - start
  _, _, autocorrelation_time = tfp_nrg.mcmc.chain_mean(energies)
  return energies, float(acceptance), seconds, energies.size / float(
      autocorrelation_time)


def main(argv):
  del argv
  print('{:>4} {:<28} {:>12} {:>10} {:>10} {:>12} {:>18}'.format(
      'L', 'method', 'steps/s', 'accept', 'ESS', 'ESS/s', 'E/N (exact)'))
  for model_dir in _MODEL_DIRS.value:
    config = tfp_nrg.training.read_run_config(model_dir)
    model = tfp_nrg.distributions.neural_rg_from_config(config)
    tfp_nrg.training.restore_latest(model, model_dir)
    size, temperature = config['lattice_size'], config['temperature']
    target = tfp_nrg.DualIsing(size, temperature, dtype=config['dtype'])
    exact = tfp_nrg.exact.ising_energy_per_site(size, temperature)
    args = (_NUM_CHAINS.value, _NUM_STEPS.value, _NUM_BURNIN.value)
    for name, fn in (
        ('NeuralRG + independence MH',
         lambda seed: independence_energies(model, target, *args, seed)),
        ('checkerboard Metropolis',
         lambda seed: checkerboard_energies(target, *args, seed))):
      energies, acceptance, seconds, ess = timed(fn)
      steps_per_second = _NUM_CHAINS.value * _NUM_STEPS.value / seconds
      print('{:>4} {:<28} {:>12.0f} {:>10.3f} {:>10.0f} {:>12.1f} '
            '{:>8.4f} ({:.4f})'.format(size, name, steps_per_second,
                                       acceptance, ess, ess / seconds,
                                       energies.mean(), exact), flush=True)


if __name__ == '__main__':
  app.run(main)
