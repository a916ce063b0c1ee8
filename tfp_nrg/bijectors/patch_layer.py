"""One coupling block applied to every 2x2 patch of a sublattice."""

import numpy as np
import tensorflow as tf

from tfp_nrg import lattice
from tfp_nrg.bijectors import one_pass
from tfp_nrg.internal import checks

__all__ = ['PatchLayer']


def _batch_shape(field):
  """The leading dimensions of `[..., M, M]`: a list if static, else a tensor.

  Static shapes keep the reshapes of the patch layers constants, so that a
  traced flow has a handful of ops per layer rather than shape arithmetic.
  """
  if field.shape[:-2].is_fully_defined():
    return field.shape[:-2].as_list()
  return tf.shape(field)[:-2]


def _with_event(values, batch, event):
  """`values` reshaped to `batch + event` (`batch` from `_batch_shape`)."""
  if isinstance(batch, list):
    return tf.reshape(values, batch + event)
  return tf.reshape(values, tf.concat([batch, event], axis=0))


def sublattice(field, spacing):
  """The sites of `field[..., L, L]` with coordinates multiple of `spacing`."""
  return field[..., ::spacing, ::spacing]


def replace_sublattice(field, values, spacing):
  """`field` with `sublattice(field, spacing)` replaced by `values`."""
  if spacing == 1:
    return values
  size = field.shape[-1]
  coarse = size // spacing
  spread = tf.pad(tf.reshape(values, [-1, coarse, 1, coarse, 1]),
                  [[0, 0], [0, 0], [0, spacing - 1], [0, 0], [0, spacing - 1]])
  on_sublattice = np.zeros([size, size], bool)
  on_sublattice[::spacing, ::spacing] = True
  return tf.where(on_sublattice,
                  _with_event(spread, _batch_shape(field), [size, size]), field)


def _corners(field):
  """`[..., M, M]` -> `[4, B, M/2, M/2]`: the patches' sites 00, 01, 10, 11."""
  half = field.shape[-1] // 2
  cells = tf.reshape(field, [-1, half, 2, half, 2])
  return tf.reshape(tf.transpose(cells, [2, 4, 0, 1, 3]), [4, -1, half, half])


def _from_corners(corners):
  """Inverse of `_corners`: `[4, B, M/2, M/2]` -> `[B, M, M]`."""
  half = corners.shape[-1]
  cells = tf.reshape(corners, [2, 2, -1, half, half])
  return tf.reshape(tf.transpose(cells, [2, 3, 0, 4, 1]),
                    [-1, 2 * half, 2 * half])


def to_patches(field):
  """`[..., M, M]` -> the four `[..., M/2, M/2]` components of its 2x2 patches.

  Returns `(x00, x11, x01, x10)`: the patch's two diagonals, which are the two
  halves of `PatchCouplingBlock`.
  """
  batch, half = _batch_shape(field), field.shape[-1] // 2
  x00, x01, x10, x11 = [_with_event(x, batch, [half, half])
                        for x in tf.unstack(_corners(field))]
  return x00, x11, x01, x10


def from_patches(x00, x11, x01, x10):
  """Inverse of `to_patches`."""
  batch, half = _batch_shape(x00), x00.shape[-1]
  corners = tf.reshape(tf.stack([x00, x01, x10, x11]), [4, -1, half, half])
  return _with_event(_from_corners(corners), batch, [2 * half, 2 * half])


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

  Everything is reshapes, a transpose, slices and rolls of static shapes, so it
  compiles under XLA to a handful of ops per layer.

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
    batch, size = _batch_shape(field), self._lattice_size
    spacing = 2**self._scale
    half = size // spacing // 2
    fields = tf.reshape(field, [-1, size, size])
    active = sublattice(fields, spacing)
    if self._shifted:
      active = lattice.roll(active, shift=[-1, -1], axis=[-2, -1])
    x00, x01, x10, x11 = tf.unstack(tf.reshape(_corners(active), [4, -1]))
    a, b, log_det = block_fn(tf.stack([x00, x11]), tf.stack([x01, x10]))
    (x00, x11), (x01, x10) = tf.unstack(a), tf.unstack(b)
    active = _from_corners(
        tf.reshape(tf.stack([x00, x01, x10, x11]), [4, -1, half, half]))
    if self._shifted:
      active = lattice.roll(active, shift=[1, 1], axis=[-2, -1])
    fields = replace_sublattice(fields, active, spacing)
    log_det = tf.reduce_sum(tf.reshape(log_det, [-1, half * half]), axis=-1)
    return (_with_event(fields, batch, [size, size]),
            _with_event(log_det, batch, []))

  def forward_and_log_det(self, z):
    return self._apply(z, self._block.forward_and_log_det_halves)

  def inverse_and_log_det(self, x):
    return self._apply(x, self._block.inverse_and_log_det_halves)
