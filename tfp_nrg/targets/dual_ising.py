"""The continuous dual of the Ising model, an unnormalized target density.

For Ising spins `s_i = +-1` with Boltzmann weight `exp(1/2 s^T K s)` (for the
ferromagnet on a torus `K = J A / T`, `A` the adjacency), the
Hubbard-Stratonovich transformation with a shift `a` that makes
`K_a = K + a I` positive definite gives a continuous field `x` with density

```none
ln pi(x) = -1/2 x^T K_a^{-1} x + sum_i ln cosh(x_i)           (unnormalized),
ln Z_Ising = ln Z_dual + c,
c = N/2 (ln 4 - a - ln 2 pi) - 1/2 ln det K_a,
```

where `Z_dual = int dx pi(x)`. Given `x`, the spins are independent with
`p(s_i | x) = 1 / (1 + exp(-2 s_i x_i))`, so `E[s_i | x] = tanh(x_i)`. The Ising
energy `H(s) = -1/2 s^T (T K) s` therefore has the improved (Rao-Blackwellised)
estimator `E(x) = E[H(s) | x] = -1/2 tanh(x)^T (T K) tanh(x)`, whose average
over `pi` is exactly the Ising mean energy (the diagonal of `K` is zero).

On the hypercubic torus `K_a` is circulant: `K_a^{-1} x` and `ln det K_a` come
from its closed-form spectrum `a + (J/T) sum_mu 2 cos(2 pi k_mu / L)` and one
real FFT, `O(N log N)`. Any other graph takes a dense symmetric coupling matrix.

Example:

```python
import tensorflow as tf
import tfp_nrg

target = tfp_nrg.DualIsing(lattice_size=16,
                           temperature=tfp_nrg.exact.CRITICAL_TEMPERATURE)
x = tf.random.normal([8, 16, 16])
target.log_prob(x)                  # shape [8]
target.exact_log_normalizer()       # ln Z_dual = 592.8757...
target.energy_estimator(x) / 256.   # improved energy per site, shape [8]
```
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import exact
from tfp_nrg import lattice
from tfp_nrg.internal import checks

__all__ = ['DualIsing']

_DEFAULT_MARGIN = 0.1


def _log_cosh(x):
  """ln cosh x = |x| + softplus(-2|x|) - ln 2, without overflow."""
  abs_x = tf.abs(x)
  return abs_x + tf.math.softplus(-2. * abs_x) - tf.constant(math.log(2.),
                                                              x.dtype)


_RFFT = {1: tf.signal.rfft, 2: tf.signal.rfft2d, 3: tf.signal.rfft3d}
_IRFFT = {1: tf.signal.irfft, 2: tf.signal.irfft2d, 3: tf.signal.irfft3d}


class DualIsing(tf.Module):
  """Continuous (Hubbard-Stratonovich) dual of an Ising model.

  An unnormalized log-density over fields `x` of event shape `[L] * dimension`
  (or `[N]` for an explicit coupling matrix), for use as `target_log_prob_fn`
  in `tfp.mcmc` and as the target of variational training.
  """

  def __init__(self,
               lattice_size,
               temperature,
               dimension=2,
               coupling=1.,
               shift=None,
               dtype=tf.float32,
               validate_args=False,
               name='DualIsing'):
    """Dual of the Ising model on the hypercubic torus `[L] * dimension`.

    Args:
      lattice_size: Python `int` L >= 4, sites per axis.
      temperature: positive finite Python float T.
      dimension: Python `int` in {1, 2, 3}.
      coupling: finite nonzero Python float J (negative: antiferromagnet).
      shift: Python float `a`; `None` uses `0.1 - lambda_min(K)`. Must make
        `K + a I` positive definite.
      dtype: `tf.float32` or `tf.float64`.
      validate_args: Python `bool`; if `True`, `log_prob` also checks at run
        time that its input is finite.
      name: Python `str` name of the module.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    super().__init__(name=name)
    self._lattice_size = checks.check_lattice_size(lattice_size)
    if dimension not in _RFFT:
      raise ValueError('`dimension` must be 1, 2 or 3; got {!r}.'.format(
          dimension))
    self._dimension = dimension
    self._coupling = checks.check_finite_number(coupling, 'coupling')
    if self._coupling == 0.:
      raise ValueError('`coupling` must be nonzero.')
    self._temperature = checks.check_finite_number(temperature, 'temperature',
                                             positive=True)
    self._dtype = checks.check_float_dtype(dtype)
    self._validate_args = validate_args
    self._event_shape = tf.TensorShape([self._lattice_size] * dimension)
    self._coupling_matrix = None

    spectrum = (self._coupling / self._temperature *
                lattice.adjacency_eigenvalues(self._lattice_size, dimension))
    self._shift = self._resolve_shift(shift, spectrum.min())
    shifted = spectrum + self._shift
    self._log_det_precision_inverse = float(np.sum(np.log(shifted)))
    # x^T K_a^{-1} x = sum_k |rfft(x)_k|^2 w_k / (lambda_k N); w_k counts the
    # modes that the real FFT's half spectrum leaves out.
    half = shifted[..., :self._lattice_size // 2 + 1]
    weights = np.full(half.shape[-1], 2.)
    weights[0] = 1.
    if self._lattice_size % 2 == 0:
      weights[-1] = 1.
    self._fourier_weights = tf.constant(
        weights / (half * self.num_sites), dtype=self._dtype)
    self._half_spectrum = tf.constant(half, dtype=self._dtype)

  @classmethod
  def from_coupling_matrix(cls,
                           coupling_matrix,
                           temperature=1.,
                           shift=None,
                           dtype=tf.float32,
                           validate_args=False,
                           name='DualIsing'):
    """Dual of the Ising model `H(s) = -1/2 s^T J s` on any graph.

    Uses dense linear algebra (`O(N^2)` per configuration): for anisotropic,
    antiferromagnetic, frustrated or random couplings on small graphs.

    Args:
      coupling_matrix: symmetric `[N, N]` array `J` with zero diagonal.
      temperature: positive finite Python float T; `K = J / T`.
      shift: as in `__init__`.
      dtype: `tf.float32` or `tf.float64`.
      validate_args: as in `__init__`.
      name: Python `str` name of the module.

    Returns:
      A `DualIsing` with event shape `[N]`.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    matrix = np.asarray(coupling_matrix)
    if not np.issubdtype(matrix.dtype, np.number) or np.iscomplexobj(matrix):
      raise TypeError('`coupling_matrix` must be a real array; got dtype '
                      '{}.'.format(matrix.dtype))
    matrix = matrix.astype(np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
      raise ValueError('`coupling_matrix` must be square [N, N]; got shape '
                       '{}.'.format(matrix.shape))
    if not np.all(np.isfinite(matrix)):
      raise ValueError('`coupling_matrix` must be finite.')
    if not np.allclose(matrix, matrix.T, rtol=0., atol=1e-12):
      raise ValueError('`coupling_matrix` must be symmetric.')
    if np.any(np.diag(matrix) != 0.):
      raise ValueError('`coupling_matrix` must have a zero diagonal (a '
                       'self-coupling only adds a constant energy).')
    self = cls.__new__(cls)
    tf.Module.__init__(self, name=name)
    self._lattice_size = None
    self._dimension = None
    self._coupling = None
    self._temperature = checks.check_finite_number(temperature, 'temperature',
                                             positive=True)
    self._dtype = checks.check_float_dtype(dtype)
    self._validate_args = validate_args
    self._event_shape = tf.TensorShape([matrix.shape[0]])
    self._coupling_matrix = tf.constant(matrix, dtype=self._dtype)

    eigenvalues, eigenvectors = np.linalg.eigh(matrix / self._temperature)
    self._shift = self._resolve_shift(shift, eigenvalues.min())
    shifted = eigenvalues + self._shift
    self._log_det_precision_inverse = float(np.sum(np.log(shifted)))
    self._precision = tf.constant(
        (eigenvectors / shifted) @ eigenvectors.T, dtype=self._dtype)
    self._covariance = tf.constant(
        (eigenvectors * shifted) @ eigenvectors.T, dtype=self._dtype)
    self._covariance_sqrt = tf.constant(
        (eigenvectors * np.sqrt(shifted)) @ eigenvectors.T, dtype=self._dtype)
    return self

  def _resolve_shift(self, shift, smallest_eigenvalue):
    if shift is None:
      return _DEFAULT_MARGIN - smallest_eigenvalue
    shift = checks.check_finite_number(shift, 'shift')
    if shift + smallest_eigenvalue <= 0.:
      raise ValueError(
          '`shift` must exceed -lambda_min(K) = {} so that K + shift I is '
          'positive definite; got {}.'.format(-smallest_eigenvalue, shift))
    return shift

  @property
  def lattice_size(self):
    """Sites per axis of the hypercubic torus, or `None` for a graph."""
    return self._lattice_size

  @property
  def dimension(self):
    """Dimension of the hypercubic torus, or `None` for a graph."""
    return self._dimension

  @property
  def coupling(self):
    """Hypercubic coupling J, or `None` for a coupling matrix."""
    return self._coupling

  @property
  def temperature(self):
    return self._temperature

  @property
  def shift(self):
    """The diagonal shift `a` of `K_a = K + a I`."""
    return self._shift

  @property
  def dtype(self):
    return self._dtype

  @property
  def event_shape(self):
    return self._event_shape

  @property
  def num_sites(self):
    return self._event_shape.num_elements()

  @property
  def validate_args(self):
    return self._validate_args

  @property
  def log_z_offset(self):
    """`c` in `ln Z_Ising = ln Z_dual + c` (Python float)."""
    n = self.num_sites
    return (n / 2. * (math.log(4.) - self._shift - math.log(2. * math.pi)) -
            self._log_det_precision_inverse / 2.)

  def exact_log_normalizer(self):
    """`ln Z_dual` from Kaufman's exact solution (2D ferromagnetic torus).

    Returns:
      Python float `ln Z_dual = ln Z_Ising - log_z_offset`.

    Raises:
      NotImplementedError: unless the lattice is the 2D square torus with a
        ferromagnetic coupling.
    """
    return (exact.ising_log_z(self._lattice_size, self._reduced_temperature())
            - self.log_z_offset)

  def exact_energy_per_site(self):
    """Exact Ising energy per site `<H>/N` (2D ferromagnetic torus)."""
    return self._coupling * exact.ising_energy_per_site(
        self._lattice_size, self._reduced_temperature())

  def exact_specific_heat_per_site(self):
    """Exact Ising specific heat per site `C/N` (2D ferromagnetic torus)."""
    return exact.ising_specific_heat_per_site(self._lattice_size,
                                              self._reduced_temperature())

  def _reduced_temperature(self):
    if self._dimension != 2 or self._coupling is None or self._coupling < 0.:
      raise NotImplementedError(
          'The exact solution is known for the 2D ferromagnetic square torus '
          'only; this target is {}.'.format(
              'a graph given by its coupling matrix' if self._dimension is None
              else '{}D with coupling {}'.format(self._dimension,
                                                 self._coupling)))
    return self._temperature / self._coupling

  def _convert_field(self, x, name):
    x = tf.convert_to_tensor(x, dtype_hint=self._dtype, name=name)
    if x.dtype != self._dtype:
      raise TypeError('`{}` must have dtype {}; got {}.'.format(
          name, self._dtype.name, x.dtype.name))
    event_ndims = self._event_shape.rank
    shape = x.shape
    if shape.rank is not None and (
        shape.rank < event_ndims or
        not shape[-event_ndims:].is_compatible_with(self._event_shape)):
      raise ValueError('`{}` must have shape [..., {}]; got {}.'.format(
          name, ', '.join(map(str, self._event_shape)), shape))
    if self._validate_args:
      x = tf.debugging.assert_all_finite(x, '`{}` must be finite.'.format(name))
    return x

  def _inverse_precision_quadratic_form(self, x):
    """`x^T K_a^{-1} x` over the event dimensions."""
    if self._coupling_matrix is not None:
      return tf.einsum('...i,ij,...j->...', x, self._precision, x)
    x_hat = _RFFT[self._dimension](x)
    power = tf.math.square(tf.math.real(x_hat)) + tf.math.square(
        tf.math.imag(x_hat))
    axes = list(range(-self._dimension, 0))
    return tf.reduce_sum(power * self._fourier_weights, axis=axes)

  def _bond_sum(self, t):
    """`1/2 t^T J t`: `J sum_<ij> t_i t_j` on the torus."""
    if self._coupling_matrix is not None:
      return 0.5 * tf.einsum('...i,ij,...j->...', t, self._coupling_matrix, t)
    # Non-negative axes: tf.roll's vectorized (pfor) gradient mishandles
    # negative ones in TF 2.21.
    axes = list(range(t.shape.rank - self._dimension, t.shape.rank))
    neighbours = sum(tf.roll(t, shift=1, axis=axis) for axis in axes)
    return self._coupling * tf.reduce_sum(t * neighbours, axis=axes)

  def log_prob(self, x, name='log_prob'):
    """Unnormalized `ln pi(x) = -1/2 x^T K_a^{-1} x + sum_i ln cosh x_i`.

    Args:
      x: float `Tensor` of shape `batch_shape + event_shape`.
      name: Python `str` name scope.

    Returns:
      `Tensor` of shape `batch_shape`.
    """
    with tf.name_scope(self.name), tf.name_scope(name):
      x = self._convert_field(x, 'x')
      axes = list(range(-self._event_shape.rank, 0))
      return (-0.5 * self._inverse_precision_quadratic_form(x) +
              tf.reduce_sum(_log_cosh(x), axis=axes))

  def spin_expectation(self, x, name='spin_expectation'):
    """`E[s_i | x] = tanh(x_i)`."""
    with tf.name_scope(self.name), tf.name_scope(name):
      return tf.math.tanh(self._convert_field(x, 'x'))

  def sample_spins(self, x, seed, name='sample_spins'):
    """Draws spins exactly from `p(s_i | x) = 1 / (1 + exp(-2 s_i x_i))`.

    Args:
      x: float `Tensor` of shape `batch_shape + event_shape`.
      seed: a stateless seed (anything `tfp.random.sanitize_seed` accepts).
      name: Python `str` name scope.

    Returns:
      Spins `+-1` with the dtype and shape of `x`.
    """
    with tf.name_scope(self.name), tf.name_scope(name):
      x = self._convert_field(x, 'x')
      uniform = tf.random.stateless_uniform(
          tf.shape(x), seed=tfp.random.sanitize_seed(seed), dtype=x.dtype)
      return tf.where(uniform < tf.math.sigmoid(2. * x),
                      tf.ones_like(x), -tf.ones_like(x))

  def sample_fields(self, spins, seed, name='sample_fields'):
    """Draws `x` exactly from `pi(x | s) = N(x; K_a s, K_a)`.

    The dual's joint weight `exp(-1/2 x^T K_a^{-1} x + s^T x)` makes the
    spins Ising-distributed and, given them, the field Gaussian; so spins
    from any Ising sampler become draws of `pi` (`sample_by_metropolis`). On
    the torus `K_a s` and `K_a^{1/2} eps` are real FFTs.

    Args:
      spins: `+-1` `Tensor` of shape `batch_shape + event_shape`.
      seed: a stateless seed.
      name: Python `str` name scope.

    Returns:
      Fields like `spins`.
    """
    with tf.name_scope(self.name), tf.name_scope(name):
      spins = self._convert_field(spins, 'spins')
      noise = tf.random.stateless_normal(
          tf.shape(spins), seed=tfp.random.sanitize_seed(seed),
          dtype=self._dtype)
      if self._coupling_matrix is not None:
        return (tf.linalg.matvec(self._covariance, spins) +
                tf.linalg.matvec(self._covariance_sqrt, noise))
      rfft, irfft = _RFFT[self._dimension], _IRFFT[self._dimension]
      fft_length = [self._lattice_size] * self._dimension
      spectrum = tf.cast(self._half_spectrum, rfft(spins).dtype)
      return (irfft(rfft(spins) * spectrum, fft_length=fft_length) +
              irfft(rfft(noise) * tf.sqrt(spectrum), fft_length=fft_length))

  def _check_bipartite_torus(self):
    if self._coupling_matrix is not None or self._lattice_size % 2:
      raise NotImplementedError(
          'Checkerboard Metropolis needs a hypercubic torus of even side; '
          'this target is {}.'.format(
              'a graph given by its coupling matrix'
              if self._coupling_matrix is not None else
              'of side {}'.format(self._lattice_size)))

  def metropolis_sweeps(self, spins, num_sweeps, seed,
                        name='metropolis_sweeps'):
    """Checkerboard single-spin-flip Metropolis sweeps on Ising spins.

    One sweep updates the even sublattice, then the odd one (each site's
    neighbours are of the other colour, so a colour updates in parallel),
    accepting a flip of `s_i` with probability `min(1, exp(-2 s_i (K s)_i))`.
    Compile it (`tf.function(jit_compile=True)`) for speed.

    Args:
      spins: `+-1` `Tensor` of shape `[chains] + event_shape`.
      num_sweeps: Python `int` >= 1.
      seed: a stateless seed.
      name: Python `str` name scope.

    Returns:
      The spins after `num_sweeps` sweeps.

    Raises:
      NotImplementedError: unless the target is a torus of even side.
    """
    self._check_bipartite_torus()
    num_sweeps = checks.check_positive_int(num_sweeps, 'num_sweeps')
    with tf.name_scope(self.name), tf.name_scope(name):
      spins = self._convert_field(spins, 'spins')
      coordinates = np.indices(self._event_shape.as_list()).sum(axis=0)
      colours = [tf.constant(coordinates % 2 == c) for c in (0, 1)]
      axes = list(range(1, self._dimension + 1))
      coupling = tf.constant(self._coupling / self._temperature, self._dtype)

      def sweep(s, sweep_seed):
        for colour, colour_seed in zip(colours, tf.unstack(
            tf.random.experimental.stateless_split(sweep_seed, 2))):
          local_field = coupling * sum(
              tf.roll(s, shift, axis) for axis in axes for shift in (1, -1))
          log_uniform = tf.math.log(tf.random.stateless_uniform(
              tf.shape(s), seed=colour_seed, dtype=self._dtype))
          flip = colour & (log_uniform < -2. * s * local_field)
          s = tf.where(flip, -s, s)
        return s

      seeds = tf.random.experimental.stateless_split(
          tfp.random.sanitize_seed(seed), num_sweeps)
      return tf.foldl(sweep, seeds, initializer=spins)

  def sample_by_metropolis(self, num_samples, num_sweeps, seed,
                           name='sample_by_metropolis'):
    """Draws of `pi` through Ising spins: Metropolis, then `sample_fields`.

    Each draw is the final state of its own checkerboard Metropolis chain,
    started from random spins and run for `num_sweeps` sweeps, turned into a
    field by the exact `sample_fields`. The draws are independent; they are
    exact in the limit of many sweeps (near `T_c` allow several times
    `L^2.17` sweeps, the magnetization's autocorrelation time).

    Args:
      num_samples: Python `int` >= 1.
      num_sweeps: Python `int` >= 1.
      seed: a stateless seed.
      name: Python `str` name scope.

    Returns:
      `Tensor` of shape `[num_samples] + event_shape`.

    Raises:
      NotImplementedError: unless the target is a torus of even side.
    """
    self._check_bipartite_torus()
    with tf.name_scope(self.name), tf.name_scope(name):
      start_seed, sweep_seed, field_seed = tfp.random.split_seed(seed, n=3)
      spins = self.random_spins(num_samples, start_seed)
      spins = self.metropolis_sweeps(spins, num_sweeps, sweep_seed)
      return self.sample_fields(spins, field_seed)

  def random_spins(self, num_chains, seed):
    """Independent uniform `+-1` spins, `[num_chains] + event_shape`."""
    num_chains = checks.check_positive_int(num_chains, 'num_chains')
    uniform = tf.random.stateless_uniform(
        [num_chains] + self._event_shape, seed=tfp.random.sanitize_seed(seed))
    return tf.where(uniform < 0.5, tf.constant(-1., self._dtype),
                    tf.constant(1., self._dtype))

  def ising_energy(self, spins, name='ising_energy'):
    """Ising energy `H(s) = -1/2 s^T (T K) s` of each configuration.

    Also accepts real-valued `spins` (e.g. `tanh(x)`), evaluating the same
    quadratic form.

    Args:
      spins: float `Tensor` of shape `batch_shape + event_shape`.
      name: Python `str` name scope.

    Returns:
      `Tensor` of shape `batch_shape`: the total energy, not per site.
    """
    with tf.name_scope(self.name), tf.name_scope(name):
      return -self._bond_sum(self._convert_field(spins, 'spins'))

  def energy_estimator(self, x, name='energy_estimator'):
    """Improved estimator `E(x) = E[H(s) | x] = -J sum_<ij> tanh x_i tanh x_j`.

    Its mean under `pi` equals the Ising mean energy `<H>` exactly, with less
    variance than `H` of spins drawn from `p(s | x)`.

    Args:
      x: float `Tensor` of shape `batch_shape + event_shape`.
      name: Python `str` name scope.

    Returns:
      `Tensor` of shape `batch_shape`: the total energy, not per site.
    """
    with tf.name_scope(self.name), tf.name_scope(name):
      return self.ising_energy(tf.math.tanh(self._convert_field(x, 'x')))
