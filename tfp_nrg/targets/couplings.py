"""Coupling operators of an Ising model: what its continuous dual is made of.

For spins `s_i = +-1` with energy `H(s) = -1/2 s^T J s` at temperature `T`,
the dual (`DualIsing`) needs the reduced couplings `K = J / T`, shifted by
`a` so that `K_a = K + a I` is positive definite, through four operations:

```none
inverse_quadratic_form(x) = x^T K_a^{-1} x,
bond_sum(t)               = 1/2 t^T J t,
matvec(s)                 = K_a s,
sqrt_matvec(eps)          = K_a^{1/2} eps,
log_det                   = ln det K_a.
```

`TorusCoupling` is the nearest-neighbour coupling `J A` on the hypercubic
torus `[L] * d`: `K_a` is circulant, so every operation is a real FFT with the
closed-form spectrum `a + (J/T) sum_mu 2 cos(2 pi k_mu / L)`, `O(N log N)`.
`DenseCoupling` takes any symmetric `J` with zero diagonal (anisotropic,
antiferromagnetic, frustrated, random graphs), `O(N^2)` per configuration.

Example:

```python
op = tfp_nrg.targets.TorusCoupling(8, temperature=2.269)
x = tf.random.normal([4, 8, 8])
op.inverse_quadratic_form(x)          # [4]
op.log_det                            # ln det K_a, Python float
```
"""

import numpy as np
import tensorflow as tf

from tfp_nrg import lattice
from tfp_nrg.internal import checks

__all__ = ['CouplingOperator', 'DenseCoupling', 'TorusCoupling']

# Default diagonal shift: K_a's smallest eigenvalue becomes this margin.
_DEFAULT_MARGIN = 0.1

_RFFT = {1: tf.signal.rfft, 2: tf.signal.rfft2d, 3: tf.signal.rfft3d}
_IRFFT = {1: tf.signal.irfft, 2: tf.signal.irfft2d, 3: tf.signal.irfft3d}


def _check_conditioning(shifted, dtype):
  """Raises if `dtype` cannot resolve the spectrum `shifted` of `K_a`.

  At very low temperature `K = J / T` is huge beside the margin `a` keeps
  from zero; past a condition number of 0.1 / eps the smallest eigenvalues
  are lost to rounding (a -inf `ln det`, NaN draws).
  """
  with np.errstate(divide='ignore'):  # An eigenvalue rounded to 0: inf.
    condition = shifted.max() / shifted.min()
  limit = 0.1 / np.finfo(dtype.as_numpy_dtype).eps
  if not condition < limit:
    raise ValueError(
        '`temperature` is too low for {}: K + a I has condition number '
        '{:.3g}, above the {:.3g} it resolves. Raise the temperature{}.'.format(
            dtype.name, condition, limit,
            '' if dtype == tf.float64 else ', or use float64'))


def _resolve_shift(shift, smallest_eigenvalue):
  """The shift `a`: the default margin, or a checked user value.

  `smallest_eigenvalue` is a float, or an array over a batch of temperatures
  (then so is the default shift).
  """
  if shift is None:
    return _DEFAULT_MARGIN - smallest_eigenvalue
  shift = checks.check_finite_number(shift, 'shift')
  if np.any(shift + smallest_eigenvalue <= 0.):
    raise ValueError(
        '`shift` must exceed -lambda_min(K) = {} so that K + shift I is '
        'positive definite; got {}.'.format(np.max(-smallest_eigenvalue),
                                            shift))
  return shift


def _check_event_shape(event_shape, num_sites):
  """`event_shape` (default `[num_sites]`) as a checked `tf.TensorShape`."""
  if event_shape is None:
    return tf.TensorShape([num_sites])
  try:
    shape = tf.TensorShape(event_shape)
  except (TypeError, ValueError) as e:
    raise TypeError('`event_shape` must be a list of ints; got {!r}.'.format(
        event_shape)) from e
  if (not shape.is_fully_defined() or shape.rank == 0 or
      shape.num_elements() != num_sites):
    raise ValueError(
        '`event_shape` must be fully defined with {} elements in all (the '
        'coupling matrix\'s side); got {}.'.format(num_sites, shape))
  return shape


def torus_spectrum(lattice_size, temperature, dimension=2, coupling=1.,
                   shift=None, dtype=tf.float32):
  """`(eigenvalues of K_a, a)` on the torus, in numpy; checks `temperature`.

  Touches no TensorFlow runtime, so a configuration can be checked before
  devices are set up. For an array of temperatures (a batch), the spectrum
  has shape `batch_shape + [L] * dimension` and the default shift is an
  array of `batch_shape`.

  Raises:
    ValueError: for a `shift` that leaves `K_a` indefinite, or a
      `temperature` too low for `dtype` to resolve `K_a`.
  """
  temperature = np.asarray(temperature, np.float64)
  event_axes = tuple(range(temperature.ndim, temperature.ndim + dimension))
  spectrum = (coupling / np.expand_dims(temperature, event_axes) *
              lattice.adjacency_eigenvalues(lattice_size, dimension))
  shift = _resolve_shift(shift, spectrum.min(axis=event_axes))
  if np.ndim(shift):
    shift = np.asarray(shift)
  shifted = spectrum + np.expand_dims(shift, event_axes)
  _check_conditioning(shifted, tf.as_dtype(dtype))
  return shifted, (float(shift) if np.ndim(shift) == 0 else shift)


class CouplingOperator:
  """`K_a = J / T + a I` of an Ising model; see the module docstring.

  Subclasses set `_event_shape`, `_temperature`, `_shift`, `_log_det`,
  `_dtype` and implement the four operations on `[..., *event_shape]`.
  """

  @property
  def event_shape(self):
    """Shape of one configuration, a `tf.TensorShape`."""
    return self._event_shape

  @property
  def num_sites(self):
    return self._event_shape.num_elements()

  @property
  def batch_shape(self):
    """Shape of the batch of temperatures, a `tf.TensorShape` (`[]`: one)."""
    return tf.TensorShape(np.shape(self._temperature))

  @property
  def temperature(self):
    """T: a Python float, or a numpy array over the batch."""
    return self._temperature

  @property
  def shift(self):
    """The diagonal shift `a` (Python float, or an array over the batch)."""
    return self._shift

  @property
  def log_det(self):
    """`ln det K_a` (Python float, or an array over the batch)."""
    return self._log_det

  @property
  def dtype(self):
    return self._dtype

  def inverse_quadratic_form(self, x):
    """`x^T K_a^{-1} x` over the event dimensions."""
    raise NotImplementedError

  def bond_sum(self, t):
    """`1/2 t^T J t` over the event dimensions (`-H` for spins `t`)."""
    raise NotImplementedError

  def matvec(self, s):
    """`K_a s`, shape of `s`."""
    raise NotImplementedError

  def sqrt_matvec(self, eps):
    """`K_a^{1/2} eps`, shape of `eps`."""
    raise NotImplementedError


class TorusCoupling(CouplingOperator):
  """Nearest-neighbour coupling `J` on the hypercubic torus `[L] * d`, by FFT."""

  def __init__(self, lattice_size, temperature, dimension=2, coupling=1.,
               shift=None, dtype=tf.float32):
    """Builds the operator.

    Args:
      lattice_size: Python `int` L >= 4, sites per axis.
      temperature: positive finite T, a number or an array (or a `Tensor`
        with a known value) of a batch of temperatures: every operation then
        broadcasts over `batch_shape + event_shape`.
      dimension: Python `int` in {1, 2, 3}.
      coupling: finite nonzero Python float J (negative: antiferromagnet).
      shift: Python float `a`; `None` uses `0.1 - lambda_min(K)`. Must make
        `K + a I` positive definite.
      dtype: `tf.float32` or `tf.float64`.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    self._lattice_size = checks.check_lattice_size(lattice_size)
    if dimension not in _RFFT:
      raise ValueError('`dimension` must be 1, 2 or 3; got {!r}.'.format(
          dimension))
    self._dimension = dimension
    self._coupling = checks.check_finite_number(coupling, 'coupling')
    if self._coupling == 0.:
      raise ValueError('`coupling` must be nonzero.')
    self._temperature = checks.check_parameter(temperature, 'temperature',
                                               positive=True)
    self._dtype = checks.check_float_dtype(dtype)
    self._event_shape = tf.TensorShape([self._lattice_size] * dimension)
    shifted, self._shift = torus_spectrum(
        self._lattice_size, self._temperature, dimension, self._coupling,
        shift, self._dtype)
    log_det = np.sum(np.log(shifted), axis=tuple(range(-dimension, 0)))
    self._log_det = float(log_det) if np.ndim(log_det) == 0 else log_det
    # x^T K_a^{-1} x = sum_k |rfft(x)_k|^2 w_k / (lambda_k N); w_k counts the
    # modes that the real FFT's half spectrum leaves out.
    half = shifted[..., :self._lattice_size // 2 + 1]
    weights = np.full(half.shape[-1], 2.)
    weights[0] = 1.
    if self._lattice_size % 2 == 0:
      weights[-1] = 1.
    self._fourier_weights = tf.constant(weights / (half * self.num_sites),
                                        dtype=self._dtype)
    self._half_spectrum = tf.constant(half, dtype=self._dtype)

  @property
  def lattice_size(self):
    return self._lattice_size

  @property
  def dimension(self):
    return self._dimension

  @property
  def coupling(self):
    """The nearest-neighbour coupling `J`."""
    return self._coupling

  @property
  def is_bipartite(self):
    """Whether the torus splits into two colours (even `L`)."""
    return self._lattice_size % 2 == 0

  def _axes(self, t):
    return list(range(t.shape.rank - self._dimension, t.shape.rank))

  def inverse_quadratic_form(self, x):
    x_hat = _RFFT[self._dimension](x)
    power = tf.math.square(tf.math.real(x_hat)) + tf.math.square(
        tf.math.imag(x_hat))
    return tf.reduce_sum(power * self._fourier_weights,
                         axis=list(range(-self._dimension, 0)))

  def bond_sum(self, t):
    axes = self._axes(t)
    neighbours = sum(lattice.roll(t, shift=1, axis=axis) for axis in axes)
    return self._coupling * tf.reduce_sum(t * neighbours, axis=axes)

  def local_field(self, s):
    """`(J / T) sum_{j ~ i} s_j` at every site `i` (no shift)."""
    coupling = tf.constant(np.expand_dims(
        self._coupling / np.asarray(self._temperature),
        tuple(range(-self._dimension, 0))), s.dtype)
    return coupling * sum(lattice.roll(s, shift, axis)
                          for axis in self._axes(s) for shift in (1, -1))

  def _spectral_matvec(self, v, spectrum):
    rfft, irfft = _RFFT[self._dimension], _IRFFT[self._dimension]
    fft_length = [self._lattice_size] * self._dimension
    v_hat = rfft(v)
    return irfft(v_hat * tf.cast(spectrum, v_hat.dtype), fft_length=fft_length)

  def matvec(self, s):
    return self._spectral_matvec(s, self._half_spectrum)

  def sqrt_matvec(self, eps):
    return self._spectral_matvec(eps, tf.sqrt(self._half_spectrum))


class DenseCoupling(CouplingOperator):
  """Any symmetric coupling matrix `J` with zero diagonal, dense."""

  def __init__(self, coupling_matrix, temperature=1., shift=None,
               dtype=tf.float32, event_shape=None):
    """Builds the operator.

    Args:
      coupling_matrix: symmetric `[N, N]` array `J` with zero diagonal.
      temperature: positive finite Python float T; `K = J / T`.
      shift: as in `TorusCoupling`.
      dtype: `tf.float32` or `tf.float64`.
      event_shape: shape of one configuration, with `N` elements in all
        (e.g. `[L, L]` for a square lattice, so that a NeuralRG flow fits
        the target as it is); sites are numbered in row-major order.
        Default `[N]`.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    matrix = np.asarray(coupling_matrix)
    if not np.issubdtype(matrix.dtype, np.number) or np.iscomplexobj(matrix):
      raise TypeError('`coupling_matrix` must be a real array; got dtype '
                      '{}.'.format(matrix.dtype))
    matrix = matrix.astype(np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or (
        matrix.size == 0):
      raise ValueError('`coupling_matrix` must be square [N, N] with N >= 1; '
                       'got shape {}.'.format(matrix.shape))
    if not np.all(np.isfinite(matrix)):
      raise ValueError('`coupling_matrix` must be finite.')
    if not np.allclose(matrix, matrix.T, rtol=0., atol=1e-12):
      raise ValueError('`coupling_matrix` must be symmetric.')
    if np.any(np.diag(matrix) != 0.):
      raise ValueError('`coupling_matrix` must have a zero diagonal (a '
                       'self-coupling only adds a constant energy).')
    self._temperature = checks.check_finite_number(temperature, 'temperature',
                                                   positive=True)
    self._dtype = checks.check_float_dtype(dtype)
    self._event_shape = _check_event_shape(event_shape, matrix.shape[0])
    self._coupling_matrix = tf.constant(matrix, dtype=self._dtype)
    eigenvalues, eigenvectors = np.linalg.eigh(matrix / self._temperature)
    self._shift = _resolve_shift(shift, eigenvalues.min())
    shifted = eigenvalues + self._shift
    _check_conditioning(shifted, self._dtype)
    self._log_det = float(np.sum(np.log(shifted)))

    def constant(spectrum):
      return tf.constant((eigenvectors * spectrum) @ eigenvectors.T,
                         dtype=self._dtype)

    self._inverse = constant(1. / shifted)
    self._matrix = constant(shifted)
    self._sqrt = constant(np.sqrt(shifted))

  @property
  def coupling_matrix(self):
    """`J`, a `[N, N]` `Tensor`."""
    return self._coupling_matrix

  @property
  def reduced_coupling_matrix(self):
    """`K = J / T`, a `[N, N]` `Tensor`."""
    return self._coupling_matrix / tf.constant(self._temperature, self._dtype)

  def flatten(self, x):
    """`x` of shape `batch_shape + event_shape` as `batch_shape + [N]`."""
    rank = self._event_shape.rank
    return tf.reshape(x, tf.concat(
        [tf.shape(x)[:tf.rank(x) - rank], [self.num_sites]], axis=0))

  def unflatten(self, x):
    """The inverse of `flatten`."""
    return tf.reshape(x, tf.concat(
        [tf.shape(x)[:-1], self._event_shape.as_list()], axis=0))

  def local_field(self, s):
    """`sum_j K_ij s_j` at every site `i` (no shift), shape of `s`."""
    return self.unflatten(tf.linalg.matvec(self.reduced_coupling_matrix,
                                           self.flatten(s)))

  def inverse_quadratic_form(self, x):
    x = self.flatten(x)
    return tf.einsum('...i,ij,...j->...', x, self._inverse, x)

  def bond_sum(self, t):
    t = self.flatten(t)
    return 0.5 * tf.einsum('...i,ij,...j->...', t, self._coupling_matrix, t)

  def matvec(self, s):
    return self.unflatten(tf.linalg.matvec(self._matrix, self.flatten(s)))

  def sqrt_matvec(self, eps):
    return self.unflatten(tf.linalg.matvec(self._sqrt, self.flatten(eps)))
