"""RealNVP block acting on the four variables of a 2x2 patch."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.bijectors import one_pass
from tfp_nrg.internal import checks

__all__ = ['PatchCouplingBlock']

PATCH_SIZE = 4


def check_hidden_units(hidden_units):
  hidden_units = tuple(hidden_units)
  if not hidden_units or not all(
      isinstance(h, int) and not isinstance(h, bool) and h > 0
      for h in hidden_units):
    raise ValueError('`hidden_units` must be a non-empty sequence of positive '
                     'ints; got {!r}.'.format(hidden_units))
  return hidden_units


class _Conditioner(tf.Module):
  """MLP `(shift, log_scale) = f(conditioning half)`, zero at initialisation.

  `log_scale = c * tanh(raw)` with a learnable bound `c` per variable, so that
  `exp(log_scale)` stays finite however the weights move. The output layer
  starts at zero, making the coupling the identity map.
  """

  def __init__(self, hidden_units, dtype, seed, name):
    super().__init__(name=name)
    sizes = (2,) + hidden_units
    self.kernels = []
    self.biases = []
    layer_seeds = tfp.random.split_seed(checks.stateless_seed(seed),
                                        n=len(hidden_units))
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
      limit = (6. / (fan_in + fan_out))**0.5  # Glorot uniform.
      self.kernels.append(tf.Variable(
          tf.random.stateless_uniform([fan_in, fan_out], seed=layer_seeds[i],
                                      minval=-limit, maxval=limit,
                                      dtype=dtype),
          name='kernel_{}'.format(i)))
      self.biases.append(tf.Variable(tf.zeros([fan_out], dtype),
                                     name='bias_{}'.format(i)))
    self.output_kernel = tf.Variable(tf.zeros([sizes[-1], 4], dtype),
                                     name='output_kernel')
    self.output_bias = tf.Variable(tf.zeros([4], dtype), name='output_bias')
    self.log_scale_bound = tf.Variable(tf.ones([2], dtype),
                                       name='log_scale_bound')

  def __call__(self, conditioning):
    h = conditioning
    for kernel, bias in zip(self.kernels, self.biases):
      h = tf.math.tanh(tf.einsum('...i,ij->...j', h, kernel) + bias)
    out = tf.einsum('...i,ij->...j', h, self.output_kernel) + self.output_bias
    shift, raw_log_scale = tf.split(out, 2, axis=-1)
    return shift, self.log_scale_bound * tf.math.tanh(raw_log_scale)


class PatchCouplingBlock(one_pass.OnePassBijector):
  """A stack of RealNVP affine couplings on the 4 variables of a 2x2 patch.

  The event is a vector `[a_1, a_2, b_1, b_2]`: the two halves `a` and `b` are
  the two diagonals of the patch (the patch layers pack them so). Coupling `i`
  updates one half given the other, alternating:

  ```none
  b <- b * exp(s_i(a)) + t_i(a)     (i even),
  a <- a * exp(s_i(b)) + t_i(b)     (i odd),
  ln |det J| = sum_i sum s_i,
  ```

  with `s_i = c_i * tanh(.)` and `t_i` from one MLP per coupling (`tf.Module`s
  whose variables the bijector tracks). The output layers start at zero, so a
  new block is the identity map.

  Example:

  ```python
  block = PatchCouplingBlock(num_couplings=4, hidden_units=(16, 16))
  z = tf.random.normal([10, 4])
  x = block.forward(z)
  block.forward_log_det_jacobian(z, event_ndims=1)  # shape [10]
  ```
  """

  def __init__(self,
               num_couplings=4,
               hidden_units=(10, 10, 10),
               dtype=tf.float32,
               seed=0,
               validate_args=False,
               name='patch_coupling_block'):
    """Builds the block.

    Args:
      num_couplings: Python `int` >= 1, number of affine couplings.
      hidden_units: sequence of positive Python ints, the conditioners' hidden
        layer widths.
      dtype: `tf.float32` or `tf.float64`.
      seed: Python `int` or stateless seed, seeds the initial weights.
      validate_args: Python `bool`.
      name: Python `str`.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    parameters = dict(locals())
    num_couplings = checks.check_positive_int(num_couplings, 'num_couplings')
    dtype = checks.check_float_dtype(dtype)
    hidden_units = check_hidden_units(hidden_units)
    with tf.name_scope(name) as name:
      seeds = tfp.random.split_seed(checks.stateless_seed(seed),
                                    n=num_couplings)
      self._conditioners = [
          _Conditioner(hidden_units, dtype, seed=seeds[i],
                       name='coupling_{}'.format(i))
          for i in range(num_couplings)]
      super().__init__(
          forward_min_event_ndims=1,
          dtype=dtype,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @property
  def num_couplings(self):
    return len(self._conditioners)

  def _check_event(self, x):
    if x.shape.rank is not None and (x.shape.rank < 1 or
                                     x.shape[-1] not in (None, PATCH_SIZE)):
      raise ValueError('The event of a patch block has {} entries; got an '
                       'input of shape {}.'.format(PATCH_SIZE, x.shape))

  def forward_and_log_det(self, z):
    """Returns `(x, ln |det dx/dz|)` in one pass; the log-det has shape of `z[..., 0]`."""
    self._check_event(z)
    a, b = z[..., :2], z[..., 2:]
    log_det = tf.zeros_like(z[..., 0])
    for i, conditioner in enumerate(self._conditioners):
      if i % 2:
        shift, log_scale = conditioner(b)
        a = a * tf.math.exp(log_scale) + shift
      else:
        shift, log_scale = conditioner(a)
        b = b * tf.math.exp(log_scale) + shift
      log_det += tf.reduce_sum(log_scale, axis=-1)
    return tf.concat([a, b], axis=-1), log_det

  def inverse_and_log_det(self, x):
    """Returns `(z, ln |det dz/dx|)` in one pass."""
    self._check_event(x)
    a, b = x[..., :2], x[..., 2:]
    log_det = tf.zeros_like(x[..., 0])
    for i in reversed(range(self.num_couplings)):
      if i % 2:
        shift, log_scale = self._conditioners[i](b)
        a = (a - shift) * tf.math.exp(-log_scale)
      else:
        shift, log_scale = self._conditioners[i](a)
        b = (b - shift) * tf.math.exp(-log_scale)
      log_det -= tf.reduce_sum(log_scale, axis=-1)
    return tf.concat([a, b], axis=-1), log_det
