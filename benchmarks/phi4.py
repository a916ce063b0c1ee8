r"""Plain HMC against global–local with a trained flow on phi^4, equal time.

For each trained run (`--model_dirs`, runs of `examples/train_phi4.py`), at its
L, m2 and lam, runs `--num_chains` chains of

  hmc            HMC on phi, one row per trajectory (`--leapfrog_steps`); the
                 step size is adapted by dual averaging in the burn-in;
  global_local   `--num_local_steps` such HMC steps (`--gl_leapfrog_steps`),
                 then one independence proposal from the flow
                 (`mcmc.GlobalLocal`), exact whatever the flow.

Each sampler gets the same wall-clock budget (`--seconds`): it is compiled and
timed on a short run, given the number of steps that fills the budget (the
first `--burnin_fraction` of them adapt the step size and are discarded), and
timed again on that. Reported per sampler: <phi^2>, <|m|>, chi = N <m^2> and
the Binder cumulant with autocorrelation-aware errors, z-scores against a long
HMC reference run (`--reference_seconds`), the integrated autocorrelation
times and ESS per second of |m| and chi, and the acceptance (HMC's, or the
flow proposals'). A sampler whose |z| exceeds 3 anywhere is flagged.

  python benchmarks/phi4.py --model_dirs=runs/phi4_L8_lam5,runs/phi4_L8_lam7
"""

from absl import app
from absl import flags
import tensorflow as tf
import tensorflow_probability as tfp

import equal_time
import tfp_nrg

_MODEL_DIRS = flags.DEFINE_list('model_dirs', None,
                                'Runs of examples/train_phi4.py.')
_LEAPFROG_STEPS = flags.DEFINE_list('leapfrog_steps', ['5', '10', '20'],
                                    'HMC trajectories (leapfrog steps).')
_GL_LEAPFROG_STEPS = flags.DEFINE_integer(
    'gl_leapfrog_steps', 10, 'Leapfrog steps of global–local\'s HMC.')
_NUM_LOCAL_STEPS = flags.DEFINE_integer(
    'num_local_steps', 1, 'HMC steps before each flow proposal.')
flags.mark_flag_as_required('model_dirs')

_CALIBRATION_STEPS = 20


def hmc(target, leapfrog_steps, num_adaptation_steps):
  return tfp.mcmc.DualAveragingStepSizeAdaptation(
      tfp.mcmc.HamiltonianMonteCarlo(target.log_prob, step_size=0.1,
                                     num_leapfrog_steps=leapfrog_steps),
      num_adaptation_steps=max(num_adaptation_steps, 1))


def is_accepted(results):
  """The acceptance in (possibly wrapped) kernel results: HMC's or GL's."""
  while not hasattr(results, 'is_accepted'):
    results = results.inner_results
  return results.is_accepted


def sampler(run, leapfrog_steps, flow_proposals):
  """`fn(num_results, num_burnin, thin, seed) -> (states, acceptance)`."""
  target, model = run.target, run.model

  def fn(num_results, num_burnin, thin, seed):
    kernel = hmc(target, leapfrog_steps, int(0.8 * num_burnin))
    if flow_proposals:
      kernel = tfp_nrg.mcmc.GlobalLocal(
          target.log_prob, model, kernel,
          num_local_steps=_NUM_LOCAL_STEPS.value)
    init_seed, chain_seed = tfp.random.split_seed(seed, n=2)
    states, accepted = tfp.mcmc.sample_chain(
        num_results,
        model.sample(equal_time.NUM_CHAINS.value, seed=init_seed),
        kernel=kernel, num_burnin_steps=num_burnin,
        num_steps_between_results=thin - 1,
        trace_fn=lambda _, r: tf.cast(is_accepted(r), tf.float32),
        seed=chain_seed)
    return states, tf.reduce_mean(accepted)

  return fn


def row(run, name, summary, reference, acceptance, seconds, thin, total):
  """One printed line per sampler."""
  kept = equal_time.NUM_CHAINS.value * total * (
      1. - equal_time.BURNIN_FRACTION.value)
  taus = {key: summary[key + '_autocorrelation_time'] * thin
          for key in ('abs_magnetization', 'susceptibility')}
  z = equal_time.z_scores(summary, reference, (
      ('phi2', 'phi2'), ('abs_magnetization', '|m|'),
      ('susceptibility', 'chi'), ('binder_cumulant', 'U')))
  target = run.target
  print('{:>3} {:>6.3f} {:<16} {:>7.0f} {:>5.3f} {:>8.4f}({:>3.0f}) '
        '{:>7.4f}({:>3.0f}) {:>8.3f}({:>4.0f}) {:>7.4f}({:>3.0f}) {:>7.1f} '
        '{:>8.1f} {:>7.1f} {:>8.1f} {}'.format(
            target.lattice_size, target.lam, name, total / seconds,
            acceptance, summary['phi2'], 1e4 * summary['phi2_stderr'],
            summary['abs_magnetization'],
            1e4 * summary['abs_magnetization_stderr'],
            summary['susceptibility'], 1e3 * summary['susceptibility_stderr'],
            summary['binder_cumulant'],
            1e3 * summary['binder_cumulant_stderr'],
            taus['abs_magnetization'], kept / taus['abs_magnetization'] /
            seconds, taus['susceptibility'],
            kept / taus['susceptibility'] / seconds,
            equal_time.z_column(z)), flush=True)


def main(argv):
  del argv
  tf.get_logger().setLevel('ERROR')  # TFP's FFT autocorrelation casts.
  print('Each sampler runs {:.0f} s wall; errors in parentheses are in units '
        'of the last digit shown (1e-4 for phi^2, |m|; 1e-3 for chi, U).'
        .format(equal_time.SECONDS.value))
  print('{:>3} {:>6} {:<16} {:>7} {:>5} {:>13} {:>12} {:>14} {:>12} {:>7} '
        '{:>8} {:>7} {:>8} {}'.format(
            'L', 'lam', 'sampler', 'steps/s', 'acc.', '<phi^2>', '<|m|>',
            'chi', 'Binder U', 'tau|m|', 'ESS/s|m|', 'tau chi', 'ESS/s chi',
            'z vs reference'))
  for model_dir in _MODEL_DIRS.value:
    run = tfp_nrg.runs.load(model_dir)
    if not isinstance(run.target, tfp_nrg.Phi4):
      raise ValueError('{!r} is not a phi^4 run.'.format(model_dir))
    states, *_ = equal_time.run_for(
        sampler(run, 10, False), equal_time.REFERENCE_SECONDS.value, [9, 9],
        _CALIBRATION_STEPS)
    reference = tfp_nrg.observables.phi4_chain_summary(run.target, states)
    rows = [('hmc L={}'.format(n), sampler(run, int(n), False))
            for n in _LEAPFROG_STEPS.value]
    rows.append(('global_local L={}'.format(_GL_LEAPFROG_STEPS.value),
                 sampler(run, _GL_LEAPFROG_STEPS.value, True)))
    for name, fn in rows:
      states, acceptance, seconds, thin, total = equal_time.run_for(
          fn, equal_time.SECONDS.value, [2, 2], _CALIBRATION_STEPS)
      summary = tfp_nrg.observables.phi4_chain_summary(run.target, states)
      row(run, name, summary, reference, acceptance, seconds, thin, total)


if __name__ == '__main__':
  app.run(main)
