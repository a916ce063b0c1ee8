r"""Plain HMC against global–local with a trained flow on phi^4, equal time.

For each trained run (`--model_dirs`, runs of `examples/train_phi4.py`), at its
L, m2 and lam, runs `--num_chains` chains of

  hmc            HMC on phi, one row per trajectory (`--leapfrog_steps`); the
                 step size is adapted by dual averaging in the burn-in;
  global_local   `--num_local_steps` such HMC steps (`--gl_leapfrog_steps`),
                 then one independence proposal from the flow
                 (`mcmc.GlobalLocal`), exact whatever the flow; one row per
                 value of the list, and 0 is independence Metropolis (one
                 flow pass a step, where global–local needs two: the inverse
                 for `ln q` of the state HMC moved, and the proposal's).

Each sampler gets the same wall-clock budget (`--seconds`): it is compiled and
timed on a short run, given the number of steps that fills the budget (the
first `--burnin_fraction` of them adapt the step size and are discarded), and
timed again on that. Reported per sampler: <phi^2>, <|m|>, chi = N <m^2> and
the Binder cumulant with autocorrelation-aware errors, z-scores against a long
HMC reference run (`--reference_seconds`), the integrated autocorrelation
times and ESS per second of |m| and chi, and the acceptance (HMC's, or the
flow proposals'). A sampler whose |z| exceeds 3 anywhere is flagged.

Then, per flow row, what it would take to beat the best HMC row's ESS/s of
|m| `--speedup` times at the row's own cost per step: the autocorrelation time
tau of |m| that needs, and the flow acceptance `a` that gives it to an
independence chain whose rejections are spread evenly, tau = (2 - a) / a: the
least it needs, since real chains reject in runs. A tau below 1 cannot be had
at that cost at all: the step itself must get cheaper.

  python benchmarks/phi4.py --model_dirs=runs/phi4_L16_lam4.0,runs/phi4_L16_lam5.0 \
      --leapfrog_steps=10,20 --num_local_steps=0,1
"""

from absl import flags
import tensorflow as tf
import tensorflow_probability as tfp

import equal_time
import flag_checks
import tfp_nrg

flags.adopt_module_key_flags(equal_time)

_MODEL_DIRS = flags.DEFINE_list('model_dirs', None,
                                'Runs of examples/train_phi4.py.')
_LEAPFROG_STEPS = flags.DEFINE_list('leapfrog_steps', ['5', '10', '20'],
                                    'HMC trajectories (leapfrog steps).')
_GL_LEAPFROG_STEPS = flags.DEFINE_integer(
    'gl_leapfrog_steps', 10, 'Leapfrog steps of global–local\'s HMC.')
_NUM_LOCAL_STEPS = flags.DEFINE_list(
    'num_local_steps', ['1'],
    'HMC steps before each flow proposal, a row each (0: independence).')
_SPEEDUP = flags.DEFINE_float(
    'speedup', 3., 'The factor over HMC whose cost the last lines work out.')
flags.mark_flag_as_required('model_dirs')
flag_checks.check_each('model_dirs', flag_checks.run_of('phi4'))
flag_checks.check_each('leapfrog_steps', flag_checks.whole_number(1))
flag_checks.check_each('num_local_steps', flag_checks.whole_number(0))
flag_checks.at_least('gl_leapfrog_steps', 1)
flag_checks.positive('speedup')

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


def sampler(run, leapfrog_steps, num_local_steps=None):
  """`fn(num_results, num_burnin, thin, seed) -> (states, acceptance)`.

  Plain HMC if `num_local_steps` is `None`, else global–local with that many
  HMC steps per flow proposal.
  """
  target, model = run.target, run.model

  def fn(num_results, num_burnin, thin, seed):
    kernel = hmc(target, leapfrog_steps, int(0.8 * num_burnin))
    if num_local_steps is not None:
      kernel = tfp_nrg.mcmc.GlobalLocal(
          target.log_prob, model, kernel, num_local_steps=num_local_steps)
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
  """One printed line per sampler; returns its ESS per second of |m|."""
  rate = equal_time.kept_per_second(seconds, total)
  taus = {key: equal_time.tau_column(summary, key, thin)
          for key in ('abs_magnetization', 'susceptibility')}
  z = equal_time.z_scores(summary, reference, (
      ('phi2', 'phi2'), ('abs_magnetization', '|m|'),
      ('susceptibility', 'chi'), ('binder_cumulant', 'U')))
  target = run.target
  print('{:>3} {:>6.3f} {:<22} {:>7.0f} {:>5.3f} {:>8.4f}({:>3.0f}) '
        '{:>7.4f}({:>3.0f}) {:>8.3f}({:>4.0f}) {:>7.4f}({:>3.0f}) {} '
        '{:>8.1f} {} {:>8.1f} {}'.format(
            target.lattice_size, target.lam, name, total / seconds,
            acceptance, summary['phi2'], 1e4 * summary['phi2_stderr'],
            summary['abs_magnetization'],
            1e4 * summary['abs_magnetization_stderr'],
            summary['susceptibility'], 1e3 * summary['susceptibility_stderr'],
            summary['binder_cumulant'],
            1e3 * summary['binder_cumulant_stderr'],
            taus['abs_magnetization'][1], rate / taus['abs_magnetization'][0],
            taus['susceptibility'][1], rate / taus['susceptibility'][0],
            equal_time.z_column(z)), flush=True)
  return rate / taus['abs_magnetization'][0]


def print_requirement(name, rate, goal):
  """What a flow row with `rate` kept states/s needs for `goal` ESS/s."""
  tau = rate / goal
  if tau < 1.:
    need = 'out of reach (tau|m| = 1 would need steps {:.2f}x cheaper)'.format(
        1. / tau)
  else:
    need = 'needs tau|m| <= {:.2f}: a flow acceptance >= {:.2f}'.format(
        tau, 2. / (tau + 1.))
  print('    {:<22} {}'.format(name, need), flush=True)


def main(argv):
  del argv
  tf.get_logger().setLevel('ERROR')  # TFP's FFT autocorrelation casts.
  print('Each sampler runs {:.0f} s wall; errors in parentheses are in units '
        'of the last digit shown (1e-4 for phi^2, |m|; 1e-3 for chi, U).\n{}'
        .format(equal_time.SECONDS.value, equal_time.UNRESOLVED_NOTE))
  print('{:>3} {:>6} {:<22} {:>7} {:>5} {:>13} {:>12} {:>14} {:>12} {:>8} '
        '{:>8} {:>8} {:>8} {}'.format(
            'L', 'lam', 'sampler', 'steps/s', 'acc.', '<phi^2>', '<|m|>',
            'chi', 'Binder U', 'tau|m|', 'ESS/s|m|', 'tau chi', 'ESS/s chi',
            'z vs reference'))
  for model_dir in _MODEL_DIRS.value:
    run = equal_time.load(model_dir)
    if not isinstance(run.target, tfp_nrg.Phi4):
      raise ValueError('{!r} is not a phi^4 run.'.format(model_dir))
    states, *_ = equal_time.run_for(
        sampler(run, 10), equal_time.REFERENCE_SECONDS.value, [9, 9],
        _CALIBRATION_STEPS)
    reference = tfp_nrg.observables.phi4_chain_summary(run.target, states)
    rows = [('hmc L={}'.format(n), sampler(run, int(n)))
            for n in _LEAPFROG_STEPS.value]
    flow_names = []
    for k in (int(k) for k in _NUM_LOCAL_STEPS.value):
      flow_names.append('independence' if k == 0 else
                        'global_local L={}{}'.format(
                            _GL_LEAPFROG_STEPS.value,
                            '' if k == 1 else ' k={}'.format(k)))
      rows.append((flow_names[-1], sampler(run, _GL_LEAPFROG_STEPS.value, k)))
    best_hmc, flow_rates = 0., {}
    for name, fn in rows:
      states, acceptance, seconds, thin, total = equal_time.run_for(
          fn, equal_time.SECONDS.value, [2, 2], _CALIBRATION_STEPS)
      summary = tfp_nrg.observables.phi4_chain_summary(run.target, states)
      ess_rate = row(run, name, summary, reference, acceptance, seconds,
                     thin, total)
      if name in flow_names:
        flow_rates[name] = equal_time.kept_per_second(seconds, total)
      else:
        best_hmc = max(best_hmc, ess_rate)
    if best_hmc > 0. and flow_rates:
      print('  {:.0f}x the best HMC row, {:.0f} ESS/s of |m|, at each flow '
            'row\'s own steps/s:'.format(_SPEEDUP.value,
                                         _SPEEDUP.value * best_hmc))
      for name, rate in flow_rates.items():
        print_requirement(name, rate, _SPEEDUP.value * best_hmc)


if __name__ == '__main__':
  flag_checks.run(main)
