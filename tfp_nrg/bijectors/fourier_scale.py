"""A learnable translation-invariant linear map of periodic `[L, L]` fields."""

import numpy as np
import tensorflow as tf

from tfp_nrg.bijectors import one_pass
from tfp_nrg.internal import checks

__all__ = ['FourierScale']


def _reflect(spectrum):
  """`spectrum[-k]` for a `[L, L]` spectrum in `numpy.fft.fft2`'s layout."""
  # Reversing maps index i to L - 1 - i; rolling by one more gives -i mod L.
  return tf.roll(tf.reverse(spectrum, axis=[0, 1]), shift=[1, 1], axis=[0, 1])


class FourierScale(one_pass.OnePassBijector):
  """`x = F^{-1} diag(exp(s_k)) F u`: a periodic convolution, learned in k.

  On the periodic `L x L` lattice every translation-invariant linear map is a
  convolution, diagonal in Fourier space. This bijector scales each Fourier
  mode `k` of its input by `exp(s_k)`, with a learnable log-spectrum `s` kept
  even, `s_k = s_{-k}` (stored unconstrained and symmetrized), so that the
  map is real and symmetric:

  ```none
  x = irfft2(exp(s) * rfft2(u)),     ln |det dx/du| = sum_k s_k.
  ```

  It is linear, hence odd (`g(-u) = -g(u)`), and it starts as the identity
  (`s = 0`). The free field, `ln pi(phi) = -phi^T (m2 + (-Lap)) phi`, is a
  Gaussian with a circulant covariance `C`; the spectrum
  `exp(s_k) = C_k^{1/2}` makes this bijector over a standard normal exactly
  `pi`. Placed at the data side of a NeuralRG flow
  (`neural_rg(fourier_scale=True)`), it carries the Gaussian, long-range part
  of the target's correlations and leaves the local, non-Gaussian part to the
  couplings.

  Example:

  ```python
  scale = tfp_nrg.bijectors.FourierScale(16)
  u = tf.random.normal([4, 16, 16])
  x, log_det = scale.forward(u), scale.forward_log_det_jacobian(u, 2)
  scale.log_spectrum                      # the symmetrized `s`, [16, 16]
  ```
  """

  def __init__(self, lattice_size, *, initial_log_spectrum=None,
               dtype=tf.float32, validate_args=False, name='fourier_scale'):
    """Builds the bijector.

    Args:
      lattice_size: Python `int` L >= 2.
      initial_log_spectrum: optional `[L, L]` array, the starting `s`
        (symmetrized if it is not even); default zeros, the identity.
      dtype: `tf.float32` or `tf.float64`.
      validate_args: Python `bool`.
      name: Python `str`.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    parameters = dict(locals())
    self._lattice_size = checks.check_lattice_size(lattice_size, minimum=2)
    dtype = checks.check_float_dtype(dtype)
    shape = [self._lattice_size] * 2
    if initial_log_spectrum is None:
      initial_log_spectrum = tf.zeros(shape, dtype)
    initial_log_spectrum = tf.convert_to_tensor(initial_log_spectrum, dtype)
    # exp(+-s) of every mode, and the field it scales, must stay finite.
    bound = 0.25 * np.log(np.finfo(dtype.as_numpy_dtype).max)
    if initial_log_spectrum.shape != shape or (
        tf.executing_eagerly() and
        not tf.reduce_all(tf.abs(initial_log_spectrum) < bound)):
      raise ValueError('`initial_log_spectrum` must be finite and below {:.1f} '
                       'in magnitude, of shape {}; got {}.'.format(
                           bound, shape, initial_log_spectrum))
    with tf.name_scope(name) as name:
      self._raw_log_spectrum = tf.Variable(initial_log_spectrum,
                                           name='log_spectrum')
      super().__init__(forward_min_event_ndims=2, dtype=dtype,
                       validate_args=validate_args, parameters=parameters,
                       name=name)

  @property
  def lattice_size(self):
    return self._lattice_size

  @property
  def raw_log_spectrum(self):
    """The variable behind `log_spectrum` (symmetrized when read)."""
    return self._raw_log_spectrum

  @property
  def log_spectrum(self):
    """The even log-spectrum `s`, `[L, L]` in `numpy.fft.fft2`'s layout."""
    raw = tf.convert_to_tensor(self._raw_log_spectrum)
    return 0.5 * (raw + _reflect(raw))

  def _scale(self, field, sign):
    field = checks.static_lattice_event(field, self._lattice_size, self.name)
    log_spectrum = self.log_spectrum
    half = log_spectrum[:, :self._lattice_size // 2 + 1]
    factor = tf.exp(sign * half)
    scaled = tf.signal.irfft2d(
        tf.signal.rfft2d(field) * tf.complex(factor, tf.zeros_like(factor)),
        fft_length=[self._lattice_size] * 2)
    log_det = sign * tf.reduce_sum(log_spectrum)
    return scaled, tf.fill(tf.shape(field)[:-2], log_det)

  def forward_and_log_det(self, u):
    return self._scale(u, 1.)

  def inverse_and_log_det(self, x):
    return self._scale(x, -1.)
