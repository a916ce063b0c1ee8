"""RealNVP block acting on the four variables of a 2x2 patch."""

import functools

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.bijectors import one_pass
from tfp_nrg.internal import checks

__all__ = ['PatchCouplingBlock', 'block_factory']

PATCH_SIZE = 4


def check_hidden_units(hidden_units):
  if not isinstance(hidden_units, (list, tuple)):
    raise TypeError('`hidden_units` must be a sequence of positive ints; '
                    'got {!r}.'.format(hidden_units))
  hidden_units = tuple(hidden_units)
  if not hidden_units or not all(
      isinstance(h, int) and not isinstance(h, bool) and h > 0
      for h in hidden_units):
    raise ValueError('`hidden_units` must be a non-empty sequence of positive '
                     'ints; got {!r}.'.format(hidden_units))
  return hidden_units


def _check_bool(value, name):
  if not isinstance(value, bool):
    raise TypeError('`{}` must be a Python bool; got {!r}.'.format(name, value))
  return value


def check_conditioner_dtype(conditioner_dtype, dtype):
  """`conditioner_dtype` as a float `tf.DType` (`dtype` if `None`)."""
  if conditioner_dtype is None:
    return dtype
  allowed = (tf.bfloat16, tf.float16, tf.float32, tf.float64)
  try:
    conditioner_dtype = tf.as_dtype(conditioner_dtype)
  except TypeError:
    conditioner_dtype = None
  if conditioner_dtype not in allowed:
    raise TypeError('`conditioner_dtype` must be None or one of {}; got '
                    '{!r}.'.format([d.name for d in allowed],
                                   conditioner_dtype))
  return conditioner_dtype


class _Conditioners(tf.Module):
  """One MLP `(shift, log_scale) = f(half)` per coupling, weights stacked.

  `log_scale = c * tanh(raw)` with a learnable bound `c` per variable, so that
  `exp(log_scale)` stays finite however the weights move. The output layers
  start at zero, making every coupling the identity map.

  With `z2_equivariant`, the hidden layers have no biases, so that their
  features `h(y)` are odd (tanh is odd); the shift is linear in them,
  `t = W_t h` (odd), and the log-scale a function of their squares,
  `raw = W_s h^2 + b_s` (even).

  The weights of all couplings are stacked along a leading axis (a few large
  variables rather than many small ones keep the optimizer's graph small),
  and the MLPs work feature-major: inputs `[2, M]`, outputs `[2, M]`, so that
  each matmul and elementwise op runs along the long axis of `M` patches.
  """

  def __init__(self, num_couplings, hidden_units, dtype, compute_dtype,
               z2_equivariant, seed, name):
    super().__init__(name=name)
    self.compute_dtype = compute_dtype
    self.z2_equivariant = z2_equivariant
    sizes = (2,) + hidden_units
    self.kernels = []
    self.biases = []
    layer_seeds = tfp.random.split_seed(checks.stateless_seed(seed),
                                        n=len(hidden_units))
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
      limit = (6. / (fan_in + fan_out))**0.5  # Glorot uniform.
      self.kernels.append(tf.Variable(
          tf.random.stateless_uniform(
              [num_couplings, fan_out, fan_in], seed=layer_seeds[i],
              minval=-limit, maxval=limit, dtype=dtype),
          name='kernel_{}'.format(i)))
      if not z2_equivariant:
        self.biases.append(tf.Variable(
            tf.zeros([num_couplings, fan_out, 1], dtype),
            name='bias_{}'.format(i)))
    self.output_kernel = tf.Variable(
        tf.zeros([num_couplings, 4, sizes[-1]], dtype), name='output_kernel')
    self.output_bias = tf.Variable(
        tf.zeros([num_couplings, 2 if z2_equivariant else 4, 1], dtype),
        name='output_bias')
    self.log_scale_bound = tf.Variable(tf.ones([num_couplings, 2, 1], dtype),
                                       name='log_scale_bound')

  def per_coupling(self):
    """Per-coupling conditioners `[f_0, ...]`, `f_i(h) = (shift, log_scale)`.

    Inputs and outputs are `[2, M]`. The stacked weights are split once per
    call (one op each, whatever the number of couplings), which keeps graphs
    and their gradients small.
    """
    num_hidden = len(self.kernels)
    stacked = (self.kernels + self.biases +
               [self.output_kernel, self.output_bias, self.log_scale_bound])
    per_variable = [tf.unstack(v) for v in stacked]
    per_coupling = []
    for i in range(len(per_variable[0])):
      weights = [w[i] for w in per_variable]
      biases = weights[num_hidden:-3] if self.biases else None
      per_coupling.append(functools.partial(
          _mlp, weights[:num_hidden], biases, *weights[-3:],
          self.compute_dtype))
    return per_coupling


def _mlp(kernels, biases, output_kernel, output_bias, log_scale_bound,
         compute_dtype, h):
  """The conditioner MLP; `biases=None` makes it Z2-equivariant.

  The layers run in `compute_dtype` (e.g. bfloat16 on accelerators); the
  outputs, and everything the log-determinant is made of, in `h.dtype`.
  """
  dtype = h.dtype
  cast = lambda w: tf.cast(w, compute_dtype)
  h = cast(h)
  for i, kernel in enumerate(kernels):
    h = tf.linalg.matmul(cast(kernel), h)
    h = tf.math.tanh(h if biases is None else h + cast(biases[i]))
  output_kernel, output_bias = cast(output_kernel), cast(output_bias)
  if biases is None:  # Odd shift, even log-scale.
    shift_kernel, log_scale_kernel = tf.split(output_kernel, 2)
    shift = tf.linalg.matmul(shift_kernel, h)
    raw_log_scale = tf.linalg.matmul(log_scale_kernel, h * h) + output_bias
  else:
    shift, raw_log_scale = tf.split(
        tf.linalg.matmul(output_kernel, h) + output_bias, 2)
  return (tf.cast(shift, dtype),
          log_scale_bound * tf.math.tanh(tf.cast(raw_log_scale, dtype)))


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

  with `s_i = c_i * tanh(.)` and `t_i` from one MLP per coupling (in a
  `tf.Module` whose variables the bijector tracks). The output layers start at
  zero, so a new block is the identity map.

  With `z2_equivariant=True` every shift is odd, `t_i(-y) = -t_i(y)`, and
  every log-scale even, `s_i(-y) = s_i(y)`: each coupling, and so the block,
  is then an odd map, `f(-z) = -f(z)`, with an even log-determinant. A flow
  of such blocks over a symmetric prior is Z2-invariant, `q(-x) = q(x)`,
  exactly and without a mixture (see `neural_rg(z2_equivariant=True)`).

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
               conditioner_dtype=None,
               z2_equivariant=False,
               seed=0,
               validate_args=False,
               name='patch_coupling_block'):
    """Builds the block.

    Args:
      num_couplings: Python `int` >= 1, number of affine couplings.
      hidden_units: sequence of positive Python ints, the conditioners' hidden
        layer widths.
      dtype: `tf.float32` or `tf.float64`: of the variables, the fields and
        the log-determinant.
      conditioner_dtype: `None` (= `dtype`), or a lower precision such as
        `tf.bfloat16` in which the conditioner MLPs compute (mixed precision:
        variables, shifts, scales and log-dets stay in `dtype`). The map is
        still exactly invertible: a coupling's inverse recomputes the same
        conditioner outputs from the same, unchanged half.
      z2_equivariant: Python `bool`; odd shifts and even log-scales (bias-free
        odd hidden features `h`; `t = W_t h`, `s = c tanh(W_s h^2 + b_s)`).
      seed: Python `int` or stateless seed, seeds the initial weights.
      validate_args: Python `bool`.
      name: Python `str`.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    parameters = dict(locals())
    num_couplings = checks.check_positive_int(num_couplings, 'num_couplings')
    dtype = checks.check_float_dtype(dtype)
    conditioner_dtype = check_conditioner_dtype(conditioner_dtype, dtype)
    hidden_units = check_hidden_units(hidden_units)
    z2_equivariant = _check_bool(z2_equivariant, 'z2_equivariant')
    with tf.name_scope(name) as name:
      self._num_couplings = num_couplings
      self._conditioners = _Conditioners(num_couplings, hidden_units, dtype,
                                         conditioner_dtype, z2_equivariant,
                                         seed, name='conditioners')
      super().__init__(
          forward_min_event_ndims=1,
          dtype=dtype,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @property
  def num_couplings(self):
    return self._num_couplings

  @property
  def conditioner_dtype(self):
    return self._conditioners.compute_dtype

  @property
  def z2_equivariant(self):
    """Whether the block is an odd map (odd shifts, even log-scales)."""
    return self._conditioners.z2_equivariant

  def forward_and_log_det_halves(self, a, b):
    """The forward map on halves `a`, `b` of shape `[2, M]`; log-det `[M]`."""
    log_det = 0.
    for i, conditioner in enumerate(self._conditioners.per_coupling()):
      if i % 2:
        shift, log_scale = conditioner(b)
        a = a * tf.math.exp(log_scale) + shift
      else:
        shift, log_scale = conditioner(a)
        b = b * tf.math.exp(log_scale) + shift
      log_det += tf.reduce_sum(log_scale, axis=0)
    return a, b, log_det

  def inverse_and_log_det_halves(self, a, b):
    """The inverse map on halves `a`, `b` of shape `[2, M]`; log-det `[M]`."""
    log_det = 0.
    conditioners = self._conditioners.per_coupling()
    for i in reversed(range(self._num_couplings)):
      if i % 2:
        shift, log_scale = conditioners[i](b)
        a = (a - shift) * tf.math.exp(-log_scale)
      else:
        shift, log_scale = conditioners[i](a)
        b = (b - shift) * tf.math.exp(-log_scale)
      log_det -= tf.reduce_sum(log_scale, axis=0)
    return a, b, log_det

  def _on_events(self, x, halves_fn):
    """Applies `halves_fn` to `[..., 4]` events, laid out feature-major."""
    if x.shape.rank is not None and (x.shape.rank < 1 or
                                     x.shape[-1] not in (None, PATCH_SIZE)):
      raise ValueError('The event of a patch block has {} entries; got an '
                       'input of shape {}.'.format(PATCH_SIZE, x.shape))
    columns = tf.transpose(tf.reshape(x, [-1, PATCH_SIZE]))
    a, b, log_det = halves_fn(columns[:2], columns[2:])
    y = tf.reshape(tf.transpose(tf.concat([a, b], axis=0)), tf.shape(x))
    return y, tf.reshape(log_det, tf.shape(x)[:-1])

  def forward_and_log_det(self, z):
    return self._on_events(z, self.forward_and_log_det_halves)

  def inverse_and_log_det(self, x):
    return self._on_events(x, self.inverse_and_log_det_halves)


def block_factory(num_couplings=4,
                  hidden_units=(10, 10, 10),
                  dtype=tf.float32,
                  conditioner_dtype=None,
                  z2_equivariant=False,
                  validate_args=False):
  """A `block_fn(seed, name)` building `PatchCouplingBlock`s, for the flows.

  The NeuralRG flows (`MERA`, `Tree`, `TEBD`) take a block factory, as TFP's
  `Glow` takes `coupling_bijector_fn`: they call it once per distinct block
  with the block's seed and name. The arguments are checked here, at once.

  Example:

  ```python
  block_fn = tfp_nrg.bijectors.block_factory(num_couplings=2,
                                             hidden_units=(16,))
  flow = tfp_nrg.bijectors.MERA(8, block_fn=block_fn)
  ```

  Args:
    num_couplings: see `PatchCouplingBlock`.
    hidden_units: see `PatchCouplingBlock`.
    dtype: see `PatchCouplingBlock`.
    conditioner_dtype: see `PatchCouplingBlock`.
    z2_equivariant: see `PatchCouplingBlock`.
    validate_args: Python `bool`.

  Returns:
    A callable `block_fn(seed, name) -> PatchCouplingBlock`.

  Raises:
    TypeError, ValueError: on malformed arguments, naming the argument.
  """
  checks.check_positive_int(num_couplings, 'num_couplings')
  dtype = checks.check_float_dtype(dtype)
  check_conditioner_dtype(conditioner_dtype, dtype)
  hidden_units = check_hidden_units(hidden_units)
  _check_bool(z2_equivariant, 'z2_equivariant')

  def block_fn(seed, name):
    return PatchCouplingBlock(
        num_couplings=num_couplings, hidden_units=hidden_units, dtype=dtype,
        conditioner_dtype=conditioner_dtype, z2_equivariant=z2_equivariant,
        seed=seed, validate_args=validate_args, name=name)

  return block_fn
