r"""Look at the renormalization group a trained NeuralRG has learned.

Loads a model trained by `examples/train_ising.py` (`--model_dir`), draws
equilibrium configurations with independence Metropolis (the flow as
proposal: exact for the Ising model however imperfect the flow), and writes
into `--output_dir`:

  regeneration.png        configurations decoded from the coarse scales only
  receptive_fields.png    dx/dz of one latent variable per scale
  correlations.png        connected correlations, physical vs latent per scale
  mutual_information.png  mutual information, physical vs latent per scale
  wandering.png           decoded straight and great-circle latent paths
  index.md                the pictures with a caption each, and the fitted
                          effective couplings per scale
  rg_analysis.json        every number above

Usage:

  python examples/rg_analysis.py --model_dir=runs/ising_L8_... \
      --output_dir=runs/ising_L8_.../rg
"""

import json
import math
import os

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import cli
import tfp_nrg

_MODEL_DIR = flags.DEFINE_string('model_dir', None,
                                 'Directory of a train_ising.py run.')
_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', None, 'Where to write (new or empty); default the first '
    'unused <model_dir>/rg_analysis[.N].')
_NUM_SAMPLES = flags.DEFINE_integer(
    'num_samples', 2048,
    'Equilibrium configurations: the last state of as many independence '
    'Metropolis chains (so they are independent).')
_NUM_BURNIN = flags.DEFINE_integer('num_burnin_steps', 100,
                                   'Steps of each chain before its state '
                                   'is kept.')
_COUPLING_SAMPLES = flags.DEFINE_integer(
    'coupling_samples', 2048, 'Latent draws per scale for the coupling fit.')
_KSG_SAMPLES = flags.DEFINE_integer(
    'ksg_samples', 1000, 'Configurations for the k-NN mutual information.')
_NUM_FRAMES = flags.DEFINE_integer('num_frames', 8,
                                   'Frames of each latent path.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the analysis.')
flags.mark_flag_as_required('model_dir')
for _name, _minimum in (('num_burnin_steps', 0),
                        ('coupling_samples', tfp_nrg.rg.MIN_COUPLING_SAMPLES),
                        ('num_frames', tfp_nrg.rg.MIN_FRAMES),
                        # Neighbouring pairs: one variable against one.
                        ('ksg_samples',
                         tfp_nrg.stats.min_gaussian_samples(1, 1))):
  flags.register_validator(
      _name, lambda value, minimum=_minimum: value >= minimum,
      message='--{} must be at least {}.'.format(_name, _minimum))

CAPTIONS = {
    'regeneration.png':
        'Decoded from the coarse scales only, coarse (left) to fine (right): '
        'finer latent variables redrawn (top rows) or set to zero (bottom '
        'rows); shallow layers give blurred versions of the configuration.',
    'receptive_fields.png':
        'Receptive fields dx/dz of one latent variable per scale (marked; '
        'colour scale per panel), at an equilibrium configuration: '
        'wavelet-like, wider at coarser scales.',
    'correlations.png':
        'Connected correlation g(r) of the physical field and of each '
        'scale\'s latent variables: the flow removes most correlation.',
    'mutual_information.png':
        'Mutual information between the lattice halves (Gaussian estimate) '
        'and between neighbours (Gaussian and KSG k-NN), physical vs latent.',
    'wandering.png':
        'Latent wandering between two equilibrium configurations, straight '
        '(top) and along the great circle (bottom), decoded.',
}


def pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def save(fig, path):
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  pyplot().close(fig)


def image_row(axes, fields, titles, shared_scale=True):
  """Fields on a diverging colour scale, shared or one per panel."""
  shared_limit = max(float(np.abs(f).max()) for f in fields)
  for ax, field, title in zip(axes, fields, titles):
    limit = shared_limit if shared_scale else float(np.abs(field).max())
    limit = limit or 1.
    ax.imshow(field, cmap='RdBu_r', vmin=-limit, vmax=limit)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_regeneration(path, fresh, zero):
  """`fresh`, `zero`: [scales + 1, examples, L, L], coarse to fine."""
  plt = pyplot()
  num_levels, num_examples = fresh.shape[:2]
  fig, axes = plt.subplots(2 * num_examples, num_levels, squeeze=False,
                           figsize=(1.6 * num_levels, 3.4 * num_examples))
  titles = ['coarse only'] + ['from scale {}'.format(s)
                              for s in range(num_levels - 2, 0, -1)] + ['all']
  for e in range(num_examples):
    image_row(axes[2 * e], fresh[:, e], [t + ', redrawn' for t in titles])
    image_row(axes[2 * e + 1], zero[:, e], [t + ', zeros' for t in titles])
  save(fig, path)


def plot_receptive_fields(path, fields, sites):
  plt = pyplot()
  fig, axes = plt.subplots(1, len(sites), squeeze=False,
                           figsize=(2.2 * len(sites), 2.5))
  titles = ['scale {}'.format(k) for k in range(len(sites) - 1)] + ['coarse']
  image_row(axes[0], fields, titles, shared_scale=False)
  for ax, (i, j) in zip(axes[0], sites):
    ax.plot(j, i, 'k+', markersize=8)
  save(fig, path)


def plot_correlations(path, correlations):
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(4.5, 3.2))
  for name, c in correlations.items():
    ax.plot(c['distance'], c['correlation'], 'o-', label=name)
  ax.axhline(0., color='gray', lw=0.5)
  ax.set_xlabel('distance r (sites)')
  ax.set_ylabel('g(r)')
  ax.legend(fontsize=8)
  save(fig, path)


def plot_mutual_information(path, halves, pairs):
  plt = pyplot()
  fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
  left.bar(list(halves), list(halves.values()))
  left.set_ylabel('I(left : right) [nats]')
  left.tick_params(axis='x', labelsize=8)
  names = list(pairs)
  positions = np.arange(len(names))
  for offset, estimator in ((-0.2, 'gaussian'), (0.2, 'ksg')):
    right.bar(positions + offset, [pairs[n][estimator] for n in names], 0.4,
              label=estimator)
  right.set_xticks(positions)
  right.set_xticklabels(names, fontsize=8)
  right.set_ylabel('I(neighbour pair) [nats]')
  right.legend(fontsize=8)
  save(fig, path)


def plot_wandering(path, linear, great_circle):
  plt = pyplot()
  num_frames = linear.shape[0]
  fig, axes = plt.subplots(2, num_frames, squeeze=False,
                           figsize=(1.5 * num_frames, 3.3))
  titles = ['t = {:.2f}'.format(t) for t in np.linspace(0., 1., num_frames)]
  image_row(axes[0], linear, titles)
  image_row(axes[1], great_circle, titles)
  save(fig, path)


def write_index(path, header, couplings):
  lines = ['# NeuralRG renormalization-group analysis', '', header, '']
  for name, caption in CAPTIONS.items():
    lines += ['![{0}]({0})'.format(name), '', caption, '']
  lines += [
      'Effective couplings of the latent energy E(z) = -ln pi(g(z)) - '
      'ln|det dg/dz| with the finer variables at zero, fitted per scale to '
      'c + h sum z + m sum z^2 + J sum_<ij> z_i z_j + u sum z^4 (a perfect '
      'flow gives m = 1/2, h = J = u = 0 at scale 0):', '',
      '| scale | coarse lattice | m | J | u | h | R^2 |',
      '| --- | --- | --- | --- | --- | --- | --- |']
  for c in couplings:
    coupling = '-' if c['coupling'] is None else '{:.4f}'.format(c['coupling'])
    lines.append('| {} | {}x{} | {:.4f} | {} | {:.4f} | {:.4f} | {:.3f} |'
                 .format(c['scale'], c['size'], c['size'], c['mass'],
                         coupling, c['quartic'], c['field'], c['r_squared']))
  with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')


def to_numpy(structure):
  return tf.nest.map_structure(
      lambda v: v.numpy().tolist() if isinstance(v, tf.Tensor) else
      (v.tolist() if isinstance(v, np.ndarray) else v), structure)


def prepare_output_dir(lattice_size):
  """Checks the flags that depend on the run; creates the output directory.

  Returns:
    `--output_dir`, which must be new or empty, or by default the first
    unused `<model_dir>/rg_analysis[.N]`, so an earlier analysis is kept.

  Raises:
    app.UsageError: naming the flag, before any work.
  """
  # The half-lattice mutual information: N/2 variables against N/2.
  half = lattice_size**2 // 2
  needed = tfp_nrg.stats.min_gaussian_samples(half, half)
  if _NUM_SAMPLES.value < needed:
    raise app.UsageError('--num_samples must be at least {} at L = {} (the '
                         'mutual information of the lattice halves); got '
                         '{}.'.format(needed, lattice_size,
                                      _NUM_SAMPLES.value))
  if _KSG_SAMPLES.value > _NUM_SAMPLES.value:
    raise app.UsageError('--ksg_samples ({}) must not exceed --num_samples '
                         '({}).'.format(_KSG_SAMPLES.value, _NUM_SAMPLES.value))
  output_dir = _OUTPUT_DIR.value
  if output_dir is None:
    output_dir = tfp_nrg.checkpoints.unused_path(
        os.path.join(_MODEL_DIR.value, 'rg_analysis'))
  elif os.path.isdir(output_dir) and os.listdir(output_dir):
    raise app.UsageError('--output_dir {!r} is not empty; refusing to '
                         'overwrite what it holds.'.format(output_dir))
  try:
    tfp_nrg.checkpoints.check_writable_directory(output_dir, '--output_dir')
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  os.makedirs(output_dir, exist_ok=True)
  return output_dir


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  run = tfp_nrg.runs.load(_MODEL_DIR.value, target='dual_ising')
  if run.config.flow != 'neural_rg':
    raise app.UsageError('{!r} holds a {!r} flow; the RG analysis reads the '
                         'scales of a NeuralRG (--flow=neural_rg).'.format(
                             _MODEL_DIR.value, run.config.flow))
  model, target, step = run.model, run.target, run.step
  flow = tfp_nrg.distributions.flow_of(model)
  output_dir = prepare_output_dir(flow.lattice_size)
  seeds = tfp.random.split_seed((0, _SEED.value), n=6)

  sample = tf.function(
      lambda: tfp_nrg.mcmc.sample_independence_chains(
          target.log_prob, model, _NUM_SAMPLES.value, 1, _NUM_BURNIN.value,
          seed=seeds[0]), jit_compile=True, autograph=False)
  states, accepted = sample()
  x = states[0]
  # A symmetrized model's flow generates one sign of each orbit {x, -x} (the
  # mixture draws the other): its latent variables are those of that sign.
  z = flow.inverse(model.orbit_representative(x)
                   if isinstance(model, tfp_nrg.Symmetrized) else x)
  acceptance = float(tf.reduce_mean(tf.cast(accepted, tf.float32)))
  print('Model of {} ({} steps), L = {}, T = {:.6f}: {} configurations '
        '(independence Metropolis, final acceptance {:.4f})'.format(
            _MODEL_DIR.value, step, flow.lattice_size, target.temperature,
            x.shape[0], acceptance))
  # A chain that never accepted still holds its first flow draw.
  unmoved = (1. - acceptance)**(_NUM_BURNIN.value + 1)
  if unmoved > 0.01:
    print('WARNING: at a flow acceptance of {:.3f}, about {:.1%} of the '
          'chains may never have left their first flow draw in {} steps: '
          'these are not all equilibrium configurations. {}'.format(
              acceptance, unmoved, _NUM_BURNIN.value + 1,
              'Raise --num_burnin_steps to at least {}, or train a better '
              'flow.'.format(int(math.log(0.01) / math.log1p(-acceptance)))
              if 0. < acceptance < 1. else 'Train a better flow.'))

  fresh = tf.stack(tfp_nrg.rg.scale_by_scale(flow, z[:2], 'fresh',
                                             seeds[1]))
  zero = tf.stack(tfp_nrg.rg.scale_by_scale(flow, z[:2], 'zero'))
  plot_regeneration(os.path.join(output_dir, 'regeneration.png'),
                    fresh.numpy(), zero.numpy())

  sites = tfp_nrg.rg.receptive_field_sites(flow)
  fields = tfp_nrg.rg.receptive_fields(flow, z[0], sites)
  plot_receptive_fields(os.path.join(output_dir, 'receptive_fields.png'),
                        fields.numpy(), sites)

  correlations = tfp_nrg.rg.scale_correlations(flow, x, z)
  plot_correlations(os.path.join(output_dir, 'correlations.png'),
                    to_numpy(correlations))

  halves = to_numpy(tfp_nrg.rg.half_lattice_mutual_information(flow, x, z))
  subset = slice(0, _KSG_SAMPLES.value)
  finest = flow.latent_scales(z)[0]
  # Neighbouring sites; neighbouring cells' first latent variables.
  pair_sets = {'physical': (x[subset, 0, 0:1], x[subset, 0, 1:2]),
               'latent scale 0': (finest[subset, 0, 0, 0:1],
                                  finest[subset, 0, 1, 0:1])}
  pairs = {name: dict(
      gaussian=float(tfp_nrg.stats.gaussian_mutual_information(a, b)),
      ksg=float(tfp_nrg.stats.ksg_mutual_information(a, b)))
           for name, (a, b) in pair_sets.items()}
  plot_mutual_information(os.path.join(output_dir, 'mutual_information.png'),
                          halves, pairs)

  paths = {path: tfp_nrg.rg.latent_wandering(flow, z[0], z[1],
                                             _NUM_FRAMES.value, path).numpy()
           for path in ('linear', 'great_circle')}
  plot_wandering(os.path.join(output_dir, 'wandering.png'), paths['linear'],
                 paths['great_circle'])

  scale_seeds = tfp.random.split_seed(seeds[2], n=flow.num_latent_scales + 1)
  couplings = [tfp_nrg.rg.effective_couplings(
      flow, target.log_prob, scale, _COUPLING_SAMPLES.value,
      scale_seeds[scale]) for scale in range(flow.num_latent_scales + 1)]

  header = ('Model: `{}` ({} training steps), L = {}, T = {:.6f}; {} '
            'configurations from independence Metropolis.'.format(
                _MODEL_DIR.value, step, flow.lattice_size,
                target.temperature, x.shape[0]))
  write_index(os.path.join(output_dir, 'index.md'), header, couplings)
  results = dict(mutual_information_halves=halves,
                 mutual_information_neighbours=pairs,
                 correlations=to_numpy(correlations),
                 effective_couplings=couplings,
                 receptive_field_sites=sites, training_steps=step)
  with open(os.path.join(output_dir, 'rg_analysis.json'), 'w') as f:
    json.dump(results, f, indent=2, sort_keys=True)

  print('Mutual information between the halves (nats): ' + ', '.join(
      '{} {:.3f}'.format(k, v) for k, v in halves.items()))
  print('Nearest-neighbour correlation: ' + ', '.join(
      '{} {:.3f}'.format(k, float(c['correlation'][1]))
      for k, c in correlations.items()))
  print('Effective couplings (m, J, u) per scale: ' + '; '.join(
      '{}: {:.3f}, {}, {:.3f}'.format(
          c['scale'], c['mass'],
          '-' if c['coupling'] is None else '{:.3f}'.format(c['coupling']),
          c['quartic']) for c in couplings))
  print('Wrote {} (see index.md)'.format(output_dir))


if __name__ == '__main__':
  cli.run(main)
