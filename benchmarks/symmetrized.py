r"""What averaging a trained flow over the lattice's symmetries buys, and costs.

Evaluates one run's model `q` and its mixtures over symmetry groups of the
target, `q_G(x) = 1/|G| sum_g q(g x)` (`tfp_nrg.Symmetrized`), side by side on
the same seed: the variational free energy F (and, where `ln Z` is exact,
the gap per site), the ESS fraction, the independence-Metropolis acceptance,
and the seconds each evaluation took (a mixture evaluates `q` `|G|` times per
density). F falls by `KL(q || q_G) >= 0`; the ESS and the acceptance rise only
as far as what `q` gets wrong breaks the group.

Usage:

  python benchmarks/symmetrized.py --model_dir=runs/L8 \
      --groups=none,dihedral,translations --num_samples=4096
"""

import time

from absl import flags

import flag_checks
import tfp_nrg

_MODEL_DIR = flags.DEFINE_string('model_dir', None, 'A training run.')
_GROUPS = flags.DEFINE_list(
    'groups', ['none', 'dihedral', 'translations'],
    'Rows: `none` (the run\'s model), or a group of `tfp_nrg.Symmetrized` '
    '(`z2`, `dihedral`, `translations`, or a product such as '
    '`dihedral+translations`).')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 4096,
                                    'Draws of each model.')
_CONTINUOUS_STEPS = flags.DEFINE_integer(
    'continuous_steps', None,
    'Runge-Kutta steps of a continuous flow (default the run\'s own).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the draws (one for all).')
flags.mark_flag_as_required('model_dir')
flag_checks.check_each('model_dir', flag_checks.run_of('dual_ising', 'phi4'))


def _check_group(group):
  """`none`, or `+`-joined distinct names of `symmetry_groups.NAMES`."""
  if group == 'none':
    return
  names = group.split('+')
  for name in names:
    flag_checks.one_of(tfp_nrg.distributions.symmetry_groups.NAMES)(name)
  if len(set(names)) != len(names):
    raise ValueError('a product must name distinct groups.')


flag_checks.check_each('groups', _check_group)
flag_checks.at_least('num_samples', 2)
flag_checks.at_least('continuous_steps', 1)


def main(argv):
  del argv
  run = tfp_nrg.runs.load(_MODEL_DIR.value,
                          continuous_steps=_CONTINUOUS_STEPS.value)
  target, size = run.target, run.config.lattice_size
  try:
    exact_free_energy = -float(target.exact_log_normalizer())
  except NotImplementedError:
    exact_free_energy = None
  print('{}: {} flow, L = {}, {} draws each{}'.format(
      _MODEL_DIR.value, run.config.flow, size, _NUM_SAMPLES.value,
      '' if exact_free_energy is None else
      ', exact -ln Z = {:.4f}'.format(exact_free_energy)))
  print('| group | order | F | gap per site | ESS fraction | acceptance | '
        'seconds |')
  print('| --- | --- | --- | --- | --- | --- | --- |')
  for group in _GROUPS.value:
    if group == 'none':
      model, order = run.model, 1
    else:
      model = tfp_nrg.Symmetrized(run.model, group=tuple(group.split('+')))
      order = model.group_order
    start = time.time()
    results = tfp_nrg.evaluation.evaluate(
        model, target.log_prob, _NUM_SAMPLES.value,
        seed=(_SEED.value, 1), batch_size=max(8, 1024 // order))
    free_energy = results.free_energy_bound
    gap = '-' if exact_free_energy is None else '{:.3e}'.format(
        (free_energy.value - exact_free_energy) / size**2)
    print('| {} | {} | {:.4f} ± {:.4f} | {} | {:.3f} ± {:.3f} | '
          '{:.3f} ± {:.3f} | {:.0f} |'.format(
              group, order, free_energy.value, free_energy.stderr, gap,
              results.ess_fraction.value, results.ess_fraction.stderr,
              results.acceptance_rate.value, results.acceptance_rate.stderr,
              time.time() - start))


if __name__ == '__main__':
  flag_checks.run(main)
