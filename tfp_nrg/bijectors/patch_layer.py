"""One coupling block applied to every 2x2 patch of a sublattice."""

import tensorflow as tf

from tfp_nrg import lattice
from tfp_nrg.bijectors import one_pass
from tfp_nrg.internal import checks

__all__ = ['PatchLayer']


def sublattice(field, spacing):
  """The sites of `field[..., L, L]` with coordinates multiple of `spacing`."""
  return field[..., ::spacing, ::spacing]


def replace_sublattice(field, values, spacing):
  """`field` with `sublattice(field, spacing)` replaced by `values`."""
  if spacing == 1:
    return values
  size = field.shape[-1]
  coarse = size // spacing
  blocks = tf.reshape(field, tf.concat(
      [tf.shape(field)[:-2], [coarse, spacing, coarse, spacing]], axis=0))
  first_row = tf.concat([values[..., tf.newaxis],
                         blocks[..., :, 0, :, 1:]], axis=-1)
  blocks = tf.concat([first_row[..., :, tf.newaxis, :, :],
                      blocks[..., :, 1:, :, :]], axis=-3)
  return tf.reshape(blocks, tf.shape(field))


def to_patches(field):
  """`[..., M, M]` -> the four `[..., M/2, M/2]` components of its 2x2 patches.

  Returns `(x00, x11, x01, x10)`: the patch's two diagonals, which are the two
  halves of `PatchCouplingBlock`.
  """
  size = field.shape[-1]
  cells = tf.reshape(field, tf.concat(
      [tf.shape(field)[:-2], [size // 2, 2, size // 2, 2]], axis=0))
  return (cells[..., :, 0, :, 0], cells[..., :, 1, :, 1],
          cells[..., :, 0, :, 1], cells[..., :, 1, :, 0])


def from_patches(x00, x11, x01, x10):
  """Inverse of `to_patches`."""
  cells = tf.stack([tf.stack([x00, x01], axis=-1),
                    tf.stack([x10, x11], axis=-1)], axis=-3)
  half = x00.shape[-1]
  return tf.reshape(cells, tf.concat(
      [tf.shape(x00)[:-2], [2 * half, 2 * half]], axis=0))


class PatchLayer(one_pass.OnePassBijector):
  """Applies one shared 2x2 block to every patch of the scale-k sublattice.

  At scale `k` the active variables sit on the sublattice of spacing `2^k`
  (the kept sites of the decimations at finer scales). Its 2x2 patches are
  either aligned with the cells of side `2^(k+1)` (a *decimator*: the block
  mixes each cell's four variables and, in the RG direction, hands the cell's
  corner on to scale `k+1`) or shifted by `2^k` along both axes with periodic
  wrap-around (a *disentangler*: it straddles neighbouring cells). All other
  sites are left alone. Since the patches are disjoint,

  ```none
  ln |det dx/dz| = sum_patches ln |det J_block(patch)|.
  ```

  Everything is static reshapes, slices and rolls, so it compiles under XLA.

  Example:

  ```python
  block = tfp_nrg.bijectors.PatchCouplingBlock()
  layer = tfp_nrg.bijectors.PatchLayer(block, lattice_size=8, scale=1,
                                       shifted=True)
  x = layer.forward(tf.random.normal([5, 8, 8]))
  ```
  """

  def __init__(self,
               block,
               lattice_size,
               scale=0,
               shifted=False,
               validate_args=False,
               name=None):
    """Builds the layer.

    Args:
      block: a `PatchCouplingBlock`.
      lattice_size: Python `int` L, a power of two >= 4.
      scale: Python `int` k with `0 <= k < log2(L)`.
      shifted: Python `bool`: `True` for a disentangler, `False` for a
        decimator.
      validate_args: Python `bool`.
      name: Python `str`; defaults to `disentangler_k` or `decimator_k`.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    parameters = dict(locals())
    lattice_size = checks.check_lattice_size(lattice_size, power_of_two=True)
    if (isinstance(scale, bool) or not isinstance(scale, int) or
        not 0 <= scale < checks.num_scales(lattice_size)):
      raise ValueError('`scale` must be an int in [0, log2(lattice_size)) = '
                       '[0, {}); got {!r}.'.format(
                           checks.num_scales(lattice_size), scale))
    if name is None:
      name = '{}_{}'.format('disentangler' if shifted else 'decimator', scale)
    self._block = block
    self._lattice_size = lattice_size
    self._scale = scale
    self._shifted = bool(shifted)
    with tf.name_scope(name) as name:
      super().__init__(
          forward_min_event_ndims=2,
          dtype=block.dtype,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @property
  def block(self):
    return self._block

  @property
  def lattice_size(self):
    return self._lattice_size

  @property
  def scale(self):
    return self._scale

  @property
  def shifted(self):
    return self._shifted

  @property
  def num_patches(self):
    """2x2 patches the block acts on per field: `(L / 2^scale)^2 / 4`."""
    return (self._lattice_size // 2**self._scale)**2 // 4

  def _apply(self, field, block_fn):
    field = checks.static_lattice_event(field, self._lattice_size, self.name)
    spacing = 2**self._scale
    active = sublattice(field, spacing)
    if self._shifted:
      active = lattice.roll(active, shift=[-1, -1], axis=[-2, -1])
    x00, x11, x01, x10 = to_patches(active)
    a, b, log_det = block_fn(tf.reshape(tf.stack([x00, x11]), [2, -1]),
                             tf.reshape(tf.stack([x01, x10]), [2, -1]))
    shape = tf.shape(x00)
    a, b = tf.reshape(a, tf.concat([[2], shape], 0)), tf.reshape(
        b, tf.concat([[2], shape], 0))
    active = from_patches(a[0], a[1], b[0], b[1])
    log_det = tf.reshape(log_det, shape)
    if self._shifted:
      active = lattice.roll(active, shift=[1, 1], axis=[-2, -1])
    return (replace_sublattice(field, active, spacing),
            tf.reduce_sum(log_det, axis=[-2, -1]))

  def forward_and_log_det(self, z):
    return self._apply(z, self._block.forward_and_log_det_halves)

  def inverse_and_log_det(self, x):
    return self._apply(x, self._block.inverse_and_log_det_halves)
