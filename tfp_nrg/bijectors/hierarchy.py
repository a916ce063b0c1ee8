"""NeuralRG architectures: MERA, TEBD and tree flows on `[L, L]` fields.

Each is a bijector `x = g(z)` from latent to physical fields, made of
`PatchLayer`s. Read backwards, `z = g^{-1}(x)` is a renormalization group
transformation: at scale `k` (finest first) the disentanglers act on patches
straddling the cells of side `2^(k+1)`, then the decimators mix each cell, and
only the cell's corner goes on to scale `k+1`. The other three variables of each
cell are the renormalized latent variables of scale `k`; `latent_scales` splits
a latent field into them.

Example:

```python
block_fn = tfp_nrg.bijectors.block_factory(num_couplings=4,
                                           hidden_units=(16, 16))
flow = tfp_nrg.bijectors.MERA(8, block_fn=block_fn)
z = tf.random.normal([32, 8, 8])
x, log_det = flow.forward(z), flow.forward_log_det_jacobian(z, event_ndims=2)
parts = flow.latent_scales(flow.inverse(x))  # finest scale first
```
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.bijectors import coupling_block
from tfp_nrg.bijectors import fourier_scale as fourier_scale_lib
from tfp_nrg.bijectors import one_pass
from tfp_nrg.bijectors import patch_layer
from tfp_nrg.internal import checks

__all__ = [
    'MERA',
    'TEBD',
    'Tree',
    'assemble_latent_scales',
    'latent_scales',
]


def _check_depth(depth, lattice_size):
  max_depth = checks.num_scales(lattice_size)
  if depth is None:
    return max_depth
  depth = checks.check_positive_int(depth, 'depth')
  if depth > max_depth:
    raise ValueError('`depth` must be at most log2(lattice_size) = {}; got '
                     '{}.'.format(max_depth, depth))
  return depth


def latent_scales(z, lattice_size, depth=None):
  """Splits latent fields into the variables of each RG scale.

  Scale `k` owns the sites whose coordinates are multiples of `2^k` but not
  both multiples of `2^(k+1)`: three per cell of side `2^(k+1)`. What is left
  after `depth` scales is the coarse field on the multiples of `2^depth` (a
  single variable at full depth).

  Args:
    z: `Tensor` of shape `[..., L, L]`.
    lattice_size: Python `int` L, a power of two >= 4.
    depth: Python `int` number of scales, at most `log2 L` (the default); `0`
      returns `[z]`.

  Returns:
    A list of `depth + 1` tensors, finest first: for scale `k`, shape
    `[..., L / 2^(k+1), L / 2^(k+1), 3]` (the cell's sites `(0, 1)`, `(1, 0)`,
    `(1, 1)` in units of `2^k`); last, the coarse field
    `[..., L / 2^depth, L / 2^depth]`.
  """
  lattice_size = checks.check_lattice_size(lattice_size, power_of_two=True)
  depth = (0 if depth == 0 else _check_depth(depth, lattice_size))
  parts = []
  field = checks.static_lattice_event(tf.convert_to_tensor(z), lattice_size,
                                      'latent_scales')
  for _ in range(depth):
    x00, x11, x01, x10 = patch_layer.to_patches(field)
    parts.append(tf.stack([x01, x10, x11], axis=-1))
    field = x00
  parts.append(field)
  return parts


def assemble_latent_scales(parts, lattice_size, depth=None):
  """Inverse of `latent_scales`: rebuilds `[..., L, L]` from the parts."""
  lattice_size = checks.check_lattice_size(lattice_size, power_of_two=True)
  depth = (0 if depth == 0 else _check_depth(depth, lattice_size))
  if len(parts) != depth + 1:
    raise ValueError('`parts` must hold {} tensors (depth + 1); got '
                     '{}.'.format(depth + 1, len(parts)))
  field = parts[-1]
  for factored in reversed(parts[:-1]):
    field = patch_layer.from_patches(field, factored[..., 2],
                                     factored[..., 0], factored[..., 1])
  return field


def _rg_schedule(lattice_size, depth, repeat, share_across_scales,
                 disentangle):
  """Checked `(lattice_size, depth, schedule)` of a MERA or a tree.

  At each scale, `repeat` times: a disentangler (if `disentangle`), then a
  decimator; blocks are keyed by scale unless shared across scales.
  """
  lattice_size = checks.check_lattice_size(lattice_size, power_of_two=True)
  depth = _check_depth(depth, lattice_size)
  repeat = checks.check_positive_int(repeat, 'repeat')
  kinds = (True, False) if disentangle else (False,)
  schedule = [(scale, shifted,
               (None if share_across_scales else scale, shifted, r))
              for scale in range(depth) for r in range(repeat)
              for shifted in kinds]
  return lattice_size, depth, schedule


class HierarchicalFlow(one_pass.OnePassBijector):
  """A stack of `PatchLayer`s on `[L, L]` fields; base of MERA, TEBD, Tree.

  `layers` are listed in the RG order (`inverse` applies them first to last);
  `forward` generates, coarse to fine. With `fourier_scale`, a learned
  periodic convolution (`FourierScale`) acts on the physical side: `forward`
  applies it last, `inverse` first.
  """

  def __init__(self, *, lattice_size, schedule, num_latent_scales, block_fn,
               fourier_scale, seed, validate_args, parameters, name):
    """Builds the layers.

    Args:
      lattice_size: Python `int` L (already checked).
      schedule: list of `(scale, shifted, block_key)` in RG order; layers with
        equal `block_key` share one block.
      num_latent_scales: Python `int`, the depth for `latent_scales`.
      block_fn: callable `(seed, name) -> PatchCouplingBlock`, e.g.
        `block_factory(...)`; `None`: `block_factory()`'s defaults.
      fourier_scale: Python `bool`, whether to end with a `FourierScale`.
      seed: Python `int` or stateless seed for the initial weights.
      validate_args: Python `bool`.
      parameters: the subclass's `dict(locals())`.
      name: Python `str`.

    Raises:
      TypeError: if `block_fn` does not build `PatchCouplingBlock`s of one
        dtype.
    """
    if block_fn is None:
      block_fn = coupling_block.block_factory(validate_args=validate_args)
    if not callable(block_fn):
      raise TypeError('`block_fn` must be callable (seed, name) -> '
                      'PatchCouplingBlock; got {!r}.'.format(block_fn))
    keys = []
    for _, _, key in schedule:
      if key not in keys:
        keys.append(key)
    with tf.name_scope(name) as name:
      seeds = tfp.random.split_seed(checks.stateless_seed(seed), n=len(keys))
      blocks = {key: block_fn(seed=seeds[i], name='block_{}'.format(i))
                for i, key in enumerate(keys)}
      dtypes = {getattr(block, 'dtype', None) for block in blocks.values()}
      if (not all(isinstance(block, coupling_block.PatchCouplingBlock)
                  for block in blocks.values()) or len(dtypes) != 1):
        raise TypeError('`block_fn` must return PatchCouplingBlocks of one '
                        'dtype; got {}.'.format(
                            sorted({type(b).__name__ for b in blocks.values()})))
      self._layers = [
          patch_layer.PatchLayer(blocks[key], lattice_size, scale=scale,
                                 shifted=shifted, validate_args=validate_args)
          for scale, shifted, key in schedule]
      dtype = dtypes.pop()
      self._fourier_scale = (
          fourier_scale_lib.FourierScale(lattice_size, dtype=dtype,
                                         validate_args=validate_args)
          if fourier_scale else None)
      self._lattice_size = lattice_size
      self._num_latent_scales = num_latent_scales
      super().__init__(
          forward_min_event_ndims=2,
          dtype=dtype,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @property
  def lattice_size(self):
    return self._lattice_size

  @property
  def z2_equivariant(self):
    """Whether every block is odd, so that the flow is: `g(-z) = -g(z)`."""
    return all(layer.block.z2_equivariant for layer in self._layers)

  @property
  def layers(self):
    """The `PatchLayer`s in RG order (finest first)."""
    return list(self._layers)

  @property
  def fourier_scale(self):
    """The `FourierScale` on the physical side, or `None`."""
    return self._fourier_scale

  @property
  def num_latent_scales(self):
    """Number of scales that `latent_scales` splits off."""
    return self._num_latent_scales

  def latent_scales(self, z):
    """`latent_scales(z, L, depth)` with this flow's hierarchy."""
    return latent_scales(z, self._lattice_size, self._num_latent_scales)

  def assemble_latent_scales(self, parts):
    """Inverse of `self.latent_scales`."""
    return assemble_latent_scales(parts, self._lattice_size,
                                  self._num_latent_scales)

  def forward_and_log_det(self, z):
    log_det = 0.
    for layer in reversed(self._layers):
      z, layer_log_det = layer.forward_and_log_det(z)
      log_det += layer_log_det
    if self._fourier_scale is not None:
      z, scale_log_det = self._fourier_scale.forward_and_log_det(z)
      log_det += scale_log_det
    return z, log_det

  def inverse_and_log_det(self, x):
    if self.validate_args:  # As `DualIsing.log_prob` checks its `x`.
      x = tf.debugging.assert_all_finite(x, '`x` must be finite.')
    log_det = 0.
    if self._fourier_scale is not None:
      x, log_det = self._fourier_scale.inverse_and_log_det(x)
    for layer in self._layers:
      x, layer_log_det = layer.inverse_and_log_det(x)
      log_det += layer_log_det
    return x, log_det


class MERA(HierarchicalFlow):
  """NeuralRG's MERA-like flow: disentanglers and decimators at every scale.

  In the RG direction, at each scale `k < depth`: `repeat` pairs of a
  disentangler (patches shifted by `2^k`) followed by a decimator (aligned
  patches) on the sublattice of spacing `2^k`. With the default
  `depth = log2 L` the coarsest latent variable reaches every site, and the
  receptive field of a scale-`k` variable wraps around the torus once the
  disentanglers have spread it.
  """

  def __init__(self,
               lattice_size,
               *,
               depth=None,
               repeat=1,
               share_across_scales=False,
               block_fn=None,
               fourier_scale=False,
               seed=0,
               validate_args=False,
               name='mera'):
    """Builds the flow.

    Args:
      lattice_size: Python `int` L, a power of two >= 4.
      depth: Python `int` number of scales in `[1, log2 L]`; default `log2 L`.
      repeat: Python `int` >= 1, disentangler-decimator pairs per scale.
      share_across_scales: Python `bool`; if `True` the `k`-th disentangler
        (decimator) of every scale uses the same block, as a fixed-point RG.
      block_fn: callable `(seed, name) -> PatchCouplingBlock`
        (`block_factory(...)`, which sets couplings, widths and dtypes);
        `None`: `block_factory()`.
      fourier_scale: Python `bool`: end with a learned periodic convolution
        on the physical side (`FourierScale`), for the Gaussian part of the
        target's correlations.
      seed: Python `int` or stateless seed for the initial weights.
      validate_args: Python `bool`.
      name: Python `str`.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    parameters = dict(locals())
    lattice_size, depth, schedule = _rg_schedule(
        lattice_size, depth, repeat, share_across_scales, disentangle=True)
    super().__init__(lattice_size=lattice_size, schedule=schedule,
                     num_latent_scales=depth, block_fn=block_fn,
                     fourier_scale=fourier_scale, seed=seed,
                     validate_args=validate_args, parameters=parameters,
                     name=name)


class Tree(HierarchicalFlow):
  """Tree flow: decimators only, so scales never exchange information sideways.

  A scale-`k` latent variable influences exactly its cell of side `2^(k+1)`.
  """

  def __init__(self,
               lattice_size,
               *,
               depth=None,
               repeat=1,
               share_across_scales=False,
               block_fn=None,
               fourier_scale=False,
               seed=0,
               validate_args=False,
               name='tree'):
    """Builds the flow; the arguments are those of `MERA`."""
    parameters = dict(locals())
    lattice_size, depth, schedule = _rg_schedule(
        lattice_size, depth, repeat, share_across_scales, disentangle=False)
    super().__init__(lattice_size=lattice_size, schedule=schedule,
                     num_latent_scales=depth, block_fn=block_fn,
                     fourier_scale=fourier_scale, seed=seed,
                     validate_args=validate_args, parameters=parameters,
                     name=name)


class TEBD(HierarchicalFlow):
  """TEBD-like flow: a brick wall of patch layers at the finest scale only.

  Layer `j` acts on the shifted patches (a disentangler) for even `j` and on
  the aligned ones for odd `j`, like the two half-steps of a TEBD circuit;
  nothing is decimated, so all latent variables belong to one scale and the
  correlation length the flow can build grows linearly with `num_layers`.
  """

  def __init__(self,
               lattice_size,
               *,
               num_layers=2,
               block_fn=None,
               fourier_scale=False,
               seed=0,
               validate_args=False,
               name='tebd'):
    """Builds the flow.

    Args:
      lattice_size: Python `int` L, a power of two >= 4.
      num_layers: Python `int` >= 1, number of patch layers.
      block_fn: as in `MERA`.
      fourier_scale: as in `MERA`.
      seed: as in `MERA`.
      validate_args: Python `bool`.
      name: Python `str`.
    """
    parameters = dict(locals())
    lattice_size = checks.check_lattice_size(lattice_size, power_of_two=True)
    num_layers = checks.check_positive_int(num_layers, 'num_layers')
    schedule = [(0, j % 2 == 0, j) for j in range(num_layers)]
    super().__init__(lattice_size=lattice_size, schedule=schedule,
                     num_latent_scales=0, block_fn=block_fn,
                     fourier_scale=fourier_scale, seed=seed,
                     validate_args=validate_args, parameters=parameters,
                     name=name)
