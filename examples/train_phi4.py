r"""Train a flow on lattice phi^4, then sample it exactly (global–local).

Lattice phi^4 on the L x L torus (`tfp_nrg.Phi4`, the action of Albergo,
Kanwar & Shanahan, PRD 100, 034515):

  S = sum_x [m2 phi_x^2 + lam phi_x^4] + sum_{x,mu} (phi_{x+mu} - phi_x)^2.

The script trains a Z2-invariant flow (by default the hybrid: the
equivariant continuous flow at the physical end of a NeuralRG, the measured
best for phi^4 at L = 8 and 16, 1500 steps; `--flow=continuous` is the
continuous flow alone, `--flow=neural_rg` NeuralRG alone; the script watches
a continuous flow's integration error) by minimising the variational free energy
F = E_q[ln q + S] >= -ln Z (against the exact value for the free field,
lam = 0), evaluates it (F, ESS, independence-Metropolis acceptance),
then runs `--num_chains` global–local chains: HMC on phi as the local kernel
(step size adapted in the burn-in) and one independence proposal from the flow
after every `--num_local_steps` HMC steps, exact whatever the flow. It reports
<phi^2>, <|m|>, the susceptibility chi = N <m^2>, the Binder cumulant and the
two-point function with autocorrelation-aware errors, and writes them to
`metrics.json` with a picture of flow draws and chain states.

Usage:

  python examples/train_phi4.py                  # L = 8, m2 = -4, lam = 4.5
  python examples/train_phi4.py --lam=0 --m2=0.5 --lattice_size=16   # free

The network, optimizer and run flags (`--lattice_size`, `--architecture`,
`--z2`, `--num_steps`, `--model_dir`, ...) are those of every training example
(`training_flags.py`); a run resumes from its `--model_dir`.
"""

import math
import os
import time

from absl import flags
from absl import logging
import tensorflow as tf
import tensorflow_probability as tfp

import cli
import tfp_nrg
import training_flags

# --help lists the shared flags beside the script's own.
flags.adopt_module_key_flags(training_flags)
# The hybrid by default, as for the Ising example (docs/results.md: the best
# flow on interacting phi^4 at L = 8 and 16, and within a gap per site of
# 1e-4 on the free field), with phi^4's own step count and the rate it was
# measured at: at L = 8, 1500 steps at 2e-3 (406 s) reach ESS 0.89 and
# acceptance 0.81, where NeuralRG's 6000 (696 s) reached 0.09 and 0.52.
training_flags.set_flow_defaults('hybrid', num_steps=1500, learning_rate=2e-3)

_M2 = flags.DEFINE_float('m2', -4., 'Bare mass squared m2.')
_LAM = flags.DEFINE_float(
    'lam', 4.5, 'Quartic coupling lam >= 0 (4.5 at m2 = -4: near the critical '
    'region at L = 8 and 16, Binder cumulant 0.5).')
_NUM_CHAINS = flags.DEFINE_integer('num_chains', 64, 'Global–local chains.')
_SAMPLE_STEPS = flags.DEFINE_integer('sample_steps', 1000,
                                     'Steps kept per chain.')
_BURNIN_STEPS = flags.DEFINE_integer(
    'num_burnin_steps', 200, 'Steps discarded per chain (HMC adapts its step '
    'size in the first 80%).')
_HMC_STEP_SIZE = flags.DEFINE_float('hmc_step_size', 0.1,
                                    'Initial HMC step size.')
_HMC_LEAPFROG_STEPS = flags.DEFINE_integer('hmc_leapfrog_steps', 10,
                                           'Leapfrog steps per HMC step.')
_NUM_LOCAL_STEPS = flags.DEFINE_integer(
    'num_local_steps', 1, 'HMC steps before each flow proposal.')
_MAX_R_HAT = 1.1  # Chains whose phi^2 R-hat exceeds this disagree.
for _name, _minimum in (('num_chains', 1), ('sample_steps', 20),
                        ('num_burnin_steps', 0), ('hmc_leapfrog_steps', 1),
                        ('num_local_steps', 0)):
  flags.register_validator(
      _name, lambda value, minimum=_minimum: value >= minimum,
      message='--{} must be at least {}.'.format(_name, _minimum))
flags.register_validator(
    'hmc_step_size', lambda value: 0. < value < math.inf,
    message='--hmc_step_size must be positive and finite.')

def local_kernel(target):
  """HMC on phi, its step size adapted (dual averaging) during the burn-in."""
  return tfp.mcmc.DualAveragingStepSizeAdaptation(
      tfp.mcmc.HamiltonianMonteCarlo(
          target.log_prob, step_size=_HMC_STEP_SIZE.value,
          num_leapfrog_steps=_HMC_LEAPFROG_STEPS.value),
      num_adaptation_steps=int(0.8 * _BURNIN_STEPS.value))


def sample(model, target, seed):
  """Global–local chains; returns `(states, is_accepted, seconds)`."""
  kernel = tfp_nrg.mcmc.GlobalLocal(target.log_prob, model,
                                    local_kernel(target),
                                    num_local_steps=_NUM_LOCAL_STEPS.value)
  init_seed, chain_seed = tfp.random.split_seed(seed)
  start = time.time()
  states, accepted, non_finite = tf.function(
      lambda: tfp_nrg.mcmc.run_chains(
          kernel, model.sample(_NUM_CHAINS.value, seed=init_seed),
          _SAMPLE_STEPS.value, _BURNIN_STEPS.value, seed=chain_seed,
          return_non_finite=True),
      jit_compile=training_flags.JIT.value, autograph=False)()
  tfp_nrg.mcmc.warn_non_finite(non_finite)
  return states.numpy(), accepted.numpy(), time.time() - start


def save_samples_png(model, states, path, seed, title):
  """Eight flow draws above eight chain states."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = [model.sample(8, seed=seed).numpy(), states[-1, :8]]
  limit = max(float(abs(r).max()) for r in rows)
  if not math.isfinite(limit) or limit == 0.:  # A diverged model.
    limit = 1.
  fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
  for row, fields in enumerate(rows):
    for i in range(min(8, len(fields))):
      axes[row, i].imshow(fields[i], cmap='RdBu_r', vmin=-limit, vmax=limit)
    for ax in axes[row]:
      ax.set_xticks([])
      ax.set_yticks([])
  axes[0, 0].set_ylabel('flow draws')
  axes[1, 0].set_ylabel('chain states')
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv):
  del argv
  # TF's per-checkpoint INFO lines, and TFP's autocorrelation FFT warning.
  logging.set_verbosity(logging.ERROR)
  config = training_flags.run_config(target='phi4', m2=_M2.value,
                                     lam=_LAM.value)
  model_dir, metrics_out = training_flags.prepare_run_dir(config, 'phi4')
  target, model = config.build_target(), config.build_model()
  trainer = config.build_trainer(model, target,
                                 jit_compile=training_flags.JIT.value)
  result, training_figures = training_flags.train(trainer, config,
                                                  model_dir)
  if result is None:
    return

  evaluation_seed, chain_seed, picture_seed = tfp.random.split_seed(
      tf.random.experimental.stateless_fold_in(trainer.seed, -1), n=3)
  model, evaluation_figures = training_flags.evaluation_model(
      model, config, model_dir,
      tf.random.experimental.stateless_fold_in(evaluation_seed, 2))
  eval_samples = training_flags.eval_samples()
  results = tfp_nrg.evaluation.evaluate(
      model, target.log_prob, eval_samples, seed=evaluation_seed,
      jit_compile=training_flags.JIT.value)
  figures = tfp_nrg.evaluation.flatten(results)
  n = target.num_sites
  bound = results.free_energy_bound
  lines = ['{} on phi^4: L = {}, m2 = {}, lam = {}, {} steps ({:.1f} '
           's)'.format(training_flags.FLOW_NAMES[config.flow],
                       target.lattice_size, target.m2, target.lam,
                       int(trainer.step.numpy()), result.train_seconds),
           '  variational free energy F = {:.4f} +- {:.4f}'.format(*bound)]
  try:
    log_z = target.exact_log_normalizer()
    figures.update(exact_log_z=log_z, gap_per_site=(bound.value + log_z) / n,
                   relative_error=(bound.value + log_z) / abs(log_z))
    lines.append('  exact -ln Z = {:.4f}   gap per site {:.2e}   relative '
                 'error {:.2e}'.format(-log_z, figures['gap_per_site'],
                                       figures['relative_error']))
  except NotImplementedError:
    pass
  lines.append('  ESS fraction {:.3f} +- {:.3f}   independence-Metropolis '
               'acceptance {:.3f} +- {:.3f}'.format(*results.ess_fraction,
                                                    *results.acceptance_rate))
  print('\n'.join(lines), flush=True)
  if results.num_non_finite_log_weights:
    print('WARNING: the flow returned non-finite log-densities at {} draws: '
          'it has diverged; its figures are written as null.'.format(
              results.num_non_finite_log_weights))

  print('Sampling: {} global–local chains, {} + {} steps...'.format(
      _NUM_CHAINS.value, _BURNIN_STEPS.value, _SAMPLE_STEPS.value), flush=True)
  states, accepted, seconds = sample(model, target, chain_seed)
  summary = tfp_nrg.observables.phi4_chain_summary(target, states)
  ess = accepted.size / summary['abs_magnetization_autocorrelation_time']
  lines = ['Global–local chains: flow proposals accepted {:.3f}, {:.1f} s with '
           'compilation, ESS of |m| {:.0f} ({:.0f} per second)'.format(
               accepted.mean(), seconds, ess, ess / seconds)]
  for name, label in (('phi2', '<phi^2>'), ('abs_magnetization', '<|m|>'),
                      ('susceptibility', 'chi = N <m^2>'),
                      ('binder_cumulant', 'Binder cumulant')):
    lines.append('  {:<16} {:.5f} +- {:.5f}'.format(
        label, summary[name], summary[name + '_stderr']))
  lines.append('  G(r), r = 0..{}: {}'.format(
      len(summary['two_point']) - 1,
      ' '.join('{:.4f}'.format(g) for g in summary['two_point'])))
  lines.append('  R-hat of phi^2 across chains {:.3f}'.format(
      summary['phi2_potential_scale_reduction']))
  if summary['phi2_potential_scale_reduction'] > _MAX_R_HAT:
    lines.append('WARNING: the chains disagree (R-hat above {}): some are '
                 'stuck or too short; the errors above are not to be '
                 'trusted.'.format(_MAX_R_HAT))
  print('\n'.join(lines))
  figures.update(summary)
  picture = tfp_nrg.checkpoints.claim_new_file(
      os.path.join(model_dir, 'samples.png'))
  save_samples_png(model, states, picture, picture_seed,
                   'phi^4, L = {}, m2 = {}, lam = {}'.format(
                       target.lattice_size, target.m2, target.lam))
  figures.update(
      global_acceptance_rate=float(accepted.mean()),
      abs_magnetization_ess_per_second=ess / seconds,
      sampling_seconds=seconds, steps=int(trainer.step.numpy()),
      train_seconds=result.train_seconds, eval_samples=eval_samples,
      non_finite_figures=tfp_nrg.evaluation.non_finite(results),
      model_dir=model_dir, samples_png=picture, config=config.to_dict(),
      **training_figures, **evaluation_figures)
  training_flags.write_metrics(metrics_out, figures, picture)


if __name__ == '__main__':
  cli.run(main)
