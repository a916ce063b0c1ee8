r"""Scalar phi^4 theory on a periodic L x L lattice, an unnormalized target.

The action, in the convention of Albergo, Kanwar & Shanahan (PRD 100,
034515 (2019)):

```none
S(phi) = sum_x [m2 phi_x^2 + lam phi_x^4] + sum_{x, mu} (phi_{x+mu} - phi_x)^2,
ln pi(phi) = -S(phi)                                        (unnormalized),
```

with `mu` the two lattice directions. `lam >= 0`; with `lam > 0` any `m2` is
allowed (`m2 < 0`: a double well, the Z2-broken phase for small `lam`); the
free field (`lam = 0`) needs `m2 > 0`. Its action is the quadratic form
`phi^T A phi`, `A = m2 + 2 sum_mu (1 - cos p_mu)` in momentum space (the
lattice Laplacian's eigenvalues), so

```none
ln Z = N/2 ln(pi) - 1/2 sum_p ln(m2 + 4 sin^2(p_1/2) + 4 sin^2(p_2/2)),
p_mu = 2 pi k_mu / L,
```

which `exact_log_normalizer` returns.

Example:

```python
target = tfp_nrg.targets.Phi4(lattice_size=8, m2=-4., lam=6.975)
phi = tf.random.normal([16, 8, 8])
target.log_prob(phi)                       # shape [16]
tfp_nrg.targets.Phi4(16, m2=0.5, lam=0.).exact_log_normalizer()
```
"""

import math

import numpy as np
import tensorflow as tf

from tfp_nrg import lattice
from tfp_nrg.internal import checks

__all__ = ['Phi4']


class Phi4(tf.Module):
  """Lattice phi^4 theory in two dimensions: `ln pi(phi) = -S(phi)`.

  A batch-shaped unnormalized log-density over fields of event shape
  `[L, L]`, for `tfp.mcmc` kernels (e.g. `HamiltonianMonteCarlo`) and for
  variational training of a flow.
  """

  def __init__(self, lattice_size, m2, lam, dtype=tf.float32,
               validate_args=False, name='Phi4'):
    """The theory on the `L x L` torus.

    Args:
      lattice_size: Python `int` L >= 4.
      m2: finite real, the bare mass squared.
      lam: finite real >= 0, the quartic coupling. Either may be an array
        (or a `Tensor` with a known value): a batch of theories, of the
        broadcast shape of the two; `log_prob` of fields of shape
        `[..., *batch_shape, L, L]` is then `[..., *batch_shape]`.
      dtype: `tf.float32` or `tf.float64`.
      validate_args: Python `bool`; if `True`, `log_prob` also checks at run
        time that its input is finite.
      name: Python `str` name of the module.

    Raises:
      TypeError, ValueError: on malformed arguments, or parameters without a
        normalizable density (`lam < 0`, or `lam = 0` with `m2 <= 0`),
        naming the argument.
    """
    super().__init__(name=name)
    self._lattice_size = checks.check_lattice_size(lattice_size)
    self._m2 = checks.check_parameter(m2, 'm2')
    self._lam = checks.check_parameter(lam, 'lam')
    self._batch_shape = tf.TensorShape(np.broadcast_shapes(
        np.shape(self._m2), np.shape(self._lam)))
    if np.any(np.asarray(self._lam) < 0.):
      raise ValueError('`lam` must be non-negative (the action is unbounded '
                       'below otherwise); got {}.'.format(self._lam))
    if np.any((np.asarray(self._lam) == 0.) & (np.asarray(self._m2) <= 0.)):
      raise ValueError('`m2` must be positive for the free field (lam = 0), '
                       'or the density is not normalizable; got {}.'.format(
                           self._m2))
    self._dtype = checks.check_float_dtype(dtype)
    largest = float(np.finfo(self._dtype.as_numpy_dtype).max)
    for name, value in (('m2', self._m2), ('lam', self._lam)):
      if np.max(np.abs(value)) > largest:
        raise ValueError('`{}` = {} does not fit in {} (at most {:.3g} in '
                         'magnitude).'.format(name, value, self._dtype.name,
                                              largest))
    self._validate_args = validate_args

  @property
  def lattice_size(self):
    return self._lattice_size

  @property
  def m2(self):
    """The bare mass squared: a Python float, or a numpy array."""
    return self._m2

  @property
  def lam(self):
    """The quartic coupling: a Python float, or a numpy array."""
    return self._lam

  @property
  def batch_shape(self):
    """The broadcast shape of `m2` and `lam`, `[]` for one theory."""
    return self._batch_shape

  def _site_parameter(self, value):
    """`value` as a constant that broadcasts over `batch + [L, L]`."""
    return tf.constant(np.expand_dims(value, (-2, -1)), self._dtype)

  @property
  def dtype(self):
    return self._dtype

  @property
  def event_shape(self):
    return tf.TensorShape([self._lattice_size] * 2)

  @property
  def num_sites(self):
    return self._lattice_size**2

  @property
  def validate_args(self):
    return self._validate_args

  def action(self, phi, name='action'):
    """`S(phi)` of each field; `phi` of shape `batch_shape + [L, L]`."""
    with tf.name_scope(self.name), tf.name_scope(name):
      phi = checks.check_field(phi, self._dtype, self.event_shape,
                               self._validate_args, 'phi')
      phi2 = phi * phi
      kinetic = sum((lattice.roll(phi, -1, axis) - phi)**2
                    for axis in (-2, -1))
      # (m2 + lam phi^2) phi^2, not m2 phi^2 + lam phi^4: a finite sum where
      # a large m2 or lam would overflow one term in float32.
      density = (self._site_parameter(self._m2) +
                 self._site_parameter(self._lam) * phi2) * phi2 + kinetic
      return tf.reduce_sum(density, axis=[-2, -1])

  def log_prob(self, phi, name='log_prob'):
    """Unnormalized `ln pi(phi) = -S(phi)`, shape `batch_shape`."""
    return -self.action(phi, name=name)

  def exact_log_normalizer(self):
    """`ln Z` of the free field (`lam = 0`), from the Laplacian's spectrum.

    Returns:
      A Python float, or a numpy array over `batch_shape`.

    Raises:
      NotImplementedError: for `lam > 0`, where no closed form exists.
    """
    if np.any(np.asarray(self._lam) != 0.):
      raise NotImplementedError(
          'ln Z is known in closed form for the free field only (lam = 0); '
          'this target has lam = {}.'.format(self._lam))
    momenta = 2. * np.pi * np.arange(self._lattice_size) / self._lattice_size
    laplacian = 4. * np.sin(momenta / 2.)**2
    m2 = np.broadcast_to(self._m2, self._batch_shape)
    eigenvalues = (np.expand_dims(m2, (-2, -1)) + laplacian[:, None] +
                   laplacian[None, :])
    log_z = (self.num_sites / 2. * math.log(math.pi) -
             0.5 * np.sum(np.log(eigenvalues), axis=(-2, -1)))
    return float(log_z) if np.ndim(log_z) == 0 else log_z

  def magnetization(self, phi):
    """The field's mean over sites, `m = sum_x phi_x / N`, per field."""
    return tf.reduce_mean(phi, axis=[-2, -1])
