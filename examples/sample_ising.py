r"""Sample the 2D Ising model with a trained NeuralRG in an exact MCMC kernel.

Loads a model trained by `examples/train_ising.py` (`--model_dir`), runs
`--num_chains` chains of `--kernel` (each exact for the Ising model however
imperfect the flow), optionally also HMC in the flow's latent space, and
reports acceptance, effective samples per second and Ising observables with
error bars beside Kaufman's exact values, and their z-scores.

Kernels (`--kernel`):
  global_local   `--num_local_steps` steps of the dual spin kernel, then one
                 independence proposal from the flow (the default);
  independence   independence Metropolis with the flow alone;
  local          the dual spin kernel alone (x -> s -> sweeps -> x), no flow;
  latent_hmc     adaptive HMC in the flow's latent space (for a continuous
                 flow, exact only up to its integration error in ln q).

With `--adapt_steps=N`, the flow is first fitted to its own chains (flowMC's
training phase): `--num_chains` global-local chains run `--num_burnin_steps`
steps and then 64 more, whose states feed `N` Adam steps on the reverse KL
plus the forward KL on them (`tfp_nrg.adaptation.fit_to_chains`, at
`--adapt_learning_rate`); the production chains then use the adapted flow.
The run's saved model is not changed.

Usage:

  python examples/sample_ising.py --model_dir=runs/ising_L8_... \
      --num_chains=64 --num_steps=2000 --kernel=global_local

The model must have been trained for the same L and T as the target (taken
from the run's configuration); `--temperature` may differ only with
`--allow_other_temperature` (Metropolis-Hastings stays exact, only slower).
"""

import json
import time

from absl import flags
from absl import logging
import tensorflow as tf
import tensorflow_probability as tfp

import cli
import tfp_nrg

_MODEL_DIR = flags.DEFINE_string('model_dir', None,
                                 'Directory of a train_ising.py run.')
_TEMPERATURE = flags.DEFINE_float(
    'temperature', None, 'Target temperature; default the training one.')
_ALLOW_OTHER_T = flags.DEFINE_bool(
    'allow_other_temperature', False,
    'Sample a temperature other than the one trained for.')
_NUM_CHAINS = flags.DEFINE_integer('num_chains', 64, 'Independent chains.')
_NUM_STEPS = flags.DEFINE_integer('num_steps', 2000, 'Steps kept per chain.')
_NUM_BURNIN = flags.DEFINE_integer('num_burnin_steps', 200,
                                   'Steps discarded per chain.')
_KERNEL = flags.DEFINE_enum(
    'kernel', 'global_local',
    ['global_local', 'independence', 'local', 'latent_hmc'],
    'MCMC kernel (see the module docstring).')
_NUM_LOCAL_STEPS = flags.DEFINE_integer(
    'num_local_steps', 1, 'global_local: local steps per flow proposal.')
_LOCAL_SWEEPS = flags.DEFINE_integer(
    'local_sweeps', 1, 'Checkerboard sweeps per step of the local kernel.')
_ADAPT_STEPS = flags.DEFINE_integer(
    'adapt_steps', 0, 'Adam steps fitting the flow to its own chains before '
    'the production run (0: none).')
_ADAPT_LEARNING_RATE = flags.DEFINE_float(
    'adapt_learning_rate', 1e-3, 'Adam learning rate of the adaptation.')
_LATENT_HMC = flags.DEFINE_bool(
    'latent_hmc', False, 'Also run HMC in the latent space, reported under '
    '"latent_hmc".')
_CONTINUOUS_STEPS = flags.DEFINE_integer(
    'continuous_steps', None,
    'Runge-Kutta steps of a continuous flow (default twice the run\'s own, '
    'as the training examples evaluate it): the chains are exact up to its '
    'solver error in ln q, which falls about 16-fold per doubling.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the chains.')
_JIT = flags.DEFINE_bool(
    'jit_compile', True, 'Compile the chains (and the adaptation) with XLA; '
    'without it they run as TF graphs, which start faster and run slower.')
_METRICS_OUT = flags.DEFINE_string('metrics_out', None,
                                   'Metrics JSON; default none.')
flags.mark_flag_as_required('model_dir')
for _name, _minimum in (('num_chains', 1),
                        # The chain summary's jackknife cuts into blocks.
                        ('num_steps',
                         tfp_nrg.observables.CHAIN_SUMMARY_BLOCKS),
                        ('num_burnin_steps', 0), ('num_local_steps', 0),
                        ('local_sweeps', 1), ('adapt_steps', 0),
                        ('continuous_steps', 1)):
  flags.register_validator(
      _name,
      lambda value, minimum=_minimum: value is None or value >= minimum,
      message='--{} must be at least {}.'.format(_name, _minimum))

flags.register_validator(
    'adapt_learning_rate', lambda value: value > 0.,
    message='--adapt_learning_rate must be positive.')
# Steps kept per chain for the adaptation's pool of states.
_ADAPT_STATES_PER_CHAIN = 64
# |energy - exact| / error above which the chains are reported unequilibrated
# (a 4-sigma deviation has probability 6e-5 for equilibrated chains).
_MAX_Z_SCORE = 4.


def timed_run(sample_fn):
  """Runs `sample_fn` as a `tf.function`; returns its outputs and seconds.

  The time includes tracing and XLA compilation (typically 10-40 s).
  """
  start = time.time()
  outputs = tf.function(sample_fn, jit_compile=_JIT.value, autograph=False)()
  outputs = tf.nest.map_structure(lambda t: t.numpy(), outputs)
  return outputs, time.time() - start


def run_and_report(name, target, sample_fn, seed):
  """Runs `sample_fn` (-> states, is_accepted), prints and returns figures.

  Returns:
    The `ising_chain_summary` of the states, with `acceptance_rate`,
    `ess_per_second` (of the energy, compilation included) and
    `sampling_seconds`.
  """
  (states, accepted, *non_finite), seconds = timed_run(sample_fn)
  if non_finite:
    tfp_nrg.mcmc.warn_non_finite(non_finite[0])
  summary = tfp_nrg.observables.ising_chain_summary(target, states, seed=seed)
  acceptance = float(accepted.mean())
  ess = accepted.size / summary['energy_autocorrelation_time']
  lines = ['{}: acceptance {:.3f}, {:.1f} s with compilation, energy ESS '
           '{:.0f} ({:.0f} per second)'.format(name, acceptance, seconds, ess,
                                        ess / seconds)]
  for key, label in (('energy_per_site', 'energy per site'),
                     ('specific_heat_per_site', 'specific heat per site'),
                     ('abs_magnetization', '<|m|>'),
                     ('magnetization_squared', '<m^2>'),
                     ('binder_cumulant', 'Binder cumulant')):
    exact = summary.get('exact_' + key)
    lines.append('  {:<24} {:.5f} +- {:.5f}{}'.format(
        label, summary[key], summary[key + '_stderr'],
        '   exact {:.5f}'.format(exact) if exact is not None else ''))
  for key, label in (('energy_z_score', 'energy'),
                     ('specific_heat_z_score', 'specific heat')):
    if summary[key] is not None and abs(summary[key]) > _MAX_Z_SCORE:
      lines.append(
          '  WARNING: the {} is {:.1f} errors from the exact value: the '
          'chains have not equilibrated (a proposal that under-covers pi, '
          'chains too short), so these error bars are not reliable. Run '
          'longer chains, --kernel=global_local, or train a better '
          'flow.'.format(label, summary[key]))
  print('\n'.join(lines))
  return dict(summary, acceptance_rate=acceptance,
              ess_per_second=ess / seconds, sampling_seconds=seconds)


def chains_fn(kernel, model, target, seeds, num_steps=None):
  """A function running the chains of `kernel`: `() -> (states, accepted)`.

  `num_steps` kept per chain, default `--num_steps`.
  """
  num_chains, num_steps = _NUM_CHAINS.value, num_steps or _NUM_STEPS.value
  if kernel == 'independence':
    return lambda: tfp_nrg.mcmc.sample_independence_chains(
        target.log_prob, model, num_chains, num_steps, _NUM_BURNIN.value,
        seed=seeds[0], return_non_finite=True)
  if kernel == 'latent_hmc':
    # The flow x = g(z) of any run (inside the Z2 mixture, if any): latent
    # and physical fields have the same shape.
    flow = tfp_nrg.distributions.unsymmetrized(model).bijector
    latent = tf.random.stateless_normal(
        [num_chains] + model.event_shape.as_list(), seed=seeds[1],
        dtype=model.dtype)
    return lambda: tfp_nrg.mcmc.sample_latent_hmc(
        target.log_prob, flow, latent, num_steps, _NUM_BURNIN.value,
        seed=seeds[3])
  transition = target.local_kernel(_LOCAL_SWEEPS.value)
  if kernel == 'global_local':
    transition = tfp_nrg.mcmc.GlobalLocal(
        target.log_prob, model, transition,
        num_local_steps=_NUM_LOCAL_STEPS.value)
  return lambda: tfp_nrg.mcmc.run_chains(
      transition, model.sample(num_chains, seed=seeds[1]), num_steps,
      _NUM_BURNIN.value, seed=seeds[0], return_non_finite=True)


def adapt(model, target, batch_size, seeds):
  """Fits `model` to the states of global-local chains; returns figures."""
  seeds = tfp.random.split_seed(seeds[3], n=4)  # Not the production chains'.
  (states, accepted, non_finite), seconds = timed_run(chains_fn(
      'global_local', model, target, seeds,
      num_steps=_ADAPT_STATES_PER_CHAIN))
  tfp_nrg.mcmc.warn_non_finite(non_finite)
  print('adaptation: {} global-local chains x {} steps after {} burn-in '
        '({:.1f} s), flow acceptance {:.3f}; fitting the flow to their states '
        'for {} steps'.format(_NUM_CHAINS.value, _ADAPT_STATES_PER_CHAIN,
                              _NUM_BURNIN.value, seconds, accepted.mean(),
                              _ADAPT_STEPS.value))
  result = tfp_nrg.adaptation.fit_to_chains(
      model, target.log_prob, states, num_steps=_ADAPT_STEPS.value,
      batch_size=batch_size, learning_rate=_ADAPT_LEARNING_RATE.value,
      refresh_kernel=target.local_kernel(_LOCAL_SWEEPS.value),
      seed=seeds[3], jit_compile=_JIT.value,
      log_every=max(1, _ADAPT_STEPS.value // 4))
  if result.interrupted:
    raise SystemExit('Interrupted during the adaptation (step {}); no '
                     'production run.'.format(result.steps))
  return dict(adapt_steps=result.steps,
              adapt_seconds=seconds + result.train_seconds,
              adapt_chain_acceptance_rate=float(accepted.mean()))


def main(argv):
  del argv
  # TF's INFO lines, and TFP's autocorrelation FFT warning on casting its
  # complex output to real (it means to).
  logging.set_verbosity(logging.ERROR)
  if _METRICS_OUT.value:
    tfp_nrg.checkpoints.check_new_file(_METRICS_OUT.value, '--metrics_out')
  run = tfp_nrg.runs.load(_MODEL_DIR.value, temperature=_TEMPERATURE.value,
                          target='dual_ising',
                          continuous_steps=_CONTINUOUS_STEPS.value,
                          sampling=True)
  model, target = run.model, run.target
  if target.temperature != run.config.temperature and not _ALLOW_OTHER_T.value:
    raise ValueError(
        'The model in {!r} was trained at T = {}, not {}; pass '
        '--allow_other_temperature to sample it anyway.'.format(
            _MODEL_DIR.value, run.config.temperature, target.temperature))
  temperature, step = target.temperature, run.step
  print('Model of {} ({} training steps), L = {}, T = {:.6f}{}'.format(
      _MODEL_DIR.value, step, target.lattice_size, temperature,
      ', {} Runge-Kutta steps'.format(run.config.continuous_steps)
      if run.config.continuous_steps else ''))
  seeds = tfp.random.split_seed((0, _SEED.value), n=4)
  adaptation = (adapt(model, target, run.config.batch_size, seeds)
                if _ADAPT_STEPS.value else {})

  metrics = run_and_report(_KERNEL.value, target,
                           chains_fn(_KERNEL.value, model, target, seeds),
                           seeds[2])
  metrics.update(kernel=_KERNEL.value, num_chains=_NUM_CHAINS.value,
                 num_steps=_NUM_STEPS.value, temperature=temperature,
                 lattice_size=target.lattice_size, **adaptation)
  if _LATENT_HMC.value:
    metrics['latent_hmc'] = run_and_report(
        'latent_hmc', target, chains_fn('latent_hmc', model, target, seeds),
        seeds[2])

  if _METRICS_OUT.value:
    path = tfp_nrg.checkpoints.claim_new_file(_METRICS_OUT.value)
    with open(path, 'w') as f:
      json.dump(metrics, f, indent=2, sort_keys=True)
    print('Metrics written to {}{}'.format(
        path, '' if path == _METRICS_OUT.value else ' ({} appeared while the '
        'chains ran)'.format(_METRICS_OUT.value)))


if __name__ == '__main__':
  cli.run(main)
