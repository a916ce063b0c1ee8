"""Renormalization-group analysis of a NeuralRG flow.

A NeuralRG flow `x = g(z)` read backwards, `z = g^{-1}(x)`, is a learned RG
transformation (Li & Wang, PRL 121, 260601 (2018)). This module computes what
the paper shows of a trained flow:

* the renormalized variables of physical configurations, split by scale
  (`rg_transform`), and configurations regenerated from the coarse scales
  alone, the finer ones drawn afresh or set to zero (`regenerate_from_scale`,
  `scale_by_scale`): a configuration generated at a shallow layer is a
  blurred version of the final one;
* the latent (renormalized) energy

  ```none
  E(z) = -ln pi(g(z)) - ln |det dg/dz|,
  ```

  which is `|z|^2 / 2 + const` for a perfect flow (`latent_energy`), its value
  with the variables finer than a scale set to zero (`coarse_latent_energy`),
  and an effective Hamiltonian of the coarse variables fitted to it, scale by
  scale (`effective_couplings`);
* receptive fields, the Jacobian columns `dx / dz_k`: an adaptive, nonlinear
  wavelet basis (`receptive_fields`);
* connected correlation functions of physical and latent variables
  (`scale_correlations`) and the mutual information between the two halves
  of the lattice (`half_lattice_mutual_information`): the flow squeezes it
  out of the latent variables. The flow-free estimators behind them are in
  `tfp_nrg.stats`;
* latent wandering, decoded interpolations between two latent configurations
  (`interpolate_latents`, `latent_wandering`).

Physical samples should come from an exact sampler where the target matters,
e.g. `tfp_nrg.mcmc.sample_independence_chains` with the flow as proposal.

Example:

```python
flow = tfp_nrg.distributions.flow_of(model)
states, _ = tfp_nrg.mcmc.sample_independence_chains(
    target.log_prob, model, num_chains=64, num_results=64, seed=(1, 2))
x = tf.reshape(states, [-1, L, L])
parts = tfp_nrg.rg.rg_transform(flow, x)        # finest scale first
tfp_nrg.rg.half_lattice_mutual_information(flow, x)
tfp_nrg.rg.effective_couplings(flow, target.log_prob, scale=1,
                               num_samples=2048, seed=(3, 4))
```
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import lattice
from tfp_nrg import stats
from tfp_nrg.bijectors import patch_layer
from tfp_nrg.internal import checks

__all__ = [
    'MIN_COUPLING_SAMPLES',
    'MIN_FRAMES',
    'coarse_latent_energy',
    'effective_couplings',
    'half_lattice_mutual_information',
    'interpolate_latents',
    'latent_energy',
    'latent_wandering',
    'receptive_field_sites',
    'receptive_fields',
    'regenerate_from_scale',
    'rg_transform',
    'scale_by_scale',
    'scale_correlations',
]

FINER_MODES = ('fresh', 'zero')
PATHS = ('linear', 'great_circle')
# The fewest draws `effective_couplings` fits on, and frames of a latent path.
MIN_COUPLING_SAMPLES = 16
MIN_FRAMES = 2


def _check_scale(flow, scale):
  scale = checks.check_positive_int(scale, 'scale', minimum=0)
  if scale > flow.num_latent_scales:
    raise ValueError('`scale` must be at most the flow\'s number of latent '
                     'scales, {}; got {}.'.format(flow.num_latent_scales,
                                                  scale))
  return scale


def rg_transform(flow, x):
  """The renormalized variables of physical fields, split by scale.

  Args:
    flow: a NeuralRG bijector (`MERA`, `TEBD`, `Tree`), latent -> physical.
    x: `Tensor` `[..., L, L]` of physical fields.

  Returns:
    `flow.latent_scales(flow.inverse(x))`: finest scale first, the coarse
    field last.
  """
  return flow.latent_scales(flow.inverse(x))


def regenerate_from_scale(flow, z, scale, finer='fresh', seed=None):
  """Decodes `z` keeping only its variables of scale `>= scale`.

  The latent variables of the scales finer than `scale` are replaced by fresh
  standard normal draws (`finer='fresh'`: a new sample that shares the coarse
  structure) or by zeros (`finer='zero'`: the "blurry" configuration the
  coarse variables encode).

  Args:
    flow: a NeuralRG bijector.
    z: `Tensor` `[..., L, L]` of latent fields.
    scale: Python `int` in `[0, flow.num_latent_scales]`; `0` decodes `z` as
      it is, `num_latent_scales` keeps only the coarse field.
    finer: `'fresh'` or `'zero'`.
    seed: a stateless seed for the fresh draws.

  Returns:
    `Tensor` `[..., L, L]`: `g` of the modified `z`.
  """
  scale = _check_scale(flow, scale)
  if finer not in FINER_MODES:
    raise ValueError('`finer` must be one of {}; got {!r}.'.format(
        FINER_MODES, finer))
  parts = flow.latent_scales(z)
  seeds = tfp.random.split_seed(seed, n=max(scale, 1))
  for k in range(scale):
    parts[k] = (tf.random.stateless_normal(tf.shape(parts[k]), seeds[k],
                                           dtype=parts[k].dtype)
                if finer == 'fresh' else tf.zeros_like(parts[k]))
  return flow.forward(flow.assemble_latent_scales(parts))


def scale_by_scale(flow, z, finer='fresh', seed=None):
  """`regenerate_from_scale` for every scale, coarse to fine.

  Returns:
    A list of `flow.num_latent_scales + 1` tensors `[..., L, L]`: the
    configuration decoded from the coarse field alone first, `g(z)` last.
  """
  depth = flow.num_latent_scales
  seeds = tfp.random.split_seed(seed, n=depth + 1)
  return [regenerate_from_scale(flow, z, scale, finer, seeds[scale])
          for scale in range(depth, -1, -1)]


def latent_energy(flow, target_log_prob_fn, z):
  """The renormalized energy `E(z) = -ln pi(g(z)) - ln |det dg/dz|`.

  `exp(-E)` is the target pulled back to the latent space; for a perfect flow
  `E(z) = |z|^2 / 2 + const`.

  Args:
    flow: a bijector, latent -> physical.
    target_log_prob_fn: callable `x -> ln pi(x)`, unnormalized.
    z: `Tensor` of latent fields.

  Returns:
    `Tensor` of energies, one per field.
  """
  x = flow.forward(z)
  return -(target_log_prob_fn(x) +
           flow.forward_log_det_jacobian(z, event_ndims=2))


def _embed_coarse_field(coarse, scale):
  """`[..., S, S]` on the sites of spacing `2^scale`, zeros elsewhere."""
  field = coarse
  for _ in range(scale):
    zeros = tf.zeros_like(field)
    field = patch_layer.from_patches(field, zeros, zeros, zeros)
  return field


def coarse_latent_energy(flow, target_log_prob_fn, coarse, scale):
  """`latent_energy` with the variables finer than `scale` set to zero.

  Args:
    flow: a NeuralRG bijector.
    target_log_prob_fn: callable `x -> ln pi(x)`.
    coarse: `Tensor` `[..., L / 2^scale, L / 2^scale]`: the latent variables
      on the sites of spacing `2^scale` (those of scales `>= scale` and the
      coarse field, as the RG keeps them after `scale` decimations).
    scale: Python `int` in `[0, flow.num_latent_scales]`.

  Returns:
    `Tensor` of energies `E(z)`, `z` the embedded coarse field.
  """
  scale = _check_scale(flow, scale)
  expected = flow.lattice_size // 2**scale
  if coarse.shape[-1] != expected or coarse.shape[-2] != expected:
    raise ValueError('`coarse` must end in [{0}, {0}] (L / 2^scale); got '
                     'shape {1}.'.format(expected, coarse.shape))
  return latent_energy(flow, target_log_prob_fn,
                       _embed_coarse_field(coarse, scale))


def _coupling_operators(coarse):
  """Columns `1, sum z, sum z^2, sum_<ij> z_i z_j, sum z^4` per field."""
  rank = coarse.shape.rank
  axes = [rank - 2, rank - 1]
  bonds = coarse * (lattice.roll(coarse, 1, axis=-2) +
                    lattice.roll(coarse, 1, axis=-1))
  return tf.stack([tf.ones_like(coarse[..., 0, 0]),
                   tf.reduce_sum(coarse, axes),
                   tf.reduce_sum(coarse**2, axes),
                   tf.reduce_sum(bonds, axes),
                   tf.reduce_sum(coarse**4, axes)], axis=-1)


def effective_couplings(flow, target_log_prob_fn, scale, num_samples, seed):
  """Fits an effective Hamiltonian to the latent energy of one scale.

  With the finer variables at zero, `E` of the coarse variables `z` on the
  `S x S` torus (`S = L / 2^scale`) is fitted by least squares on standard
  normal draws of `z` to

  ```none
  E(z) ~ c + h sum_i z_i + m sum_i z_i^2 + J sum_<ij> z_i z_j + u sum_i z_i^4,
  ```

  `<ij>` the nearest-neighbour bonds of the torus. A perfect flow at scale 0
  gives `m = 1/2` and `h = J = u = 0`: the renormalized variables are free.

  Args:
    flow: a NeuralRG bijector.
    target_log_prob_fn: callable `x -> ln pi(x)`.
    scale: Python `int` in `[0, flow.num_latent_scales]`.
    num_samples: Python `int` >= `MIN_COUPLING_SAMPLES`, draws to fit on.
    seed: a stateless seed.

  Returns:
    `dict` of Python floats: `constant`, `field`, `mass`, `coupling`
    (`None` for a single coarse variable, which has no bonds), `quartic`,
    and `r_squared` of the fit; with `scale` and `size` (`S`).
  """
  scale = _check_scale(flow, scale)
  num_samples = checks.check_positive_int(num_samples, 'num_samples',
                                          MIN_COUPLING_SAMPLES)
  size = flow.lattice_size // 2**scale
  coarse = tf.random.stateless_normal([num_samples, size, size],
                                      checks.stateless_seed(seed),
                                      dtype=flow.dtype)
  energy = tf.cast(coarse_latent_energy(flow, target_log_prob_fn, coarse,
                                        scale), tf.float64)
  operators = tf.cast(_coupling_operators(coarse), tf.float64)
  if size == 1:  # The bond sum would repeat z^2.
    operators = tf.gather(operators, [0, 1, 2, 4], axis=-1)
  solution = tf.linalg.lstsq(operators, energy[:, tf.newaxis], fast=False)
  residual = energy - tf.linalg.matvec(operators, solution[:, 0])
  r_squared = 1. - (tf.math.reduce_variance(residual) /
                    tf.math.reduce_variance(energy))
  values = [float(v) for v in solution[:, 0].numpy()]
  if size == 1:
    values.insert(3, None)
  return dict(zip(('constant', 'field', 'mass', 'coupling', 'quartic'),
                  values), r_squared=float(r_squared), scale=scale,
              size=size)


def receptive_field_sites(flow):
  """One latent site per scale near the lattice centre, finest first.

  For scale `k` the `(1, 1)` site of the cell of side `2^(k+1)` that holds the
  centre; last, the site of the coarse field nearest the centre.

  Returns:
    A list of `flow.num_latent_scales + 1` `(row, column)` pairs.
  """
  centre = flow.lattice_size // 2
  sites = []
  for k in range(flow.num_latent_scales):
    corner = centre // 2**(k + 1) * 2**(k + 1)
    sites.append((corner + 2**k, corner + 2**k))
  spacing = 2**flow.num_latent_scales
  coarse = centre // spacing * spacing
  sites.append((coarse, coarse))
  return sites


def receptive_fields(flow, z, sites=None, jit_compile=True):
  """Jacobian columns `dx / dz_s` of the flow at `z`, one per latent site.

  Each column is one forward-mode product `J e_s`
  (`tf.autodiff.ForwardAccumulator`), all sites in one compiled batch.

  Args:
    flow: a NeuralRG bijector.
    z: `Tensor` `[L, L]`, the latent point (e.g. `g^{-1}` of a sample).
    sites: list of `(row, column)`; default `receptive_field_sites(flow)`.
    jit_compile: Python `bool`.

  Returns:
    `Tensor` `[len(sites), L, L]`.
  """
  size = flow.lattice_size
  z = tf.convert_to_tensor(z, dtype=flow.dtype)
  if z.shape != (size, size):
    raise ValueError('`z` must have shape [{0}, {0}]; got {1}.'.format(
        size, z.shape))
  sites = receptive_field_sites(flow) if sites is None else list(sites)
  if not sites or any(not (0 <= i < size and 0 <= j < size)
                      for i, j in sites):
    raise ValueError('`sites` must be (row, column) pairs in [0, {}); got '
                     '{}.'.format(size, sites))
  tangents = np.zeros([len(sites), size, size], z.dtype.as_numpy_dtype)
  for n, (i, j) in enumerate(sites):
    tangents[n, i, j] = 1.

  def columns(z):
    primal = tf.tile(z[tf.newaxis], [len(sites), 1, 1])
    with tf.autodiff.ForwardAccumulator(primal, tangents) as accumulator:
      x = flow.forward(primal)
    return accumulator.jvp(x)

  return tf.function(columns, jit_compile=jit_compile, autograph=False)(z)


def scale_correlations(flow, x, z=None, max_distance=None):
  """`correlation_function` of physical fields and of each scale's latents.

  Args:
    flow: a NeuralRG bijector.
    x: `Tensor` `[n, L, L]`, physical samples.
    z: optional `Tensor` `[n, L, L]`, the latent fields of the samples;
      default `flow.inverse(x)`. For a `Symmetrized` model pass
      `flow.inverse(model.orbit_representative(x))`: the latent variables of
      the sign the flow would generate (the mixture's sign is a hidden
      variable of its own, not in `z`).
    max_distance: Python `int`, in lattice sites; default `L // 2`.

  Returns:
    `dict`: `'physical'` and `'scale_k'` for every scale `k` with at least
    two cells per side, each a `dict` with `distance` (NumPy, in sites; the
    latent variables of scale `k` repeat every `2^(k+1)` sites) and
    `correlation` (a `Tensor`).
  """
  size = flow.lattice_size
  max_distance = size // 2 if max_distance is None else max_distance
  results = {'physical': dict(
      distance=np.arange(max_distance + 1),
      correlation=stats.correlation_function(x, max_distance))}
  z = flow.inverse(x) if z is None else z
  for k, part in enumerate(flow.latent_scales(z)[:-1]):
    cell = 2**(k + 1)
    if part.shape[-2] < 2 or max_distance < cell:
      continue
    results['scale_{}'.format(k)] = dict(
        distance=cell * np.arange(max_distance // cell + 1),
        correlation=stats.correlation_function(part, max_distance // cell))
  return results


def _left_right(field):
  """Flattened left and right halves (by column) of `[n, S, S, ...]`."""
  half = field.shape[2] // 2
  n = tf.shape(field)[0]
  return (tf.reshape(field[:, :, :half], [n, -1]),
          tf.reshape(field[:, :, half:], [n, -1]))


def half_lattice_mutual_information(flow, x, z=None,
                                    estimator=stats.gaussian_mutual_information):
  """Mutual information between the left and right halves of the lattice.

  For physical fields `x`, for all latent variables `z = g^{-1}(x)` (by their
  sites), and for each scale's latent variables (by their cells, for scales
  with at least two cells per side).

  Args:
    flow: a NeuralRG bijector.
    x: `Tensor` `[n, L, L]`, physical samples.
    z: optional latent fields of the samples, as in `scale_correlations`.
    estimator: callable `(a, b) -> I`, e.g. `stats.gaussian_mutual_information`.

  Returns:
    `dict` of scalar `Tensor`s: `physical`, `latent` and `scale_k`.
  """
  z = flow.inverse(x) if z is None else z
  results = dict(physical=estimator(*_left_right(x)),
                 latent=estimator(*_left_right(z)))
  for k, part in enumerate(flow.latent_scales(z)[:-1]):
    if part.shape[-2] >= 2:
      results['scale_{}'.format(k)] = estimator(*_left_right(part))
  return results


def interpolate_latents(z0, z1, num_frames, path='linear'):
  """Frames from `z0` to `z1`, straight or along the great circle.

  `'great_circle'` is spherical linear interpolation,

  ```none
  z(t) = (sin((1 - t) w) z0 + sin(t w) z1) / sin w,   cos w = z0.z1 / |z0||z1|,
  ```

  which keeps a typical Gaussian draw's norm when `|z0| = |z1|`, where the
  straight line passes through improbably small norms.

  Args:
    z0: `Tensor`, the start.
    z1: `Tensor` of the same shape, the end.
    num_frames: Python `int` >= 2, frames including both ends.
    path: `'linear'` or `'great_circle'`.

  Returns:
    `Tensor` `[num_frames] + z0.shape`.
  """
  num_frames = checks.check_positive_int(num_frames, 'num_frames',
                                         MIN_FRAMES)
  if path not in PATHS:
    raise ValueError('`path` must be one of {}; got {!r}.'.format(PATHS, path))
  z0 = tf.convert_to_tensor(z0)
  z1 = tf.convert_to_tensor(z1, dtype=z0.dtype)
  if z0.shape != z1.shape:
    raise ValueError('`z0` and `z1` must have the same shape; got {} and '
                     '{}.'.format(z0.shape, z1.shape))
  t = tf.reshape(tf.linspace(tf.constant(0., z0.dtype), 1., num_frames),
                 [num_frames] + [1] * z0.shape.rank)
  linear = (1. - t) * z0 + t * z1
  if path == 'linear':
    return linear
  cosine = tf.reduce_sum(z0 * z1) / tf.norm(z0) / tf.norm(z1)
  angle = tf.acos(tf.clip_by_value(cosine, -1., 1.))
  # (Anti)parallel ends span no plane: go straight (and never divide by 0).
  degenerate = tf.sin(angle) < 1e-6
  safe = tf.where(degenerate, tf.ones_like(angle), tf.sin(angle))
  great_circle = (tf.sin((1. - t) * angle) * z0 +
                  tf.sin(t * angle) * z1) / safe
  return tf.where(degenerate, linear, great_circle)


def latent_wandering(flow, z0, z1, num_frames, path='great_circle'):
  """`flow.forward(interpolate_latents(z0, z1, num_frames, path))`."""
  return flow.forward(interpolate_latents(z0, z1, num_frames, path))
