r"""Exact samplers at equal wall time: checkerboard, local, flow, global-local.

For each trained run (`--model_dirs`, runs of `examples/train_ising.py`; a
reverse-KL and a mode-covering flow may be given side by side) and at its L
and T, runs `--num_chains` chains of

  checkerboard   single-spin-flip Metropolis on the spins (one step: one
                 sweep), the method a user would otherwise run; the spins
                 become dual states by the exact x | s;
  local          the dual spin kernel on x (`DualIsing.local_kernel`);
  independence   independence Metropolis with the flow (`--model_dirs`);
  global_local   one local step, then one flow proposal (`mcmc.GlobalLocal`);
                 with `--num_local_steps=1,10`, a row per number of local
                 steps between flow proposals (`gl k=10`).

Each sampler gets the same wall-clock budget (`--seconds`): it is compiled
and timed on a short run, given the number of steps that fills the budget,
and timed again on that (states thinned to at most `--max_kept` per chain).
Reported per sampler: E/N, C/N, |m|, m^2 and the Binder cumulant with
autocorrelation-aware errors; z-scores against Kaufman (E, C) and against a
long checkerboard reference run (|m|, Binder; `--reference_seconds`); the
integrated autocorrelation time and ESS per second of |m| (the slowest of the
three chain-averaged observables at T_c), and the acceptance of the flow
proposals. A sampler whose |z| exceeds 3 anywhere is flagged: its errors are
not to be trusted.

  python benchmarks/sampling.py --model_dirs=runs/L8_reverse,runs/L8_mixed
"""

import math

from absl import flags
import tensorflow as tf
import tensorflow_probability as tfp

import equal_time
import flag_checks
import tfp_nrg

flags.adopt_module_key_flags(equal_time)

_MODEL_DIRS = flags.DEFINE_list('model_dirs', None,
                                'Runs of examples/train_ising.py.')
flags.mark_flag_as_required('model_dirs')
_NUM_LOCAL_STEPS = flags.DEFINE_list(
    'num_local_steps', ['1'],
    'Local steps per flow proposal of the global-local rows, one row each.')
flag_checks.check_each('model_dirs', flag_checks.run_of('dual_ising'))
flag_checks.check_each('num_local_steps', flag_checks.whole_number(0))

_CALIBRATION_STEPS = 50


def checkerboard_chains(target, num_chains, num_results, num_burnin, thin,
                        seed):
  """Checkerboard sweeps of spins, kept states as dual fields x | s."""
  init_seed, burnin_seed, chain_seed, field_seed = tfp.random.split_seed(
      seed, n=4)
  spins = target.random_spins(num_chains, init_seed)
  if num_burnin:
    spins = target.metropolis_sweeps(spins, num_burnin, burnin_seed)
  kept = tf.scan(lambda s, sweep_seed: target.metropolis_sweeps(
      s, thin, sweep_seed), tf.random.experimental.stateless_split(
          chain_seed, num_results), initializer=spins)
  return target.sample_fields(kept, field_seed), tf.constant(float('nan'))


def kernel_chains(kernel, model, num_chains, num_results, num_burnin, thin,
                  seed):
  """Chains of `kernel` started from flow draws; the flow acceptance (or NaN
  for a kernel without flow proposals)."""
  init_seed, chain_seed = tfp.random.split_seed(seed, n=2)
  states, accepted = tfp.mcmc.sample_chain(
      num_results, current_state=model.sample(num_chains, seed=init_seed),
      kernel=kernel, num_burnin_steps=num_burnin,
      num_steps_between_results=thin - 1,
      trace_fn=lambda _, r: tf.cast(getattr(r, 'is_accepted', float('nan')),
                                    tf.float32), seed=chain_seed)
  return states, tf.reduce_mean(accepted)


def samplers(run):
  """`{name: fn(num_results, num_burnin, thin, seed)}` for one run."""
  target, model = run.target, run.model
  chains = equal_time.NUM_CHAINS.value
  local = target.local_kernel()
  kernels = {
      'local': local,
      'independence': tfp_nrg.mcmc.IndependenceMetropolis(target.log_prob,
                                                          model),
  }
  for k in (int(k) for k in _NUM_LOCAL_STEPS.value):
    kernels['global_local' if k == 1 else 'gl k={}'.format(k)] = (
        tfp_nrg.mcmc.GlobalLocal(target.log_prob, model, local,
                                 num_local_steps=k))
  built = {'checkerboard': lambda *a: checkerboard_chains(target, chains, *a)}
  for name, kernel in kernels.items():
    built[name] = (lambda k: lambda *a: kernel_chains(k, model, chains, *a))(
        kernel)
  return built


def row(size, name, label, summary, reference, acceptance, seconds, thin,
        total):
  """One printed line per sampler."""
  tau, tau_text = equal_time.tau_column(summary, 'abs_magnetization', thin)
  z = dict(E=summary['energy_z_score'], C=summary['specific_heat_z_score'])
  z.update(equal_time.z_scores(summary, reference, (
      ('abs_magnetization', '|m|'), ('binder_cumulant', 'U'))))
  print('{:>3} {:<13} {:<8} {:>7.0f} {:>5} {:>9.4f}({:>4.0f}) {:>7.4f}({:>3.0f}) '
        '{:>7.4f}({:>3.0f}) {:>7.4f}({:>3.0f}) {:>7.4f}({:>3.0f}) {} '
        '{:>8.1f} {}'.format(
            size, name, label, total / seconds,
            '-' if math.isnan(acceptance) else '{:.3f}'.format(acceptance),
            summary['energy_per_site'], 1e4 * summary['energy_per_site_stderr'],
            summary['specific_heat_per_site'],
            1e3 * summary['specific_heat_per_site_stderr'],
            summary['abs_magnetization'],
            1e4 * summary['abs_magnetization_stderr'],
            summary['magnetization_squared'],
            1e4 * summary['magnetization_squared_stderr'],
            summary['binder_cumulant'],
            1e3 * summary['binder_cumulant_stderr'], tau_text,
            equal_time.kept_per_second(seconds, total) / tau,
            equal_time.z_column(z)), flush=True)


def main(argv):
  del argv
  tf.get_logger().setLevel('ERROR')  # TFP's FFT autocorrelation casts.
  print('Each sampler runs {:.0f} s wall; errors in parentheses are in units '
        'of the last digit shown (1e-4 for E, |m|, m^2; 1e-3 for C, U).\n{}'
        .format(equal_time.SECONDS.value, equal_time.UNRESOLVED_NOTE))
  print('{:>3} {:<13} {:<8} {:>7} {:>5} {:>15} {:>12} {:>12} {:>12} {:>12} '
        '{:>8} {:>8} {}'.format('L', 'sampler', 'flow', 'steps/s', 'acc.',
                                'E/N', 'C/N', '|m|', 'm^2', 'Binder U',
                                'tau|m|', 'ESS/s|m|', 'z'))
  references = {}
  flow_free_done = set()  # Sizes whose checkerboard and local rows exist.
  for model_dir in _MODEL_DIRS.value:
    run = equal_time.load(model_dir)
    target, size = run.target, run.target.lattice_size
    label = ('mixed' if run.config.forward_kl_weight > 0. else 'reverse')
    built = samplers(run)
    if size not in references:
      states, *_ = equal_time.run_for(
          built['checkerboard'], equal_time.REFERENCE_SECONDS.value, [9, 9],
          _CALIBRATION_STEPS)
      references[size] = tfp_nrg.observables.ising_chain_summary(
          target, states, seed=(9, 9))
    for name, fn in built.items():
      flow_free = name in ('checkerboard', 'local')
      if flow_free and size in flow_free_done:
        continue  # No flow in it: measured once per L.
      states, acceptance, seconds, thin, total = equal_time.run_for(
          fn, equal_time.SECONDS.value, [2, 2], _CALIBRATION_STEPS)
      summary = tfp_nrg.observables.ising_chain_summary(target, states,
                                                        seed=(3, 3))
      row(size, name, '-' if flow_free else label, summary, references[size],
          acceptance, seconds, thin, total)
    flow_free_done.add(size)


if __name__ == '__main__':
  flag_checks.run(main)
