"""Argument checks that raise errors naming the offending argument."""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

__all__ = [
    'check_bool',
    'check_distribution',
    'check_field',
    'check_finite_number',
    'check_float_dtype',
    'check_lattice_size',
    'check_positive_int',
    'num_scales',
    'stateless_seed',
]


def check_distribution(distribution, name):
  """Raises unless `distribution` is a `tfd.Distribution` of one full event.

  Its event shape must be fully defined and its batch shape scalar (one
  event per draw), as a flow, a proposal or an exported model's is.
  """
  if not isinstance(distribution, tfp.distributions.Distribution):
    raise TypeError('`{}` must be a tfd.Distribution; got {!r}.'.format(
        name, distribution))
  if not distribution.event_shape.is_fully_defined():
    raise ValueError('`{}` must have a fully defined event shape; got '
                     '{}.'.format(name, distribution.event_shape))
  if distribution.batch_shape.rank != 0:
    raise ValueError('`{}` must have a scalar batch shape (one event per '
                     'draw); got {}.'.format(name, distribution.batch_shape))


def check_float_dtype(dtype, name='dtype'):
  """Returns `tf.as_dtype(dtype)` if it is float32 or float64, else raises."""
  try:
    dtype = tf.as_dtype(dtype)
  except TypeError:
    raise TypeError('`{}` must be tf.float32 or tf.float64; got {!r}.'.format(
        name, dtype)) from None
  if dtype not in (tf.float32, tf.float64):
    raise TypeError('`{}` must be tf.float32 or tf.float64; got {}.'.format(
        name, dtype.name))
  return dtype


def check_finite_number(value, name, positive=False):
  """Returns `float(value)` for a finite (optionally positive) real number."""
  if isinstance(value, bool) or not isinstance(
      value, (int, float, np.integer, np.floating)):
    raise TypeError('`{}` must be a real number; got {!r}.'.format(name, value))
  value = float(value)
  if not math.isfinite(value) or (positive and value <= 0.):
    raise ValueError('`{}` must be {}finite; got {}.'.format(
        name, 'positive and ' if positive else '', value))
  return value


def check_parameter(value, name, positive=False):
  """A distribution parameter: a Python float, or a float64 array of a batch.

  Takes Python and numpy numbers and arrays, and `Tensor`s whose value is
  known (eager, or constant in a graph): the targets precompute spectra and
  normalizers from their parameters in numpy. Every element must be finite
  (and positive if `positive`).

  Returns:
    A Python float for a scalar, else a numpy float64 array.
  """
  if isinstance(value, (tf.Tensor, tf.Variable)):
    static = tf.get_static_value(value)
    if static is None:
      raise TypeError(
          '`{}` must have a value known when the target is built (a Python '
          'or numpy number or array, or an eager or constant Tensor); got a '
          'symbolic {!r}.'.format(name, value))
    value = static
  array = np.asarray(value)
  if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or
                                 np.issubdtype(array.dtype, np.floating)):
    raise TypeError('`{}` must be real; got {!r}.'.format(name, value))
  array = array.astype(np.float64)
  if array.size == 0:
    raise ValueError('`{}` must not be empty.'.format(name))
  if not np.all(np.isfinite(array)) or (positive and np.any(array <= 0.)):
    raise ValueError('`{}` must be {}finite; got {}.'.format(
        name, 'positive and ' if positive else '', value))
  return float(array) if array.ndim == 0 else array


def check_bool(value, name):
  """Returns `value` if it is a `bool` (a string such as 'no' is refused)."""
  if not isinstance(value, (bool, np.bool_)):
    raise TypeError('`{}` must be a bool; got {!r}.'.format(name, value))
  return bool(value)


def check_positive_int(value, name, minimum=1):
  """Returns `int(value)` for an integer `>= minimum`."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError('`{}` must be an int; got {!r}.'.format(name, value))
  if value < minimum:
    raise ValueError('`{}` must be at least {}; got {}.'.format(
        name, minimum, value))
  return int(value)


def check_field(x, dtype, event_shape, validate_args, name):
  """`x` as a `Tensor` of `dtype` and shape `[..., *event_shape]`.

  A target's check of its input: the dtype and the event dimensions at trace
  time, finiteness at run time with `validate_args`.

  Raises:
    TypeError, ValueError: naming `name`.
  """
  x = tf.convert_to_tensor(x, dtype_hint=dtype, name=name)
  if x.dtype != dtype:
    raise TypeError('`{}` must have dtype {}; got {}.'.format(
        name, dtype.name, x.dtype.name))
  shape = x.shape
  if shape.rank is not None and (
      shape.rank < event_shape.rank or
      not shape[-event_shape.rank:].is_compatible_with(event_shape)):
    raise ValueError('`{}` must have shape [..., {}]; got {}.'.format(
        name, ', '.join(map(str, event_shape)), shape))
  if validate_args:
    x = tf.debugging.assert_all_finite(x, '`{}` must be finite.'.format(name))
  return x


def static_lattice_event(field, lattice_size, name):
  """`field` with static event dimensions `[L, L]` (traced with `None`s, too).

  A lattice bijector's check of its input, `name` being the bijector's.

  Raises:
    ValueError: if the rank of `field` is unknown or its shape is not
      `[..., L, L]`.
  """
  expected = [lattice_size] * 2
  if field.shape.rank is None:
    raise ValueError('`{}` needs fields of known rank [..., {}, {}]; got an '
                     'unknown rank.'.format(name, *expected))
  if (field.shape.rank < 2 or
      not field.shape[-2:].is_compatible_with(expected)):
    raise ValueError('`{}` acts on fields of shape [..., {}, {}]; got '
                     '{}.'.format(name, *expected, field.shape))
  if not field.shape[-2:].is_fully_defined():
    # Not tf.ensure_shape: it has no forward-mode (JVP) rule in TF 2.21.
    field = tf.reshape(field, tf.concat([tf.shape(field)[:-2], expected], 0))
  return field


def check_lattice_size(lattice_size, minimum=4, power_of_two=False,
                       name='lattice_size'):
  """Returns `int(lattice_size)`, or raises an error naming `name`.

  Args:
    lattice_size: the value to check.
    minimum: Python `int`, smallest accepted value.
    power_of_two: Python `bool`, whether the value must be a power of two.
    name: the argument's name, for the error message.

  Returns:
    `int(lattice_size)`.

  Raises:
    TypeError: if `lattice_size` is not an integer.
    ValueError: if it is below `minimum` or not a required power of two.
  """
  lattice_size = check_positive_int(lattice_size, name, minimum)
  if power_of_two and lattice_size & (lattice_size - 1):
    raise ValueError('`{}` must be a power of two; got {}.'.format(
        name, lattice_size))
  return lattice_size


def num_scales(lattice_size):
  """`log2(lattice_size)` for a power of two: the number of RG scales."""
  return int(lattice_size).bit_length() - 1


def stateless_seed(seed):
  """A stateless `[2]` int32 seed; a Python int `n` becomes `[0, n]`.

  TFP reads a Python int as a seed for stateful sampling (different draws on
  every call); weight initialisation must instead repeat exactly.
  """
  if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
    seed = [0, int(seed)]
  elif isinstance(seed, (list, tuple, np.ndarray)) and np.shape(seed) != (2,):
    raise ValueError('`seed` must be an int or a pair of ints; got '
                     '{!r}.'.format(seed))
  return tfp.random.sanitize_seed(seed)
