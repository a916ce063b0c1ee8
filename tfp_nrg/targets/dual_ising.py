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

Everything the density needs of `K_a` comes from a coupling operator
(`tfp_nrg.targets.couplings`): on the hypercubic torus `K_a` is circulant and
each operation is one real FFT, `O(N log N)`; any other graph takes a dense
symmetric coupling matrix. Single-spin Metropolis on the spins (checkerboard
on the torus, sequential on a matrix) lives in
`tfp_nrg.targets.spin_metropolis`.

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
from tfp_nrg.internal import checks
from tfp_nrg.targets import couplings
from tfp_nrg.targets import spin_kernel
from tfp_nrg.targets import spin_metropolis

__all__ = ['DualIsing']


def _log_cosh(x):
  """ln cosh x = |x| + softplus(-2|x|) - ln 2, without overflow."""
  abs_x = tf.abs(x)
  return abs_x + tf.math.softplus(-2. * abs_x) - tf.constant(math.log(2.),
                                                              x.dtype)


class DualIsing(tf.Module):
  """Continuous (Hubbard-Stratonovich) dual of an Ising model.

  An unnormalized log-density over fields `x` of event shape `[L] * dimension`
  (or `[N]` for an explicit coupling matrix), for use as `target_log_prob_fn`
  in `tfp.mcmc` and as the target of variational training. Everything it
  computes goes through its `coupling_operator` (`TorusCoupling` or
  `DenseCoupling`).
  """

  def __init__(self,
               lattice_size=None,
               temperature=None,
               dimension=2,
               coupling=1.,
               shift=None,
               dtype=tf.float32,
               validate_args=False,
               name='DualIsing',
               coupling_operator=None):
    """Dual of the Ising model on the hypercubic torus, or of any operator.

    Args:
      lattice_size: Python `int` L >= 4, sites per axis of the torus.
      temperature: positive finite T: a number, or an array (or a `Tensor`
        with a known value) for a batch of targets at several temperatures,
        as TFP distributions take batch parameters; `log_prob` of fields of
        shape `[..., *batch_shape, L, L]` is then `[..., *batch_shape]`.
      dimension: Python `int` in {1, 2, 3}.
      coupling: finite nonzero Python float J (negative: antiferromagnet).
      shift: Python float `a`; `None` uses `0.1 - lambda_min(K)`. Must make
        `K + a I` positive definite.
      dtype: `tf.float32` or `tf.float64`.
      validate_args: Python `bool`; if `True`, `log_prob` also checks at run
        time that its input is finite.
      name: Python `str` name of the module.
      coupling_operator: instead of the torus arguments (`lattice_size`,
        `temperature`, `dimension`, `coupling`, `shift`, `dtype`), a
        `tfp_nrg.targets.CouplingOperator` that holds them.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    super().__init__(name=name)
    if coupling_operator is None:
      if lattice_size is None or temperature is None:
        raise ValueError('Pass `lattice_size` and `temperature`, or a '
                         '`coupling_operator`.')
      coupling_operator = couplings.TorusCoupling(
          lattice_size, temperature, dimension=dimension, coupling=coupling,
          shift=shift, dtype=dtype)
    elif not isinstance(coupling_operator, couplings.CouplingOperator):
      raise TypeError('`coupling_operator` must be a CouplingOperator; got '
                      '{!r}.'.format(coupling_operator))
    elif lattice_size is not None or temperature is not None:
      raise ValueError('Pass either `coupling_operator` or `lattice_size` and '
                       '`temperature`, not both.')
    self._operator = coupling_operator
    self._validate_args = validate_args

  @classmethod
  def from_coupling_matrix(cls,
                           coupling_matrix,
                           temperature=1.,
                           shift=None,
                           dtype=tf.float32,
                           validate_args=False,
                           name='DualIsing',
                           event_shape=None):
    """Dual of the Ising model `H(s) = -1/2 s^T J s` on any graph.

    Uses dense linear algebra (`O(N^2)` per configuration): for anisotropic,
    antiferromagnetic, frustrated or random couplings on small graphs. Its
    spins are sampled by sequential single-spin Metropolis
    (`sample_by_metropolis`, `local_kernel`), so bridge sampling and
    global-local chains work on any graph.

    Args:
      coupling_matrix: symmetric `[N, N]` array `J` with zero diagonal.
      temperature: positive finite Python float T; `K = J / T`.
      shift: as in `__init__`.
      dtype: `tf.float32` or `tf.float64`.
      validate_args: as in `__init__`.
      name: Python `str` name of the module.
      event_shape: the shape of a configuration, `N` elements in all, sites
        numbered in row-major order; `[L, L]` lets a NeuralRG flow of side
        `L` model the target without reshaping. Default `[N]`.

    Returns:
      A `DualIsing` with event shape `event_shape`.

    Example: a +-J spin glass on the 4 x 4 torus, as a field of shape [4, 4].

    ```python
    rng = np.random.default_rng(0)
    j = np.zeros([16, 16])
    for i in range(16):
      for n in ((i // 4) * 4 + (i + 1) % 4, (i + 4) % 16):
        j[i, n] = j[n, i] = rng.choice([-1., 1.])
    target = tfp_nrg.DualIsing.from_coupling_matrix(j, temperature=3.,
                                                    event_shape=[4, 4])
    model = tfp_nrg.neural_rg(4)
    draws = target.sample_by_metropolis(256, num_sweeps=200, seed=(0, 1))
    ```

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    return cls(coupling_operator=couplings.DenseCoupling(
        coupling_matrix, temperature, shift=shift, dtype=dtype,
        event_shape=event_shape),
               validate_args=validate_args, name=name)

  @property
  def coupling_operator(self):
    """The `CouplingOperator` `K_a` behind this target."""
    return self._operator

  @property
  def lattice_size(self):
    """Sites per axis of the hypercubic torus, or `None` for a graph."""
    return getattr(self._operator, 'lattice_size', None)

  @property
  def dimension(self):
    """Dimension of the hypercubic torus, or `None` for a graph."""
    return getattr(self._operator, 'dimension', None)

  @property
  def coupling(self):
    """Hypercubic coupling J, or `None` for a coupling matrix."""
    return getattr(self._operator, 'coupling', None)

  @property
  def temperature(self):
    """T: a Python float, or a numpy array over `batch_shape`."""
    return self._operator.temperature

  @property
  def batch_shape(self):
    """Shape of the batch of temperatures, `[]` for one."""
    return self._operator.batch_shape

  @property
  def shift(self):
    """The diagonal shift `a` of `K_a = K + a I`."""
    return self._operator.shift

  @property
  def dtype(self):
    return self._operator.dtype

  @property
  def event_shape(self):
    return self._operator.event_shape

  @property
  def num_sites(self):
    return self._operator.num_sites

  @property
  def validate_args(self):
    return self._validate_args

  @property
  def log_z_offset(self):
    """`c` in `ln Z_Ising = ln Z_dual + c` (a float, or an array over the
    batch)."""
    n = self.num_sites
    return (n / 2. * (math.log(4.) - self.shift - math.log(2. * math.pi)) -
            self._operator.log_det / 2.)

  def exact_log_normalizer(self):
    """`ln Z_dual` from Kaufman's exact solution (2D ferromagnetic torus).

    Returns:
      `ln Z_dual = ln Z_Ising - log_z_offset`: a Python float, or a numpy
      array over `batch_shape`.

    Raises:
      NotImplementedError: unless the lattice is the 2D square torus with a
        ferromagnetic coupling.
    """
    return (self._per_temperature(exact.ising_log_z,
                                  self._reduced_temperature()) -
            self.log_z_offset)

  def exact_energy_per_site(self):
    """Exact Ising energy per site `<H>/N` (2D ferromagnetic torus).

    Raises:
      NotImplementedError: off the 2D ferromagnetic torus, or at a
        temperature where it is not known precisely (see `exact`).
    """
    return self.coupling * self._exact_derivative(exact.ising_energy_per_site)

  def exact_specific_heat_per_site(self):
    """Exact Ising specific heat per site `C/N`; see `exact_energy_per_site`.
    """
    return self._exact_derivative(exact.ising_specific_heat_per_site)

  def _exact_derivative(self, function):
    temperature = self._reduced_temperature()
    try:
      return self._per_temperature(function, temperature)
    except ValueError as e:  # Out of the range it is known precisely in.
      raise NotImplementedError(str(e)) from e

  def _per_temperature(self, function, temperature):
    """`function(L, T)` at each temperature of the batch (floats)."""
    if np.ndim(temperature) == 0:
      return float(function(self.lattice_size, temperature))
    return np.vectorize(lambda t: float(function(self.lattice_size, t)),
                        otypes=[np.float64])(temperature)

  def _reduced_temperature(self):
    if self.dimension != 2 or self.coupling < 0.:
      raise NotImplementedError(
          'The exact solution is known for the 2D ferromagnetic square torus '
          'only; this target is {}.'.format(
              'a graph given by its coupling matrix' if self.dimension is None
              else '{}D with coupling {}'.format(self.dimension,
                                                 self.coupling)))
    return self.temperature / self.coupling

  def _convert_field(self, x, name):
    return checks.check_field(x, self.dtype, self.event_shape,
                              self._validate_args, name)

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
      axes = list(range(-self.event_shape.rank, 0))
      return (-0.5 * self._operator.inverse_quadratic_form(x) +
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
          dtype=self.dtype)
      return (self._operator.matvec(spins) +
              self._operator.sqrt_matvec(noise))

  def metropolis_sweeps(self, spins, num_sweeps, seed,
                        name='metropolis_sweeps'):
    """Single-spin-flip Metropolis sweeps on Ising spins.

    A flip of `s_i` is accepted with probability `min(1, exp(-2 s_i (K s)_i))`.
    On the torus one sweep updates the even sublattice, then the odd one (a
    colour updates in parallel); on a coupling matrix it visits the sites in
    turn, updating the local fields in `O(N)` per flip
    (`tfp_nrg.targets.spin_metropolis`). Compile it
    (`tf.function(jit_compile=True)`) for speed.

    Args:
      spins: `+-1` `Tensor` of shape `[chains] + event_shape`.
      num_sweeps: Python `int` >= 1.
      seed: a stateless seed.
      name: Python `str` name scope.

    Returns:
      The spins after `num_sweeps` sweeps.

    Raises:
      NotImplementedError: for a torus of odd side.
    """
    with tf.name_scope(self.name), tf.name_scope(name):
      return spin_metropolis.metropolis_sweeps(
          self._operator, self._convert_field(spins, 'spins'), num_sweeps,
          seed)

  def sample_by_metropolis(self, num_samples, num_sweeps, seed,
                           name='sample_by_metropolis'):
    """Draws of `pi` through Ising spins: Metropolis, then `sample_fields`.

    Each draw is the final state of its own spin Metropolis chain,
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
      NotImplementedError: for a torus of odd side.
    """
    spin_metropolis.check_metropolis_supported(self._operator)
    with tf.name_scope(self.name), tf.name_scope(name):
      start_seed, sweep_seed, field_seed = tfp.random.split_seed(seed, n=3)
      spins = self.random_spins(num_samples, start_seed)
      spins = self.metropolis_sweeps(spins, num_sweeps, sweep_seed)
      return self.sample_fields(spins, field_seed)

  def local_kernel(self, num_sweeps=1, name=None):
    """An exact `pi`-invariant `tfp.mcmc.TransitionKernel` on fields `x`.

    `x -> s ~ p(s | x) -> num_sweeps` Metropolis sweeps `-> x ~ pi(x | s)`
    (`tfp_nrg.targets.DualSpinMetropolis`): the local kernel for
    `tfp_nrg.mcmc.GlobalLocal`.

    Args:
      num_sweeps: Python `int` >= 1.
      name: Python `str` name prefixed to ops.

    Raises:
      NotImplementedError: for a torus of odd side; run
        `tfp.mcmc.HamiltonianMonteCarlo` on `x` instead.
    """
    return spin_kernel.DualSpinMetropolis(self, num_sweeps, name=name)

  def random_spins(self, num_chains, seed):
    """Independent uniform `+-1` spins, `[num_chains] + event_shape`."""
    return spin_metropolis.random_spins(self._operator, num_chains, seed)

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
      return -self._operator.bond_sum(self._convert_field(spins, 'spins'))

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
